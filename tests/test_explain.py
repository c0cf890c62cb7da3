"""Feature maps and saliency: shapes, and that they react to the input."""
import pytest
import torch

from mnistnet.explain import feature_layers, feature_maps, saliency
from mnistnet.models import build_model


def digit(col: int) -> torch.Tensor:
    x = torch.full((1, 1, 28, 28), -0.42)
    x[..., 6:22, col:col + 3] = 2.8
    return x


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_model("net").eval()


def test_feature_layers_and_shapes(net):
    layers = feature_layers(net)
    assert layers[0] == "Conv2d-1" and "MaxPool2d-10" in layers and "Conv2d-36" not in layers
    assert feature_maps(net, digit(12), "Conv2d-1").shape == (10, 26, 26)
    assert feature_maps(net, digit(12), "MaxPool2d-10").shape == (10, 12, 12)
    assert feature_maps(net, digit(12), "BatchNorm2d-34").shape == (16, 4, 4)
    with pytest.raises(ValueError, match="no layer 'Conv2d-99'"):
        feature_maps(net, digit(12), "Conv2d-99")


def test_feature_maps_follow_the_input(net):
    a, b = feature_maps(net, digit(6), "Conv2d-1"), feature_maps(net, digit(18), "Conv2d-1")
    # a vertical stroke moved 12 px to the right moves the response with it
    assert a.abs().sum(dim=(0, 1)).argmax() < b.abs().sum(dim=(0, 1)).argmax()


def test_saliency_shape_range_and_reaction(net):
    s, target = saliency(net, digit(12))
    assert s.shape == (28, 28) and 0 <= target <= 9
    assert float(s.min()) >= 0 and float(s.max()) == pytest.approx(1.0)
    s2, _ = saliency(net, digit(12), target=(target + 1) % 10)
    assert not torch.allclose(s, s2)
    s3, _ = saliency(net, digit(4), target=target)
    assert not torch.allclose(s, s3)
