"""The benchmark scripts run on a tiny setting (they are never run for their figures in the test suite)."""
import subprocess
import sys

from conftest import ROOT


def bench(*args, timeout=300):
    out = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_throughput_bench_prints_both_sides_and_the_ratio(mnist_root):
    out = bench("bench/throughput.py", "--images", 1024, "--repeat", 1, "--workers", 0)
    assert "| training, batch 128 |" in out and "| evaluation |" in out and out.count("x |") == 2


def test_time_to_accuracy_bench_runs(mnist_root):
    out = bench("bench/time_to_accuracy.py", "--skip-seed", "--seeds", 1, "--subset", 512, "--recipe", "quick")
    assert "mnistnet quick" in out and "reached 99.4% in" in out


def test_latency_bench_runs():
    out = bench("bench/latency.py", "--n", 20)
    assert "| mnistnet (crop, 20 px, centre of mass) |" in out and "| naive resize (baseline) |" in out


def test_presets_bench_runs(mnist_root):
    out = bench("bench/presets.py", "--models", "gap", "--epochs", 1, "--subset", 512, "--set", "batch_size=64",
                "--threads", 1)
    assert "| gap | 6,650 | 1 |" in out and "recipe fast, 1 epochs, batch_size=64" in out
    assert "gap: best >= 99.5% with each of the last 3 epochs >= 99.4% in 0 of 1 seeds" in out
