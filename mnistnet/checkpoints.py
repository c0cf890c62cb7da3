"""Checkpoints: weights plus metadata in one file, written atomically, read without unpickling code."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import DEFAULT_MODEL, MODELS, build_model, count_parameters

FORMAT = "mnistnet-checkpoint"
VERSION = 1
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit its model."""


@dataclass
class Checkpoint:
    model: nn.Module
    meta: dict[str, Any]
    path: Path


def versions() -> dict[str, str]:
    import numpy
    import torchvision
    return {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, model_name: str, **meta: Any) -> Path:
    """Write weights and metadata to path atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model_name, "parameters": count_parameters(model), "versions": versions(),
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **meta}
    # plain JSON types only, so that weights_only loading accepts the metadata
    meta = json.loads(json.dumps(meta, default=str))
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, "meta": meta, "state_dict": state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint into its model (in eval mode); CheckpointError says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable mnistnet checkpoint "
                              f"(corrupt, truncated or another format): {type(exc).__name__}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mnistnet checkpoint (no '{FORMAT}' header)")
    meta, state = blob.get("meta") or {}, blob.get("state_dict")
    name = meta.get("model")
    if name not in MODELS:
        raise CheckpointError(f"{path} names model {name!r}, which this version does not know "
                              f"(known: {', '.join(MODELS)})")
    model = build_model(name)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: the weights do not fit model {name!r}: {exc}") from exc
    return Checkpoint(model=model.to(device).eval(), meta=meta, path=path)


def shipped_checkpoints() -> list[Path]:
    """The trained checkpoints that ship with the app: the default model's (net.pt) first, the others in name order."""
    return sorted(SHIPPED_DIR.glob("*.pt"), key=lambda p: (p.stem != DEFAULT_MODEL, p.stem))
