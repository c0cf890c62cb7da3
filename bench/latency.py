"""Draw-path latency: a 400x400 sketch -> 28x28 -> probabilities, p50/p99 per image; and the app's cold start.

    python bench/latency.py [--n 300] [--checkpoint checkpoints/net.pt] [--cold-start]

The baseline is the usual demo path (PIL: grayscale, resize the whole canvas to 28x28, invert), measured in the
same run; it is faster but wrong for thin or off-centre strokes, which is why mnistnet crops and centres.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from mnistnet.checkpoints import load_checkpoint, shipped_checkpoints  # noqa: E402
from mnistnet.data import normalize  # noqa: E402
from mnistnet.predict import classify  # noqa: E402


def sketch() -> dict:
    """A '7' as gr.Sketchpad delivers it: dark ink on a transparent 400x400 RGBA layer."""
    im = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.line([(110, 90), (290, 90), (180, 330)], fill=(20, 20, 20, 255), width=18, joint="curve")
    arr = np.asarray(im)
    return {"background": None, "layers": [arr], "composite": arr}


def naive(model: torch.nn.Module, value: dict) -> np.ndarray:
    im = Image.fromarray(value["composite"]).getchannel("A").resize((28, 28), Image.BILINEAR)
    x = normalize(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255))[None, None]
    with torch.inference_mode():
        return model(x).exp()[0].numpy()


def percentiles(times: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[98]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start() -> None:
    """Seconds from `python app.py` to the page served, and to the first classification answered."""
    from gradio_client import Client, handle_file  # noqa: F401
    import urllib.request
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("app did not start")
                time.sleep(0.1)
        served = time.perf_counter() - t0
        client = Client(url, verbose=False)
        value = sketch()
        Image.fromarray(value["composite"]).save("/tmp/mnistnet-latency-7.png")
        client.predict(handle_file("/tmp/mnistnet-latency-7.png"), "shipped:net", api_name="/classify_upload")
        first = time.perf_counter() - t0
        print(f"cold start: page served after {served:.1f} s, first classification answered after {first:.1f} s")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--cold-start", action="store_true", help="also time `python app.py` to its first answer")
    args = ap.parse_args()
    path = args.checkpoint or shipped_checkpoints()[0]
    model = load_checkpoint(path).model
    value = sketch()
    probs, _ = classify(model, value)
    print(f"{path}: the sketch reads as {max(probs, key=probs.get)}; naive path reads "
          f"{int(naive(model, value).argmax())}; torch {torch.get_num_threads()} threads")
    times = {"mnistnet": [], "naive": []}
    for _ in range(10):
        classify(model, value), naive(model, value)
    for _ in range(args.n):  # alternate, so that both see the same machine
        t = time.perf_counter()
        classify(model, value)
        times["mnistnet"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        naive(model, value)
        times["naive"].append((time.perf_counter() - t) * 1000)
    print(f"\n| Draw path, 400x400 sketch, {args.n} calls | p50 (ms) | p99 (ms) |\n|---|---:|---:|")
    for k, label in (("mnistnet", "mnistnet (crop, 20 px, centre of mass)"), ("naive", "naive resize (baseline)")):
        p50, p99 = percentiles(times[k])
        print(f"| {label} | {p50:.2f} | {p99:.2f} |")
    if args.cold_start:
        cold_start()


if __name__ == "__main__":
    main()
