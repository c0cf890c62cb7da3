"""The engine: short runs on synthetic data, events, stop, divergence, config errors, checkpoints."""
import json
import math
from dataclasses import fields

import pytest
import torch

from mnistnet.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from mnistnet.models import build_model
from mnistnet.train import (RECIPES, BatchEvent, ConfigError, DoneEvent, EpochEvent, StartEvent, TrainConfig,
                            recipe, train)


def tiny(root, tmp_path, **kw):
    base = dict(data=str(root), runs_dir=str(tmp_path / "runs"), epochs=2, batch_size=50, lr=0.05,
                scheduler="onecycle", rotate=7.0, seed=0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def run(config, stop=None):
    return list(train(config, stop=stop))


def test_short_run_lowers_the_loss_and_reports_every_event(synthetic_mnist, tmp_path):
    events = run(tiny(synthetic_mnist, tmp_path, epochs=3))
    start, done = events[0], events[-1]
    assert isinstance(start, StartEvent) and start.parameters == 8546 and start.batches_per_epoch == 20
    assert isinstance(done, DoneEvent) and done.status == "completed"
    batches = [e for e in events if isinstance(e, BatchEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(batches) == 60 and [e.epoch for e in epochs] == [1, 2, 3]
    assert [b.step for b in batches] == list(range(1, 61))
    for b in batches:
        assert math.isfinite(b.loss) and 0 <= b.train_acc <= 100 and b.lr > 0 and 1 <= b.batch <= b.batches
    for e in epochs:
        assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"} <= set(e.as_dict())
        assert e.seconds > 0 and not e.partial
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert sum(b.loss for b in batches[-10:]) < sum(b.loss for b in batches[:10])
    assert done.best_test_acc == max(e.test_acc for e in epochs) and done.best_test_acc > 50
    assert done.checkpoint.is_file() and len(done.history) == 3


def test_run_is_reproducible_from_its_seed(synthetic_mnist, tmp_path):
    a = [e.loss for e in run(tiny(synthetic_mnist, tmp_path, epochs=1)) if isinstance(e, BatchEvent)]
    b = [e.loss for e in run(tiny(synthetic_mnist, tmp_path, epochs=1)) if isinstance(e, BatchEvent)]
    assert a == b


def test_checkpoint_holds_the_best_weights_and_metadata(synthetic_mnist, tmp_path):
    done = run(tiny(synthetic_mnist, tmp_path, epochs=2))[-1]
    ckpt = load_checkpoint(done.checkpoint)
    meta = ckpt.meta
    assert meta["model"] == "net" and meta["parameters"] == 8546
    assert meta["best_test_acc"] == done.best_test_acc and meta["best_epoch"] == done.best_epoch
    assert meta["final_test_acc"] == done.final_test_acc and meta["status"] == "completed"
    assert len(meta["history"]) == 2 and meta["config"]["epochs"] == 2
    assert {"torch", "torchvision", "python"} <= set(meta["versions"]) and meta["saved_at"]
    run_json = json.loads((done.run_dir / "run.json").read_text())
    assert run_json["status"] == "completed" and len(run_json["history"]) == 2


def test_stop_mid_epoch_ends_cleanly_and_keeps_a_checkpoint(synthetic_mnist, tmp_path):
    seen = []

    def stop():
        return len(seen) >= 5

    events = []
    for ev in train(tiny(synthetic_mnist, tmp_path, epochs=5), stop=stop):
        events.append(ev)
        if isinstance(ev, BatchEvent):
            seen.append(ev)
    done = events[-1]
    assert done.status == "stopped" and "batch 5" in done.message
    assert len(seen) == 5
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(epochs) == 1 and epochs[0].partial
    assert load_checkpoint(done.checkpoint).meta["status"] == "stopped"


def test_diverging_run_ends_with_a_clear_message(synthetic_mnist, tmp_path):
    events = run(tiny(synthetic_mnist, tmp_path, epochs=2, scheduler="none", lr=10.0, momentum=0.99))
    done = events[-1]
    assert done.status == "diverged"
    assert "diverged" in done.message and "lower the learning rate" in done.message


def test_nan_loss_stops_the_run(synthetic_mnist, tmp_path, monkeypatch):
    import mnistnet.train as engine
    monkeypatch.setattr(engine, "smoothed_nll", lambda out, y, s: out.sum() * float("nan"))
    done = run(tiny(synthetic_mnist, tmp_path))[-1]
    assert done.status == "diverged" and "nan" in done.message and done.checkpoint is None


@pytest.mark.parametrize("field,value", [
    ("epochs", 0), ("epochs", 2.5), ("batch_size", 0), ("lr", 0), ("lr", float("nan")), ("momentum", 1.0),
    ("scheduler", "cosine"), ("rotate", -1), ("model", "resnet"), ("subset", 0), ("seed", -1),
    ("label_smoothing", 1.0), ("device", "tpu"),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field} must be"):
        TrainConfig(**{field: value}).validate()


def test_recipes_are_valid_and_seed_is_the_notebook():
    for name in RECIPES:
        recipe(name).validate()
    seed = recipe("seed")
    assert (seed.lr, seed.momentum, seed.batch_size, seed.rotate, seed.scheduler, seed.step_size, seed.gamma,
            seed.epochs) == (0.01, 0.9, 128, 7.0, "step", 6, 0.5, 15)
    with pytest.raises(ConfigError, match="unknown recipe"):
        recipe("nope")
    with pytest.raises(ConfigError, match="unknown config field"):
        recipe("seed", learning_rate=1)
    assert {f.name for f in fields(TrainConfig)} >= {"model", "epochs", "batch_size", "lr", "scheduler", "seed"}


def test_checkpoint_round_trip(tmp_path):
    model = build_model("net")
    path = save_checkpoint(tmp_path / "m.pt", model, "net", note="hello")
    ckpt = load_checkpoint(path)
    assert ckpt.meta["note"] == "hello" and not ckpt.model.training
    for a, b in zip(model.state_dict().values(), ckpt.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("net"), "net")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable mnistnet checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    model = build_model("net")
    path = save_checkpoint(tmp_path / "m.pt", model, "net")
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["convblock1.0.weight"] = torch.zeros(3, 1, 3, 3)
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not fit model 'net'"):
        load_checkpoint(tmp_path / "bad.pt")
    blob["meta"]["model"] = "alexnet"
    torch.save(blob, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="names model 'alexnet'"):
        load_checkpoint(tmp_path / "unknown.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mnistnet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_never_unpickles_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"format": "mnistnet-checkpoint", "meta": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")
