"""The command line, run as a user would: python -m mnistnet ..."""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import ROOT

SHIPPED = ROOT / "checkpoints" / "net.pt"


def cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "mnistnet", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def shipped():
    assert SHIPPED.is_file(), f"the shipped checkpoint {SHIPPED} is missing"
    return SHIPPED


def test_summary_prints_the_table_and_total():
    out = cli("summary")
    assert out.returncode == 0, out.stderr
    assert "Total params: 8,546" in out.stdout and "Conv2d-36" in out.stdout
    assert "Receptive field at the output: 28 px" in out.stdout


def test_train_runs_and_saves(synthetic_mnist, tmp_path):
    out = cli("train", "--data", synthetic_mnist, "--epochs", 1, "--batch-size", 100, "--runs-dir", tmp_path,
              "--out", tmp_path / "m.pt", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "EPOCH: 1" in out.stdout and "Test set: Average loss:" in out.stdout and "/200 (" in out.stdout
    assert "completed" in out.stdout and (tmp_path / "m.pt").is_file()


def test_bad_values_and_missing_data_are_clear_errors(tmp_path):
    out = cli("train", "--lr", "-1")
    assert out.returncode == 2 and "lr must be a number in (0, 10]" in out.stderr and "Traceback" not in out.stderr
    out = cli("train", "--data", tmp_path / "nothing", "--epochs", 1)
    assert out.returncode == 2 and "MNIST not found under" in out.stderr and "Traceback" not in out.stderr
    out = cli("evaluate", tmp_path / "missing.pt")
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_evaluate_the_shipped_checkpoint(mnist_root):
    out = cli("evaluate", shipped(), "--data", mnist_root, "--history")
    assert out.returncode == 0, out.stderr
    assert "/10000 (" in out.stdout and "per class:" in out.stdout
    assert "| epoch | train loss" in out.stdout and "| 1 |" in out.stdout
    assert out.stdout.count("images)") == 10


def test_predict_a_png(mnist_root, tmp_path):
    from mnistnet.data import load_mnist
    x, y = load_mnist(False, mnist_root, download=False)
    paths, labels = [], []
    for i in range(5):
        # dark ink on white paper, scaled up, as a user's scan or drawing would be
        img = Image.fromarray(255 - x[i].numpy()).resize((140, 140), Image.BILINEAR)
        paths.append(tmp_path / f"digit{i}.png")
        img.save(paths[-1])
        labels.append(int(y[i]))
    Image.fromarray(np.full((50, 50), 255, np.uint8)).save(tmp_path / "blank.png")
    out = cli("predict", *paths, tmp_path / "blank.png", "--checkpoint", shipped())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert [int(line.split(": ")[1].split()[0]) for line in lines[:5]] == labels
    assert "no digit found" in lines[5]


def test_predict_unreadable_image(tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    out = cli("predict", tmp_path / "bad.png", "--checkpoint", shipped())
    assert out.returncode == 2 and "cannot read image" in out.stderr
