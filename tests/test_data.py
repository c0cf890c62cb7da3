"""MNIST loading (real and synthetic), the clear error when it is missing, and batch augmentation."""
import pytest
import torch

from mnistnet.data import MNIST_MEAN, MNIST_STD, Batches, MNISTNotFoundError, augment_batch, load_mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_loads_with_known_facts(mnist_root):
    x, y = load_mnist(True, mnist_root, download=False)
    assert x.shape == (60000, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == TRAIN_COUNTS
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    xf = x.float() / 255
    assert abs(xf.mean().item() - MNIST_MEAN) < 1e-4 and abs(xf.std().item() - MNIST_STD) < 1e-4
    tx, ty = load_mnist(False, mnist_root, download=False)
    assert tx.shape == (10000, 28, 28)
    assert torch.bincount(ty).tolist() == TEST_COUNTS
    assert ty[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_synthetic_idx_files_load(synthetic_mnist):
    x, y = load_mnist(True, synthetic_mnist, download=False)
    assert x.shape == (1000, 28, 28) and len(y) == 1000 and int(y.max()) <= 9
    assert load_mnist(False, synthetic_mnist, download=False)[0].shape == (200, 28, 28)


def test_data_root_comes_from_the_environment(synthetic_mnist, monkeypatch):
    monkeypatch.setenv("MNISTNET_DATA", str(synthetic_mnist))
    assert load_mnist(False, download=False)[0].shape == (200, 28, 28)


def test_missing_data_gives_an_actionable_error(tmp_path):
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(True, tmp_path / "nowhere", download=False)
    msg = str(info.value)
    assert str((tmp_path / "nowhere").resolve()) in msg
    assert "MNIST/raw" in msg and "MNISTNET_DATA" in msg and "train-images-idx3-ubyte" in msg


def test_failed_download_is_reported(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(MNISTNotFoundError, match="download failed: OSError: network is unreachable"):
        load_mnist(True, tmp_path, download=True)


def _digit_batch(n=16):
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 4:24, 13:15] = 1.0  # a vertical bar: rotation moves its pixels
    return x


def test_augmentation_keeps_shape_dtype_and_range():
    x = _digit_batch()
    out = augment_batch(x, torch.Generator().manual_seed(0), rotate=7, shift=0.1, scale=0.1)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1


def test_augmentation_is_deterministic_by_seed_and_rotates():
    x = _digit_batch()
    a = augment_batch(x, torch.Generator().manual_seed(3), rotate=7)
    b = augment_batch(x, torch.Generator().manual_seed(3), rotate=7)
    c = augment_batch(x, torch.Generator().manual_seed(4), rotate=7)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert (a - x).abs().amax(dim=(1, 2, 3)).min() > 0.05  # every image moved
    assert augment_batch(x, torch.Generator(), rotate=0) is x


def test_rotation_preserves_ink_mass_roughly():
    x = _digit_batch()
    out = augment_batch(x, torch.Generator().manual_seed(0), rotate=7)
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert ((ratio > 0.9) & (ratio < 1.1)).all()


def test_batches_reshuffle_each_epoch_and_cover_the_split():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1).expand(100, 28, 28).contiguous()
    labels = torch.arange(100)
    b = Batches(images, labels, 32, shuffle=True, seed=0)
    e1 = torch.cat([y for _, y in b])
    e2 = torch.cat([y for _, y in b])
    assert sorted(e1.tolist()) == list(range(100)) and len(b) == 4
    assert e1.tolist() != e2.tolist()
    x, _ = next(iter(Batches(images, labels, 8)))
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    torch.testing.assert_close(x[0].mean(), torch.tensor((0 - MNIST_MEAN) / MNIST_STD))
