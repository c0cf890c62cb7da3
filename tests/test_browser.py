"""The app in a real browser: Playwright drives Debian's Chromium (never a downloaded one).

Draws digits with mouse strokes and reads the label and what the network sees; starts a tiny training and watches
the plots change; finds the runs listed, and deletes one.
Screenshots go to pytest's tmp folder. To regenerate the ones under docs/ (on real MNIST, a bigger run):

    MNISTNET_DATA=/path/to/data MNISTNET_SCREENSHOTS=docs .venv/bin/pytest tests/test_browser.py
"""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from mnistnet.checkpoints import SHIPPED_DIR
from test_app_api import serve, shutdown

CHROMIUM = os.environ.get("MNISTNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = os.environ.get("MNISTNET_SCREENSHOTS")   # a folder (docs) to write the tab screenshots into
# (train images, test images, epochs, batch size): tiny for the test; for docs, enough to mean something
RUN = (6000, 2000, 3, 64) if SCREENSHOTS else (300, 100, 2, 32)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        msg = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MNISTNET_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(synthetic_mnist: Path, tmp_path_factory: pytest.TempPathFactory):
    if SCREENSHOTS and not os.environ.get("MNISTNET_DATA"):
        pytest.fail("MNISTNET_SCREENSHOTS needs the real MNIST: set MNISTNET_DATA")
    data = Path(os.environ["MNISTNET_DATA"]) if SCREENSHOTS else synthetic_mnist
    tmp = tmp_path_factory.mktemp("browser")
    proc, url = serve(data, tmp / "runs", tmp / "app.log")
    yield url
    shutdown(proc)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot in tmp_path (and in $MNISTNET_SCREENSHOTS), reduced to a small palette PNG."""
    path = tmp_path / f"{name}.png"
    for close in page.locator(".toast-close").all():   # notices would cover the plots
        close.click()
    page.wait_for_function("() => !document.querySelector('.toast-close')", timeout=5000)
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOTS) / f"{name}.png")
    return path


def stroke(page, points: list[tuple[float, float]]) -> None:
    """One pen stroke through the points (page coordinates), with a few steps in between."""
    # few: headless Chromium renders the canvas in software, and each mouse move costs a frame
    page.mouse.move(*points[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 30))
        for i in range(1, steps + 1):
            page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
    page.mouse.up()


def prediction(page) -> str:
    """The label the Draw tab shows on top (the most likely digit, or 'draw a digit')."""
    heading = page.locator("#prediction [data-testid=label-output-value]")
    return heading.inner_text().strip() if heading.count() else ""


def wait_for_prediction(page, expected: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and prediction(page) != expected:
        time.sleep(0.2)
    return prediction(page)


def test_draw_digits_with_the_mouse(page, app_url, tmp_path):
    if not (SHIPPED_DIR / "net.pt").is_file():
        pytest.fail(f"the shipped checkpoint {SHIPPED_DIR / 'net.pt'} is missing; the Draw tab defaults to it")
    page.goto(app_url)
    page.get_by_role("tab", name="Draw").click()
    pad = page.locator("#sketchpad")
    pad.locator("canvas").first.wait_for()
    assert "shipped" in page.locator("#draw-model input").input_value()
    assert prediction(page) == "draw a digit"
    # the pen is ready: no "select the draw tool" step for the visitor
    page.wait_for_function("() => !document.querySelector('#sketchpad .empty.wrap')", timeout=5000)
    box = pad.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    s = 0.26 * min(box["width"], box["height"])  # the digit's half-height, well inside the 280x280 canvas

    stroke(page, [(cx - 0.55 * s, cy - s), (cx + 0.55 * s, cy - s), (cx - 0.1 * s, cy + s)])  # a 7
    assert wait_for_prediction(page, "7") == "7"
    seen = page.locator("#model-input img")
    assert seen.count() == 1
    # what the network sees: computed when the section opens, for the drawing already there
    page.get_by_text("What the network sees").click()
    page.locator("#feature-maps img").wait_for(timeout=15000)
    page.locator("#saliency img").wait_for(timeout=15000)
    assert "ReLU-12" in page.locator("#explain-layer input").input_value()
    page.get_by_text("score of 7").wait_for(timeout=5000)
    assert page.get_by_role("tab", name="Draw").count() == 1, "each tab once in the tab bar"
    save_screenshot(page, tmp_path, "draw")

    page.locator("#draw-clear").click()
    assert wait_for_prediction(page, "draw a digit") == "draw a digit"
    page.wait_for_function("() => !document.querySelector('#sketchpad .empty.wrap')", timeout=5000)
    ring = [(cx + 0.6 * s * math.sin(a / 16 * 2 * math.pi), cy - s * math.cos(a / 16 * 2 * math.pi))
            for a in range(17)]
    stroke(page, ring)  # a 0
    assert wait_for_prediction(page, "0") == "0"


def test_train_a_tiny_run_and_watch_the_plots(page, app_url, tmp_path):
    train_images, test_images, epochs, batch = RUN
    page.goto(app_url)
    page.locator("#train-start").wait_for()
    page.get_by_text("Quick runs: fewer images").click()
    for label, value in [("Train images", train_images), ("Test images", test_images), ("Batch size", batch)]:
        field = page.get_by_label(label)
        field.fill(str(value))
        field.press("Tab")
    epochs_box = page.get_by_label("number input for Epochs")
    epochs_box.fill(str(epochs))
    epochs_box.press("Tab")
    # record every picture the live plots show, however briefly
    page.evaluate("""() => {
        window.plotSrcs = {loss: [], acc: []};
        for (const [id, key] of [['#loss-plot', 'loss'], ['#acc-plot', 'acc']]) {
            const el = document.querySelector(id);
            const seen = window.plotSrcs[key];
            const note = () => { const img = el.querySelector('img');
                                 if (img && img.src !== seen.at(-1)) seen.push(img.src); };
            note();
            new MutationObserver(note).observe(el, {subtree: true, childList: true, attributes: true});
        }
    }""")
    page.locator("#train-start").click()
    progress = page.locator("#train-progress .mn-progress")
    page.wait_for_function("() => document.querySelector('#train-progress .mn-progress')?.dataset.state"
                           " === 'running'", timeout=30000)
    assert page.locator("#train-stop").is_enabled()
    page.wait_for_function("() => document.querySelector('#train-progress .mn-progress')?.dataset.state"
                           " === 'completed'", timeout=240000 if SCREENSHOTS else 60000)
    page.locator("#confusion-plot img").wait_for(timeout=30000)
    page.locator("#errors-plot img").wait_for(timeout=30000)
    srcs = page.evaluate("() => window.plotSrcs")
    assert len(set(srcs["loss"])) >= 3, "the loss plot should change as the run goes"
    assert len(set(srcs["acc"])) >= 3, "the accuracy plot should change at each epoch"
    assert page.locator("#epoch-table [role=grid]").get_attribute("aria-rowcount") == str(epochs + 1)  # + header
    assert "completed" in progress.inner_text().lower() or progress.get_attribute("data-state") == "completed"
    page.wait_for_function("() => document.querySelector('#train-stop').disabled", timeout=10000)
    assert page.locator("#train-start").is_enabled()
    save_screenshot(page, tmp_path, "train")
    # the run's checkpoint is in the Draw tab's list at once, and selected
    page.get_by_role("tab", name="Draw").click()
    assert page.locator("#draw-model input").input_value().startswith("run ")


def test_runs_tab_lists_the_shipped_run_and_deletes_a_trained_one(page, app_url, tmp_path):
    page.goto(app_url)
    page.get_by_role("tab", name="Runs").click()
    table = page.locator("#runs-table")
    table.get_by_text("shipped:net").wait_for(timeout=15000)
    page.locator("#runs-plot img").wait_for(timeout=15000)
    assert "completed · shipped" in table.inner_text()
    save_screenshot(page, tmp_path, "runs")
    trained = table.locator("[role=row]").filter(has_not_text="shipped").filter(has_not_text="preset")
    if not trained.count():   # the Train test did not run before this one: nothing to delete
        return
    cells = trained.first.locator("[role=gridcell]")
    run_id = cells.last.inner_text().strip()
    cells.first.click()         # a click on its row picks it for deletion
    page.wait_for_function(f"() => document.querySelector('#runs-target input').value.startsWith('{run_id}')",
                           timeout=5000)
    page.once("dialog", lambda dialog: dialog.accept())  # the page asks before deleting
    page.locator("#runs-delete").click()
    page.locator("#runs-message").get_by_text(f"Deleted run {run_id}").wait_for(timeout=15000)
    assert run_id not in table.inner_text()


def test_architecture_tab(page, app_url, tmp_path):
    page.goto(app_url)
    page.get_by_role("tab", name="Architecture").click()
    table = page.locator("#layer-table")
    table.wait_for()
    assert "receptive field at the output: 28 px" in page.get_by_text("Total params").inner_text()
    rows = int(table.locator("[role=grid]").get_attribute("aria-rowcount")) - 1
    assert rows > 10
    save_screenshot(page, tmp_path, "architecture")
