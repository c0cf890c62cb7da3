"""The Draw path: any drawing or picture -> the 28x28 image MNIST would have had -> the right digit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from mnistnet.checkpoints import SHIPPED_DIR, load_checkpoint
from mnistnet.predict import classify, ink_map, to_mnist

SHIPPED = SHIPPED_DIR / "net.pt"


def canvas(size=(280, 280), ink=0, paper=255, mode="L"):
    """A blank canvas and a pen to draw on it."""
    im = Image.new(mode, size, paper)
    return im, ImageDraw.Draw(im)


def one(size=(280, 280), at=(140, 140), height=200, width=18, ink=0, paper=255):
    """A vertical stroke: a '1'."""
    im, d = canvas(size, ink, paper)
    x, y = at
    d.line([(x, y - height // 2), (x, y + height // 2)], fill=ink, width=width)
    return im


def zero(size=(280, 280), at=(140, 140), rx=60, ry=95, width=18, ink=0, paper=255):
    """An ellipse: a '0'."""
    im, d = canvas(size, ink, paper)
    x, y = at
    d.ellipse([x - rx, y - ry, x + rx, y + ry], outline=ink, width=width)
    return im


def box_and_centre(img28: np.ndarray) -> tuple[int, int, float, float]:
    """Height and width of the ink's bounding box, and its centre of mass (row, col)."""
    rows = np.flatnonzero((img28 > 0.15).any(axis=1))
    cols = np.flatnonzero((img28 > 0.15).any(axis=0))
    total = img28.sum()
    cy = (img28.sum(axis=1) * np.arange(28)).sum() / total
    cx = (img28.sum(axis=0) * np.arange(28)).sum() / total
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, cy, cx


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation of two 28x28 images over shifts of up to one pixel (rounding may move a digit by one)."""
    best = -1.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            best = max(best, float(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]))
    return best


def assert_mnist_like(img28: np.ndarray | None) -> None:
    """28x28 in [0, 1], white on black, longer side 20 px, centre of mass at (14, 14) within a pixel."""
    assert img28 is not None
    assert img28.shape == (28, 28) and img28.dtype == np.float32
    assert 0.0 <= img28.min() and img28.max() == pytest.approx(1.0, abs=1e-4)
    assert img28[0].max() == img28[-1].max() == img28[:, 0].max() == img28[:, -1].max() == 0  # black border
    h, w, cy, cx = box_and_centre(img28)
    assert max(h, w) in (20, 21), (h, w)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx)


def test_a_one_is_tall_thin_and_centred():
    img = to_mnist(one())
    assert_mnist_like(img)
    h, w, _, _ = box_and_centre(img)
    assert h >= 19 and w <= 4   # the aspect ratio is kept: a 1 is not stretched into a blob


def test_a_zero_keeps_its_aspect_and_hole():
    img = to_mnist(zero())
    assert_mnist_like(img)
    h, w, _, _ = box_and_centre(img)
    assert h >= 19 and 10 <= w <= 15
    assert img[14, 14] < 0.05   # the hole stays a hole


@pytest.mark.parametrize("make", [one, zero])
def test_off_centre_drawings_land_in_the_same_place(make):
    centred = to_mnist(make())
    corner = to_mnist(make(at=(60, 100)) if make is zero else make(at=(30, 110)))
    assert_mnist_like(corner)
    np.testing.assert_allclose(corner, centred, atol=0.02)


def test_a_large_canvas_with_a_small_digit():
    img = to_mnist(zero(size=(3000, 2000), at=(2500, 400), rx=45, ry=70, width=14))
    assert_mnist_like(img)
    assert similarity(img, to_mnist(zero(rx=45, ry=70, width=14))) > 0.9


def test_a_thin_stroke_on_a_big_canvas_survives():
    img = to_mnist(one(size=(2400, 2400), at=(1200, 1200), height=1600, width=3))
    assert_mnist_like(img)


@pytest.mark.parametrize("make", [one, zero])
def test_inverted_colours_give_the_same_image(make):
    dark_on_light = to_mnist(make())
    light_on_dark = to_mnist(make(ink=255, paper=0))
    assert_mnist_like(light_on_dark)
    np.testing.assert_allclose(light_on_dark, dark_on_light, atol=1e-6)


def test_sketchpad_value_with_ink_on_a_transparent_layer():
    """What gr.Sketchpad sends: {'background', 'layers', 'composite'} with RGBA arrays, ink in alpha."""
    alpha = np.asarray(zero(ink=255, paper=0))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = alpha                                  # black ink (RGB 0) over transparent paper
    value = {"background": None, "layers": [rgba], "composite": rgba}
    np.testing.assert_allclose(to_mnist(value), to_mnist(zero()), atol=1e-6)
    assert to_mnist({"background": None, "layers": [rgba], "composite": None}) is not None


@pytest.mark.parametrize("mode", ["1", "P", "LA", "RGBA", "I;16", "I", "F", "CMYK", "RGB"])
def test_uploads_in_any_pillow_mode(mode):
    ref = to_mnist(zero())
    im = zero()
    if mode == "LA":
        im = Image.merge("LA", [im, Image.new("L", im.size, 255)])
    elif mode == "I;16":
        im = Image.fromarray(np.asarray(im).astype(np.uint16) * 257)
    else:
        im = im.convert(mode)
    np.testing.assert_allclose(to_mnist(im), ref, atol=0.02)


def test_a_transparent_png_with_white_ink(tmp_path):
    rgba = np.zeros((300, 200, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = np.asarray(one(size=(200, 300), at=(100, 150), ink=255, paper=0))
    path = tmp_path / "white_on_clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    with Image.open(path) as im:
        assert_mnist_like(to_mnist(im))
    assert_mnist_like(to_mnist(str(path)))


def test_a_photo_of_paper_with_shading_and_grain():
    rng = np.random.default_rng(0)
    ink = np.asarray(zero(size=(640, 480), at=(300, 250), ink=255, paper=0)).astype(np.float32) / 255
    yy, xx = np.mgrid[0:480, 0:640] / 640.0
    paper = 0.55 + 0.35 * yy + 0.1 * xx                 # light falling off across the sheet
    photo = paper * (1 - 0.7 * ink) + rng.normal(0, 0.03, paper.shape)
    rgb = np.stack([photo * 1.0, photo * 0.95, photo * 0.85], axis=-1)   # warm light
    img = to_mnist((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    assert_mnist_like(img)
    assert img[14, 14] < 0.1


@pytest.mark.parametrize("blank", [
    np.full((280, 280, 4), 0, np.uint8),            # an untouched sketchpad: transparent
    np.full((280, 280, 3), 255, np.uint8),          # white paper
    np.full((100, 100), 7, np.uint8),               # black paper
    None,
    {"background": None, "layers": [], "composite": None},
])
def test_an_empty_canvas_is_no_digit(blank):
    assert to_mnist(blank) is None
    assert classify(torch.nn.Identity(), blank) == (None, None)


def test_ink_map_rejects_what_is_not_an_image():
    with pytest.raises(ValueError, match="expected a grayscale, RGB or RGBA image"):
        ink_map(np.zeros((5, 5, 2)))


# ---------------------------------------------------------------- real digits through the whole Draw path

@pytest.fixture(scope="module")
def shipped_model():
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped checkpoint {SHIPPED} is missing: train it (python -m mnistnet train "
                    f"--out {SHIPPED}) or check it out from git")
    return load_checkpoint(SHIPPED).model


@pytest.fixture
def one_thread():
    """Batch-1 inference gains nothing from threads, and on a busy machine they cost a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def digits_on_canvas(images: np.ndarray, seed: int, photo: bool = False):
    """Each 28x28 digit scaled up to a random size, at a random place on a 400x400 canvas, dark ink on light."""
    rng = np.random.default_rng(seed)
    for digit in images:
        side = int(rng.integers(84, 393))
        big = Image.fromarray(digit).resize((side, side), Image.BILINEAR)
        ink = np.zeros((400, 400), np.float32)
        top, left = rng.integers(0, 400 - side + 1, size=2)
        ink[top:top + side, left:left + side] = np.asarray(big, np.float32) / 255
        if photo:
            paper = 0.6 + 0.3 * np.linspace(0, 1, 400)[:, None] + 0.05 * np.linspace(0, 1, 400)[None]
            gray = paper * (1 - 0.75 * ink) + rng.normal(0, 0.03, ink.shape)
        else:
            gray = 1 - ink
        rgb = np.repeat((np.clip(gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)
        # what the sketchpad sends: an RGBA composite
        yield {"background": None, "layers": [], "composite": np.dstack([rgb, np.full((400, 400), 255, np.uint8)])}


def draw_path_accuracy(model, images, labels, seed, photo=False) -> float:
    right = 0
    for value, label in zip(digits_on_canvas(images, seed, photo), labels):
        probs, img28 = classify(model, value)
        assert img28 is not None
        right += max(probs, key=probs.get) == str(int(label))
    return 100.0 * right / len(labels)


def test_real_digits_drawn_large_anywhere_are_read_right(mnist_root, shipped_model, one_thread):
    from mnistnet.data import load_mnist
    x, y = load_mnist(False, mnist_root, download=False)
    pick = np.random.default_rng(3).choice(len(y), 1000, replace=False)
    acc = draw_path_accuracy(shipped_model, x.numpy()[pick], y.numpy()[pick], seed=4)
    assert acc >= 98.0, f"only {acc:.1f}% of 1,000 real test digits read right through the Draw path"


def test_real_digits_photographed_on_shaded_paper(mnist_root, shipped_model, one_thread):
    from mnistnet.data import load_mnist
    x, y = load_mnist(False, mnist_root, download=False)
    pick = np.random.default_rng(5).choice(len(y), 200, replace=False)
    acc = draw_path_accuracy(shipped_model, x.numpy()[pick], y.numpy()[pick], seed=6, photo=True)
    assert acc >= 93.0, f"only {acc:.1f}% of 200 photographed digits read right"
