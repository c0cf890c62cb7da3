"""The app through its API: app.py served on 127.0.0.1, driven with gradio_client on synthetic MNIST."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mnistnet.models import NOTES

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.utils import Status  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "net.pt"
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data: Path, runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start app.py the way a Space does (GRADIO_SERVER_* settings) and wait until it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "MNISTNET_DATA": str(data), "MNISTNET_RUNS": str(runs),
           "OMP_NUM_THREADS": "1"}   # tiny runs; threads would only fight the machine's other work
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"app.py did not answer on {url} within {STARTUP_SECONDS}s:\n{log.read_text()}")


def shutdown(proc: subprocess.Popen) -> None:
    """Stop a served app, killing it if it does not exit within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def app_url(synthetic_mnist: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("app")
    proc, url = serve(synthetic_mnist, tmp / "runs", tmp / "app.log")
    yield url
    shutdown(proc)


def client(url: str) -> Client:
    """A new visitor: each Client is its own session."""
    return Client(url, verbose=False)


def progress_state(outputs: tuple) -> str | None:
    """The run state written into the progress bar's HTML (running, completed, stopped, ...)."""
    text = outputs[0] if isinstance(outputs[0], str) else ""
    marker = 'data-state="'
    return text.split(marker, 1)[1].split('"', 1)[0] if marker in text else None


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def train_args(epochs: int, batch_size: int, subset: int, test_subset: int) -> list:
    # recipe, model, epochs, batch size, lr, scheduler, rotation, seed, train images, test images
    return ["seed", "net", epochs, batch_size, 0.05, "onecycle", 0, 1, subset, test_subset]


def digit_png(path: Path) -> Path:
    im = Image.new("RGB", (300, 300), "white")
    ImageDraw.Draw(im).line([(150, 40), (150, 260)], fill="black", width=24)
    im.save(path)
    return path


def test_the_api_lists_the_endpoints(app_url):
    names = set(client(app_url).view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/train", "/stop", "/classify", "/classify_upload", "/layer_table", "/recipe", "/runs", "/delete_run",
            "/explain"} <= names


def test_layer_table_with_receptive_fields(app_url):
    text, notes, table, plot = client(app_url).predict("net", api_name="/layer_table")
    assert "8,546" in text and "28 px" in text
    # the preset's notes: an update that also shows or hides them
    assert notes["value"] == (NOTES.get("net") or "") and notes["visible"] == bool(NOTES.get("net"))
    headers, rows = table["headers"], table["data"]
    assert headers[headers.index("RF")] == "RF" and "jump" in headers and "kernel" in headers
    rf = [r[headers.index("RF")] for r in rows]
    assert rf == sorted(rf) and rf[-1] == 28
    assert sum(r[headers.index("params")] for r in rows) == 8546
    assert plot is not None


def test_recipe_fills_the_controls(app_url):
    values = client(app_url).predict("seed", api_name="/recipe")
    assert list(values[:7]) == ["net", 15, 128, 0.01, "step", 7.0, 1]


def test_an_invalid_setting_is_a_message_not_a_traceback(app_url):
    with pytest.raises(Exception) as err:
        client(app_url).predict(*train_args(epochs=31, batch_size=64, subset=100, test_subset=50),
                                api_name="/train")
    assert "maximum value 30" in str(err.value) and "Traceback" not in str(err.value)   # the slider's own check
    with pytest.raises(Exception, match="Invalid setting: lr must be a number in"):
        client(app_url).predict("seed", "net", 1, 64, -1, "step", 0, 1, 100, 50, api_name="/train")
    with pytest.raises(Exception, match="Invalid setting: batch size is empty"):
        client(app_url).predict("seed", "net", 1, None, 0.01, "step", 0, 1, 100, 50, api_name="/train")


def test_training_streams_queues_stops_per_visitor_and_feeds_the_draw_tab(app_url, tmp_path):
    alice, bob = client(app_url), client(app_url)
    # Alice starts a long run and it streams progress
    long_run = alice.submit(*train_args(epochs=30, batch_size=8, subset=1000, test_subset=100), api_name="/train")
    wait_for(lambda: any(progress_state(o) == "running" and "Epoch 1/30" in o[0] for o in long_run.outputs()),
             40, "Alice's first batches")
    # Bob's run waits in the queue, with its position known, while Alice's trains
    short_run = bob.submit(*train_args(epochs=1, batch_size=32, subset=300, test_subset=100), api_name="/train")
    queued = wait_for(lambda: (s := short_run.status()).code == Status.IN_QUEUE and s.rank is not None and s,
                      20, "Bob's run to be queued")
    assert queued.rank == 0
    # classifying keeps working meanwhile, for anyone
    if SHIPPED.is_file():
        t0 = time.monotonic()
        label, _ = client(app_url).predict(handle_file(str(digit_png(tmp_path / "one.png"))), "shipped:net",
                                           api_name="/classify_upload")
        assert label["label"] == "1" and time.monotonic() - t0 < 15
        assert not long_run.done()
    # Bob pressing Stop stops nothing of Alice's
    bob.predict(api_name="/stop")
    seen = len(long_run.outputs())
    wait_for(lambda: len(long_run.outputs()) > seen + 1, 20, "Alice's run to keep going")
    assert not long_run.done()
    # Alice's Stop ends her run after the batch, with a checkpoint that the Draw tab offers
    alice.predict(api_name="/stop")
    wait_for(long_run.done, 30, "Alice's run to stop")
    last = long_run.outputs()[-1]
    assert progress_state(last) == "stopped"
    assert "run:" in str(last[6])
    # then Bob's run trains, streaming several updates, and completes with the test-set views
    wait_for(short_run.done, 40, "Bob's run to finish")
    outputs = short_run.outputs()
    states = [progress_state(o) for o in outputs]
    assert states[-1] == "completed" and len(outputs) >= 4, states
    assert "Loading MNIST" in outputs[0][0]
    final = outputs[-1]
    table = next(o[3] for o in reversed(outputs) if isinstance(o[3], dict) and o[3].get("data"))
    assert [row[0] for row in table["data"]] == [1]
    assert final[4] and final[5], "the confusion matrix and the misclassified digits are shown"
    dropdown = final[6]
    key = dropdown["value"]
    assert key.startswith("run:") and key in [v for _, v in dropdown["choices"]]
    # the new checkpoint classifies at once, drawn or uploaded; an empty canvas asks for a digit
    png = digit_png(tmp_path / "one.png")
    label, seen_image = bob.predict({"background": None, "layers": [], "composite": handle_file(str(png))}, key,
                                    api_name="/classify")
    assert len(label["confidences"]) == 3 and label["label"] in "0123456789"
    assert Image.open(seen_image).size == (224, 224)
    label, _ = bob.predict(handle_file(str(png)), key, api_name="/classify_upload")
    assert len(label["confidences"]) == 3
    blank = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    blank.save(tmp_path / "blank.png")
    label, seen_image = bob.predict({"background": None, "layers": [],
                                     "composite": handle_file(str(tmp_path / "blank.png"))}, key,
                                    api_name="/classify")
    assert label["label"] == "draw a digit" and seen_image is None
    # a model choice that is not a checkpoint the app offers is refused, not loaded from anywhere
    with pytest.raises(Exception):
        bob.predict(handle_file(str(png)), "run:../../etc", api_name="/classify_upload")
