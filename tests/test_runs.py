"""Run folders: written by every run, listed, bounded, deleted; the shipped runs are listed and protected."""
import json

import pytest

from mnistnet.runs import delete_run, list_runs, prune_runs
from mnistnet.train import DoneEvent, TrainConfig, train


def quick_run(root, runs, seed=0, **kw):
    config = TrainConfig(data=str(root), runs_dir=str(runs), epochs=1, batch_size=100, seed=seed, device="cpu", **kw)
    return [e for e in train(config) if isinstance(e, DoneEvent)][0]


def test_a_run_writes_its_folder_and_is_listed(synthetic_mnist, tmp_path):
    done = quick_run(synthetic_mnist, tmp_path)
    summary = json.loads((done.run_dir / "run.json").read_text())
    assert summary["config"]["epochs"] == 1 and summary["parameters"] == 8546 and summary["status"] == "completed"
    assert (done.run_dir / "model.pt").is_file()
    runs = list_runs(tmp_path, include_shipped=False)
    assert [r.id for r in runs] == [done.run_dir.name]
    r = runs[0]
    assert r.model == "net" and r.best_test_acc == done.best_test_acc and len(r.history) == 1
    assert r.checkpoint == done.checkpoint and not r.shipped and r.seconds > 0


def test_runs_are_bounded_oldest_first(synthetic_mnist, tmp_path):
    ids = [quick_run(synthetic_mnist, tmp_path, seed=s, keep_runs=2, subset=200).run_dir.name for s in range(3)]
    kept = sorted(r.id for r in list_runs(tmp_path, include_shipped=False))
    assert kept == sorted(ids[1:])
    assert prune_runs(tmp_path, keep=1) == [min(ids[1:])]


def test_delete_a_run_but_never_a_shipped_one_or_a_stranger(synthetic_mnist, tmp_path):
    done = quick_run(synthetic_mnist, tmp_path, subset=200)
    with pytest.raises(FileNotFoundError):
        delete_run("../etc", tmp_path)
    with pytest.raises(PermissionError, match="shipped"):
        delete_run("shipped:net", tmp_path)
    delete_run(done.run_dir.name, tmp_path)
    assert not done.run_dir.exists() and list_runs(tmp_path, include_shipped=False) == []


def test_shipped_checkpoints_are_listed_as_runs(tmp_path):
    shipped = [r for r in list_runs(tmp_path) if r.shipped]
    assert any(r.id == "shipped:net" for r in shipped), "checkpoints/net.pt should be listed"
    net = next(r for r in shipped if r.id == "shipped:net")
    assert net.parameters == 8546 and net.best_test_acc >= 99.4 and net.first_epoch_at_target is not None
    # the lean preset ships beside it, after it: at most 8,000 parameters, 99.5% at its best epoch
    assert [r.id for r in shipped] == ["shipped:net", "shipped:lean"], "net first, then lean"
    lean = shipped[1]
    assert lean.model == "lean" and lean.parameters == 7880 <= 8000 and lean.best_test_acc >= 99.5
