"""Run folders: every training run keeps its config, history, metrics and checkpoint; the oldest are pruned."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoints import CheckpointError, load_checkpoint, shipped_checkpoints

DEFAULT_KEEP = 20       # run folders kept per runs folder; the shipped checkpoints do not count
TARGET_ACC = 99.4


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The runs folder: the explicit path, else $MNISTNET_RUNS, else ./runs."""
    return Path(explicit or os.environ.get("MNISTNET_RUNS") or "runs")


@dataclass
class Run:
    id: str                          # folder name, or "shipped:<file>" for a shipped checkpoint
    model: str
    parameters: int | None
    status: str
    best_test_acc: float | None
    first_epoch_at_target: int | None
    seconds: float | None
    history: list[dict[str, Any]]
    config: dict[str, Any]
    checkpoint: Path | None
    shipped: bool = False

    @property
    def label(self) -> str:
        acc = f"{self.best_test_acc:.2f}%" if self.best_test_acc is not None else "-"
        return f"{'[shipped] ' if self.shipped else ''}{self.id} ({self.model}, {acc})"


def _first_at(history: list[dict[str, Any]], target: float) -> int | None:
    return next((h["epoch"] for h in history if h.get("test_acc", 0) >= target and not h.get("partial")), None)


def _from_summary(run_id: str, summary: dict[str, Any], checkpoint: Path | None, shipped: bool) -> Run:
    history = summary.get("history") or []
    config = summary.get("config") or {}
    return Run(id=run_id, model=config.get("model") or summary.get("model", "?"),
               parameters=summary.get("parameters"), status=summary.get("status", "?"),
               best_test_acc=summary.get("best_test_acc"), first_epoch_at_target=_first_at(history, TARGET_ACC),
               seconds=summary.get("seconds"), history=history, config=config, checkpoint=checkpoint,
               shipped=shipped)


def list_runs(folder: str | os.PathLike | None = None, include_shipped: bool = True) -> list[Run]:
    """The shipped checkpoints first, then the runs in the folder, newest first; unreadable folders are skipped."""
    runs: list[Run] = []
    if include_shipped:
        for path in shipped_checkpoints():
            try:
                meta = load_checkpoint(path).meta
            except CheckpointError:
                continue
            runs.append(_from_summary(f"shipped:{path.stem}", meta, path, shipped=True))
    folder = runs_dir(folder)
    if folder.is_dir():
        for d in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
            try:
                summary = json.loads((d / "run.json").read_text())
            except (OSError, ValueError):
                continue
            ckpt = Path(summary["checkpoint"]) if summary.get("checkpoint") else None
            runs.append(_from_summary(d.name, summary, ckpt if ckpt and ckpt.is_file() else None, shipped=False))
    return runs


def delete_run(run_id: str, folder: str | os.PathLike | None = None) -> None:
    """Delete one run folder; the shipped runs and anything outside the runs folder cannot be deleted."""
    if run_id.startswith("shipped:"):
        raise PermissionError(f"{run_id} is a shipped checkpoint and cannot be deleted")
    folder = runs_dir(folder).resolve()
    target = (folder / run_id).resolve()
    if target.parent != folder or not (target / "run.json").is_file():
        raise FileNotFoundError(f"no run {run_id!r} in {folder}")
    shutil.rmtree(target)


def prune_runs(folder: str | os.PathLike | None = None, keep: int = DEFAULT_KEEP) -> list[str]:
    """Remove the oldest run folders beyond `keep` (by their time-stamped names); return the removed ids."""
    folder = runs_dir(folder)
    if not folder.is_dir():
        return []
    dirs = sorted((p for p in folder.iterdir() if p.is_dir() and (p / "run.json").is_file()), key=lambda p: p.name)
    removed = []
    for d in dirs[:max(0, len(dirs) - keep)]:
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d.name)
    return removed
