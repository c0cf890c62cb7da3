"""The Gradio app: Train with live curves, Architecture with receptive fields, Runs compared, Draw to classify.

A thin face: every handler calls the engine (train, summary, checkpoints, predict) and formats the result.
This is the only module that imports gradio.
"""
from __future__ import annotations

import copy
import functools
import html
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from . import plots
from .checkpoints import Checkpoint, CheckpointError, load_checkpoint, shipped_checkpoints
from .data import MNISTNotFoundError, data_root, load_mnist
from .explain import feature_layers, feature_maps, saliency
from .models import DEFAULT_MODEL, MODELS, NOTES, build_model
from .predict import classify, model_input, to_mnist
from .runs import TARGET_ACC, Run, delete_run, list_runs, runs_dir
from .summary import layer_table, totals
from .train import (DEFAULT_RECIPE, RECIPES, SCHEDULERS, BatchEvent, ConfigError, DoneEvent, EpochEvent,
                    StartEvent, TrainConfig, evaluate, recipe, train)

log = logging.getLogger("mnistnet.ui")

EPOCHS_MIN, EPOCHS_MAX = 1, 30
UPDATE_SECONDS = 1.0        # live curves refresh at most this often (and at every epoch's end)
CURVE_POINTS_PER_EPOCH = 25  # the train-loss curve averages batches into about this many points per epoch
RUNS_LISTED = 30            # newest runs offered in the Draw tab
RUNS_PLOTTED = 8            # at most this many runs are drawn on the Runs tab's plot by default
SCHEDULER_LABELS = {"step": "StepLR (the seed's)", "onecycle": "OneCycle", "none": "constant"}
# The fields the Train tab shows; the chosen recipe supplies every other TrainConfig field.
CONTROL_FIELDS = ("model", "epochs", "batch_size", "lr", "scheduler", "rotate", "seed", "subset", "test_subset")
EPOCH_HEADERS = ["epoch", "train loss", "train acc %", "test loss", "test acc %", "correct", "lr", "seconds", "note"]
LAYER_HEADERS = ["#", "layer", "module", "type", "output shape", "kernel", "stride", "padding", "RF", "jump", "params"]
RUN_HEADERS = ["preset", "parameters", "epochs", "test images", "best test acc %", f"first epoch ≥ {TARGET_ACC:.2f}%",
               "wall time", "status", "id"]
EMPTY_CANVAS = "draw a digit"
CSS = """
.mn-note {font-size: 0.9em; opacity: 0.8}
.mn-notes {border-left: 3px solid #f97316; padding-left: 12px}
#sketchpad .empty.wrap {display: none}
"""
# Gradio's sketchpad starts with no tool chosen ("select the draw tool to start"); a visitor should find the
# pen ready, so pick the brush (the first tool) whenever the canvas shows with no tool, e.g. after Clear.
JS = """
() => {
  setInterval(() => {
    const pad = document.querySelector('#sketchpad');
    if (!pad || pad.offsetParent === null || !pad.querySelector('.empty.wrap')) return;
    const brush = pad.querySelector('.toolbar-wrap button');
    if (brush) brush.click();
  }, 300);
}
"""


# ---------------------------------------------------------------- per-session stop flags

class StopFlags:
    """One stop flag per browser session, so that Stop (or closing the page) ends only that visitor's run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}
        self._running: set[str] = set()

    def arm(self, session: str) -> threading.Event:
        """A fresh flag for the run this session is about to queue."""
        with self._lock:
            flag = self._flags[session] = threading.Event()
            return flag

    def claim(self, session: str) -> threading.Event:
        """The flag armed for this session's run (Stop may already have set it while it queued), or a new one."""
        with self._lock:
            self._running.add(session)
            return self._flags.setdefault(session, threading.Event())

    def stop(self, session: str) -> str | None:
        """Set this session's flag: 'running' or 'queued' for the run it stops, None when there is none."""
        with self._lock:
            flag = self._flags.get(session)
            state = "running" if session in self._running else "queued"
        if flag is None:
            return None
        flag.set()
        return state

    def release(self, session: str, flag: threading.Event) -> None:
        """Forget the flag once its run is over."""
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]
                self._running.discard(session)


STOP_FLAGS = StopFlags()


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


# ---------------------------------------------------------------- checkpoints offered in the Draw tab

@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Checkpoint:
    return load_checkpoint(path)


def cached_checkpoint(path: Path) -> Checkpoint:
    """A loaded checkpoint, kept in memory until the file changes (keyed by modification time)."""
    return _load_cached(str(path), path.stat().st_mtime_ns)


def _choice_label(run: Run) -> str:
    acc = f"{run.best_test_acc:.2f}%" if run.best_test_acc is not None else "no score yet"
    test_n = run.config.get("test_subset")
    if test_n and run.best_test_acc is not None:
        acc += f" on {test_n:,} test images"
    if run.shipped:
        name = run.id.partition(":")[2]
        return f"{name} · shipped" + (f" · {run.model}" if run.model != name else "") + f" · {acc} test accuracy"
    status = "" if run.status == "completed" else f" · {run.status}"
    return f"run {run.id} · {run.model} · {acc}{status}"


def checkpoint_choices() -> list[tuple[str, str]]:
    """(label, key) for the shipped checkpoints, then the newest runs that saved a checkpoint."""
    runs = [r for r in list_runs(runs_dir()) if r.checkpoint is not None]
    shipped = [r for r in runs if r.shipped]
    trained = [r for r in runs if not r.shipped][:RUNS_LISTED]
    return [(_choice_label(r), r.id if r.shipped else f"run:{r.id}") for r in shipped + trained]


def checkpoint_path(key: str | None) -> Path:
    """The file behind a Draw-tab choice: a shipped checkpoint or a run folder's, never an arbitrary path."""
    kind, _, name = (key or "").partition(":")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"unknown model choice {key!r}")
    if kind == "shipped":
        path = next((p for p in shipped_checkpoints() if p.stem == name), None)
    elif kind == "run":
        path = runs_dir() / name / "model.pt"
    else:
        path = None
    if path is None or not path.is_file():
        raise CheckpointError(f"the checkpoint for {key!r} is not there (deleted, or never saved)")
    return path


def _run_key(checkpoint: Path) -> str:
    return f"run:{checkpoint.parent.name}"


def _draw_choices(current: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """The Draw tab's choices and its pick: the current one when it still exists, else the first."""
    choices = checkpoint_choices()
    keys = [k for _, k in choices]
    return choices, current if current in keys else (keys[0] if keys else None)


def models_dropdown(current: str | None = None) -> dict[str, Any]:
    """Fresh choices for the Draw tab's selector, keeping the current pick when it still exists."""
    choices, value = _draw_choices(current)
    return gr.Dropdown(choices=choices, value=value)


# ---------------------------------------------------------------- Draw tab

def _preview(img28: np.ndarray | None) -> np.ndarray | None:
    """The 28x28 model input, enlarged with hard pixel edges so that it reads as 28x28."""
    if img28 is None:
        return None
    return np.kron((img28 * 255).round().astype(np.uint8), np.ones((8, 8), dtype=np.uint8))


def _checkpoint(model_key: str) -> Checkpoint:
    try:
        return cached_checkpoint(checkpoint_path(model_key))
    except (CheckpointError, OSError) as exc:
        raise gr.Error(f"cannot load that model: {exc}") from None


def predict_digit(image: Any, model_key: str | None) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """The top-3 probabilities, the 28x28 image the model saw (enlarged, and as is for the session's state);
    'draw a digit' for an empty canvas."""
    if not model_key:
        return "no trained model yet: train one in the Train tab", None, None
    ckpt = _checkpoint(model_key)
    try:
        probs, img28 = classify(ckpt.model, image)
    except (ValueError, OSError) as exc:
        raise gr.Error(f"cannot read this image: {exc}") from None
    if probs is None:
        return EMPTY_CANVAS, None, None
    return probs, _preview(img28), img28


def predict_either(sketch: Any, upload: Any, model_key: str | None) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """After a change of model: classify the drawing if there is one, else the uploaded picture."""
    return predict_digit(sketch if _has_ink(sketch) else upload, model_key)


def _has_ink(image: Any) -> bool:
    try:
        return to_mnist(image) is not None
    except (ValueError, OSError):
        return False


# ---------------------------------------------------------------- Draw tab: what the network sees

@functools.lru_cache(maxsize=16)
def layer_choices(model_name: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """(label, layer) for the layers with feature maps, and the default: the first activation after the first
    pooling layer, where the maps show parts of strokes rather than edges (else the first layer)."""
    model = build_model(model_name)
    rows = {r["layer"]: r for r in layer_table(model)}
    names = feature_layers(model)
    choices = tuple((f"{n} · {rows[n]['name']} · {rows[n]['output_shape'][1]} maps of "
                     f"{rows[n]['output_shape'][2]}x{rows[n]['output_shape'][3]}", n) for n in names)
    pool = next((i for i, n in enumerate(names) if n.startswith("MaxPool")), None)
    after = names[pool + 1:] if pool is not None else []
    return choices, next((n for n in after if n.startswith("ReLU")), names[0])


@functools.lru_cache(maxsize=8)
def _explainer(path: str, mtime_ns: int) -> tuple[Any, threading.Lock]:
    """A private copy of a checkpoint's model for feature maps and saliency, with a lock: their hooks and
    gradients must not meet the classifying threads, which share the cached model."""
    model = copy.deepcopy(_load_cached(path, mtime_ns).model).eval()
    for p in model.parameters():
        p.requires_grad_(False)     # the saliency needs the input's gradient only
    return model, threading.Lock()


def explain_digit(img28: np.ndarray | None, model_key: str | None, layer: str | None) -> tuple[Any, ...]:
    """The layer selector for this model, the feature maps of the layer as a grid with a caption, and the
    saliency of the predicted class as a heatmap over the input with a caption."""
    if not model_key:
        return gr.skip(), None, "", None, ""
    ckpt = _checkpoint(model_key)
    choices, default = layer_choices(ckpt.meta["model"])
    layer = layer if layer in {v for _, v in choices} else default
    selector = gr.Dropdown(choices=list(choices), value=layer)
    if img28 is None:
        return selector, None, "Draw a digit to see the maps.", None, ""
    try:
        model, lock = _explainer(str(ckpt.path), ckpt.path.stat().st_mtime_ns)
    except OSError as exc:
        raise gr.Error(f"cannot load that model: {exc}") from None
    x = model_input(img28)
    with lock:
        maps = feature_maps(model, x, layer).numpy()
        sal, target = saliency(model, x)
    grid, key = plots.feature_grid(maps, tile=100)
    label = next(lbl for lbl, v in choices if v == layer)
    return (selector, grid, f"**{label}** · {key}", plots.saliency_overlay(img28, sal.numpy()),
            f"Where a change of ink would move the score of **{target}** (the prediction) most: "
            f"|∂ log p({target}) / ∂ pixel|, brightest = 1")


def explain_if_open(img28: np.ndarray | None, model_key: str | None, layer: str | None, shown: bool) -> tuple:
    """After each classification: the explanation when its section is open, else nothing (no cost)."""
    if not shown:
        return (gr.skip(),) * 5
    return explain_digit(img28, model_key, layer)


def show_explanation(img28: np.ndarray | None, model_key: str | None, layer: str | None) -> tuple:
    """The section opens: remember that for this session, and explain the current drawing."""
    return (True, *explain_digit(img28, model_key, layer))


# ---------------------------------------------------------------- Architecture tab

def _cell(v: Any) -> Any:
    return "" if v is None else v


def architecture(model_name: str) -> tuple[str, Any, list[list[Any]], Any]:
    """The description and totals, the preset's notes (target, result, analysis; hidden when it has none),
    the layer table with receptive fields, and the receptive-field plot."""
    text, notes, table, figure = _architecture(model_name)
    return text, gr.Markdown(notes, visible=bool(notes)), table, figure


def _architecture(model_name: str) -> tuple[str, str, list[list[Any]], Any]:
    if model_name not in MODELS:
        raise gr.Error(f"unknown model {model_name!r}; choose one of: {', '.join(MODELS)}")
    model = build_model(model_name)
    rows, tot = layer_table(model), totals(model)
    table = [[r["index"], r["layer"], r["name"], r["type"], str(list(r["output_shape"])), _cell(r["kernel"]),
              _cell(r["stride"]), _cell(r["padding"]), r["rf"], r["jump"], r["params"]] for r in rows]
    text = (f"**{model_name}**: {MODELS[model_name][1]}\n\n"
            f"Total params: **{tot['total']:,}** · trainable {tot['trainable']:,} · "
            f"non-trainable {tot['non_trainable']:,} · receptive field at the output: **{rows[-1]['rf']} px** "
            f"for a 28 px image · final jump {rows[-1]['jump']}")
    return text, NOTES.get(model_name) or "", table, plots.receptive_field_figure(rows, 28)


# ---------------------------------------------------------------- Runs tab

class LiveRuns:
    """The run folders this app is training into right now: they cannot be deleted under the trainer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[str] = set()

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids.add(run_id)

    def discard(self, run_id: str | None) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def __contains__(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._ids


LIVE_RUNS = LiveRuns()


def _run_name(run: Run) -> str:
    """A short name for the plot's legend and the selectors."""
    if run.shipped:
        return f"{run.id.partition(':')[2]} · shipped"
    test_n = run.config.get("test_subset")
    return f"{run.id} · {run.model}" + (f" · {test_n:,} test images" if test_n else "")


def _run_row(run: Run) -> list[Any]:
    epochs = sum(1 for h in run.history if not h.get("partial"))
    planned = run.config.get("epochs")
    status = run.status + (" · shipped" if run.shipped else "") + (" · training now" if run.id in LIVE_RUNS else "")
    return [run.model, run.parameters if run.parameters is not None else "",
            f"{epochs}/{planned}" if planned and planned != epochs else epochs,
            f"{run.config.get('test_subset') or 10000:,}",
            round(run.best_test_acc, 2) if run.best_test_acc is not None else "",
            run.first_epoch_at_target if run.first_epoch_at_target is not None else "",
            _clock(run.seconds) if run.seconds is not None else "", status, run.id]


def _curves(runs: list[Run], selected: list[str]) -> list[tuple[str, list[int], list[float]]]:
    by_id = {r.id: r for r in runs}
    out = []
    for run_id in selected:
        run = by_id.get(run_id)
        if run is None:
            continue
        points = [(h["epoch"], h["test_acc"]) for h in run.history if not h.get("partial") and "test_acc" in h]
        out.append((_run_name(run), [e for e, _ in points], [a for _, a in points]))
    return out


def _runs_outputs(runs: list[Run], selected: list[str], target: str | None) -> tuple[Any, ...]:
    """The table, the plot of the selected runs, the plot selector and the delete selector."""
    ids = [r.id for r in runs]
    choices = [(_run_name(r), r.id) for r in runs]
    selected = [i for i in selected if i in ids]
    return ([_run_row(r) for r in runs], plots.runs_figure(_curves(runs, selected)),
            gr.Dropdown(choices=choices, value=selected, multiselect=True),
            gr.Dropdown(choices=choices, value=target if target in ids else None))


def refresh_runs(selected: list[str] | None, target: str | None, known: list[str] | None) -> tuple[Any, ...]:
    """Re-read the runs: the table, the plot, both selectors, and the ids seen so far in this session.

    Runs new to this session join the plot (up to RUNS_PLOTTED lines in all); runs the visitor took off stay off.
    """
    runs = list_runs(runs_dir())
    ids = [r.id for r in runs]
    selected = [i for i in (selected or []) if i in ids]
    seen = set(known or [])
    for run_id in ids:       # shipped first, then newest first
        if run_id not in seen and run_id not in selected and len(selected) < RUNS_PLOTTED:
            selected.append(run_id)
    return (*_runs_outputs(runs, selected, target), ids)


def runs_plot(selected: list[str] | None) -> Any:
    """The plot alone, when the visitor picks other runs."""
    return plots.runs_figure(_curves(list_runs(runs_dir()), selected or []))


def pick_run(evt: gr.SelectData) -> Any:
    """A click on the table's row selects that run for deletion."""
    row = evt.row_value or []
    return gr.Dropdown(value=row[-1]) if row else gr.skip()


def delete_selected(target: str | None, selected: list[str] | None, draw_key: str | None) -> tuple[Any, ...]:
    """Delete one run (never a shipped one, nor one training now); the message, refreshed views, Draw's model."""
    skip = gr.skip()
    if not target:
        return ("No run deleted: pick one (or click its row in the table), press Delete run and confirm.",
                skip, skip, skip, skip, skip)
    if target in LIVE_RUNS:
        msg = f"Run {target} is still training; stop it in the Train tab first."
        gr.Warning(msg, duration=6)
        return msg, skip, skip, skip, skip, skip
    try:
        delete_run(target, runs_dir())
    except PermissionError:
        msg = (f"{target} is a checkpoint shipped with the app; it cannot be deleted. "
               "Only runs trained here (or with the CLI) can.")
        gr.Warning(msg, duration=6)
        return msg, skip, skip, skip, skip, skip
    except FileNotFoundError:
        msg = f"Run {target} is not there any more (deleted already?)."
        gr.Warning(msg, duration=6)
    else:
        msg = f"Deleted run {target}."
    choices, value = _draw_choices(draw_key)
    if draw_key == f"run:{target}":
        fallback = next((label for label, key in choices if key == value), None)
        msg += (f" It was the Draw tab's model; the Draw tab now uses {fallback}." if fallback
                else " It was the Draw tab's model; no other model is left there.")
    gr.Info(msg, duration=6)
    return (msg, *_runs_outputs(list_runs(runs_dir()), selected or [], None), gr.Dropdown(choices=choices, value=value))


# ---------------------------------------------------------------- Train tab

def recipe_names() -> list[str]:
    """The recipes, with 'quick' first when it exists (a short run suits a visitor on a shared CPU)."""
    names = list(RECIPES)
    if "quick" in names:
        names.remove("quick")
        names.insert(0, "quick")
    return names


def default_recipe() -> str:
    """The recipe the Train tab opens with: 'quick' when it exists, else the engine's default."""
    return "quick" if "quick" in RECIPES else DEFAULT_RECIPE


def _recipe_note(name: str) -> str:
    """What the recipe sets beyond the controls shown; the rest is the seed's."""
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in RECIPES[name].items() if k not in CONTROL_FIELDS)
    return f"Recipe **{name}**" + (f" also sets {extra}" if extra else "") + "; everything else is the seed's."


def recipe_values(name: str) -> list[Any]:
    """The control values of a recipe, in CONTROL_FIELDS order, then its note."""
    if name not in RECIPES:
        raise gr.Error(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    cfg = recipe(name)
    values = [getattr(cfg, f) for f in CONTROL_FIELDS]
    values[CONTROL_FIELDS.index("epochs")] = min(max(cfg.epochs, EPOCHS_MIN), EPOCHS_MAX)
    return values + [_recipe_note(name)]


def _whole(name: str, value: Any, empty_ok: bool = False) -> int | None:
    """A whole number from a form field, or ConfigError naming the field."""
    if value is None or value == "":
        if empty_ok:
            return None
        raise ConfigError(f"{name} is empty; enter a whole number")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or float(value) != int(value):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def make_config(recipe_name: str, model: str, epochs: Any, batch_size: Any, lr: Any, scheduler: str,
                rotate: Any, seed: Any, subset: Any = None, test_subset: Any = None) -> TrainConfig:
    """The TrainConfig for the form's values over the chosen recipe; ConfigError names a bad field."""
    if recipe_name not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe_name!r}")
    epochs = _whole("epochs", epochs)
    if not EPOCHS_MIN <= epochs <= EPOCHS_MAX:
        raise ConfigError(f"epochs must be between {EPOCHS_MIN} and {EPOCHS_MAX}, got {epochs}")
    if lr is None or rotate is None:
        raise ConfigError(f"{'learning rate' if lr is None else 'rotation'} is empty; enter a number")
    subset, test_subset = _whole("train images", subset, True), _whole("test images", test_subset, True)
    return recipe(recipe_name, model=model, epochs=epochs, batch_size=_whole("batch size", batch_size),
                  lr=float(lr), scheduler=scheduler, rotate=float(rotate), seed=_whole("seed", seed),
                  subset=subset or None, test_subset=test_subset or None, runs_dir=str(runs_dir())).validate()


def _clock(seconds: float) -> str:
    """m:ss, or h:mm:ss."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def progress_html(fraction: float, text: str, state: str = "running") -> str:
    """A progress bar with a line of text under it (inline styles: no stylesheet to ship)."""
    color = {"running": "#f97316", "completed": "#16a34a", "stopped": "#64748b", "diverged": "#dc2626",
             "idle": "#94a3b8"}.get(state, "#f97316")
    pct = 100.0 * min(max(fraction, 0.0), 1.0)
    return (f'<div class="mn-progress" data-state="{state}" data-fraction="{fraction:.4f}">'
            f'<div style="height:14px;border-radius:7px;background:rgba(148,163,184,0.25);overflow:hidden">'
            f'<div style="height:100%;width:{pct:.1f}%;background:{color};transition:width 0.4s"></div></div>'
            f'<div style="margin-top:6px;font-size:0.95em">{html.escape(text)}</div></div>')


IDLE_PROGRESS = progress_html(0.0, "Pick a recipe, adjust the settings, and press Start.", "idle")


@functools.lru_cache(maxsize=2)
def _test_set(root: str) -> tuple[Any, Any]:
    return load_mnist(False, root)


def _confusion_and_errors(checkpoint: Path, config: TrainConfig) -> tuple[Any, Any]:
    """Evaluate the saved checkpoint on the run's test set: the confusion matrix and misclassified digits."""
    test_x, test_y = _test_set(str(data_root(config.data).resolve()))
    if config.test_subset:
        test_x, test_y = test_x[:config.test_subset], test_y[:config.test_subset]
    preds = evaluate(cached_checkpoint(checkpoint).model, test_x, test_y)["preds"].numpy()
    labels = test_y.numpy()
    return plots.confusion_figure(labels, preds), plots.misclassified_figure(test_x.numpy(), labels, preds)


class _RunView:
    """What the Train tab shows of one run, gathered from the engine's events: curves, table, progress."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.pending: list[float] = []
        self.rows: list[list[Any]] = []
        self.ep: list[int] = []
        self.train_acc: list[float] = []
        self.test_acc: list[float] = []
        self.test_loss: list[float] = []
        self.test_images = 0
        self.total_steps = 1
        self.t0 = self.last = time.perf_counter()
        self.done: DoneEvent | None = None
        self.run_id: str | None = None    # the run folder, listed as training now until the run is over
        self.draining = False             # the page left; a thread finishes the run and then unlists it

    def loss_plot(self) -> Any:
        return plots.loss_figure(self.batch_x, self.batch_loss, self.ep, self.test_loss, self.config.epochs)

    def accuracy_plot(self) -> Any:
        return plots.accuracy_figure(self.ep, self.train_acc, self.test_acc, self.config.epochs)

    def loading(self) -> tuple:
        text = f"Loading MNIST from {data_root(self.config.data)} (downloaded on first use)..."
        return progress_html(0, text), self.loss_plot(), self.accuracy_plot(), [], None, None, gr.skip()

    def update(self, ev: Any) -> tuple | None:
        """The outputs to send for this event, or None when it is not yet time to refresh."""
        skip, now = gr.skip(), time.perf_counter()
        if isinstance(ev, StartEvent):
            self.run_id = ev.run_dir.name
            LIVE_RUNS.add(self.run_id)
            self.total_steps, self.test_images, self.t0 = ev.batches_per_epoch * self.config.epochs, ev.test_images, now
            text = (f"Training {self.config.model} ({ev.parameters:,} parameters) on {ev.device}: "
                    f"{ev.train_images:,} train and {ev.test_images:,} test images, {ev.batches_per_epoch} batches "
                    "per epoch.")
            return progress_html(0, text), skip, skip, skip, skip, skip, skip
        if isinstance(ev, BatchEvent):
            self._batch(ev)
            if now - self.last < UPDATE_SECONDS:
                return None
            self.last = now
            text = (f"Epoch {ev.epoch}/{self.config.epochs} · batch {ev.batch}/{ev.batches} · loss {ev.loss:.4f} · "
                    f"train acc {ev.train_acc:.2f}% · {self._times(ev.step)}")
            return progress_html(ev.step / self.total_steps, text), self.loss_plot(), skip, skip, skip, skip, skip
        if isinstance(ev, EpochEvent):
            self._epoch(ev)
            self.last = now
            step = ev.epoch * self.total_steps // self.config.epochs
            text = (f"Epoch {ev.epoch}/{self.config.epochs} done: test accuracy {ev.test_acc:.2f}%, "
                    f"test loss {ev.test_loss:.4f} · {self._times(step, left=ev.epoch < self.config.epochs)}")
            return (progress_html(step / self.total_steps, text), self.loss_plot(), self.accuracy_plot(), self.rows,
                    skip, skip, skip)
        if isinstance(ev, DoneEvent):
            self.done = ev
        return None

    def _times(self, step: int, left: bool = True) -> str:
        elapsed = time.perf_counter() - self.t0
        remaining = elapsed / max(step, 1) * (self.total_steps - step)
        return f"{_clock(elapsed)} elapsed" + (f" · about {_clock(remaining)} left" if left else "")

    def _batch(self, ev: BatchEvent) -> None:
        self.pending.append(ev.loss)
        every = max(1, ev.batches // CURVE_POINTS_PER_EPOCH)
        if len(self.pending) >= every or ev.batch == ev.batches:
            self.batch_x.append(ev.step / ev.batches)
            self.batch_loss.append(sum(self.pending) / len(self.pending))
            self.pending = []

    def _epoch(self, ev: EpochEvent) -> None:
        self.ep.append(ev.epoch)
        self.train_acc.append(ev.train_acc)
        self.test_acc.append(ev.test_acc)
        self.test_loss.append(ev.test_loss)
        correct = round(ev.test_acc * self.test_images / 100)
        note = ", ".join(n for n, on in (("best", ev.best), ("partial", ev.partial)) if on)
        self.rows.append([ev.epoch, round(ev.train_loss, 4), round(ev.train_acc, 2), round(ev.test_loss, 4),
                          round(ev.test_acc, 2), f"{correct}/{self.test_images}", f"{ev.lr:.4g}",
                          round(ev.seconds, 1), note])


def train_run(recipe_name: str, model: str, epochs: Any, batch_size: Any, lr: Any, scheduler: str, rotate: Any,
              seed: Any, subset: Any, test_subset: Any, request: gr.Request = None) -> Iterator[tuple]:
    """Train with the form's settings, streaming the progress, curves, table, test-set views and model list."""
    session = _session(request)
    flag = STOP_FLAGS.claim(session)
    try:
        try:
            config = make_config(recipe_name, model, epochs, batch_size, lr, scheduler, rotate, seed, subset,
                                 test_subset)
        except ConfigError as exc:
            raise gr.Error(f"Invalid setting: {exc}") from None
        if flag.is_set():
            yield progress_html(0, "Stopped before it started.", "stopped"), *[gr.skip()] * 6
            return
        view = _RunView(config)
        try:
            yield view.loading()
            yield from _stream(view, train(config, stop=flag.is_set), flag)
        finally:
            if not view.draining:
                LIVE_RUNS.discard(view.run_id)
        if view.done is not None:
            yield from _finish(view)
    finally:
        STOP_FLAGS.release(session, flag)


def _stream(view: _RunView, events: Iterator[Any], flag: threading.Event) -> Iterator[tuple]:
    """The engine's events as page updates; errors become messages, never tracebacks."""
    try:
        for ev in events:
            update = view.update(ev)
            if update is not None:
                yield update
    except GeneratorExit:
        # The visitor left and Gradio dropped this stream. Stop the run the proper way, so that its
        # checkpoint and run.json are final, in a thread: this may run on the server's event loop.
        flag.set()
        view.draining = True
        threading.Thread(target=_drain, args=(events, view.run_id), name="mnistnet-stop", daemon=True).start()
        raise
    except MNISTNotFoundError as exc:
        raise gr.Error(str(exc).replace("\n", " ")) from None
    except ConfigError as exc:
        raise gr.Error(f"Invalid setting: {exc}") from None
    except Exception as exc:  # the visitor gets a sentence; the server log keeps the traceback
        log.exception("training failed")
        raise gr.Error(f"Training failed: {type(exc).__name__}: {exc}") from None


def _drain(events: Iterator[Any], run_id: str | None) -> None:
    try:
        for _ in events:
            pass
    except Exception:
        log.exception("stopping an abandoned run failed")
    finally:
        LIVE_RUNS.discard(run_id)


def _finish(view: _RunView) -> Iterator[tuple]:
    """The run's last updates: outcome, then the confusion matrix, misclassified digits and model list."""
    skip, done, config = gr.skip(), view.done, view.config
    fraction = 1.0 if done.status == "completed" else (view.batch_x[-1] / config.epochs if view.batch_x else 0)
    text = f"Run {done.status} after {_clock(done.seconds)}: {done.message}."
    if done.checkpoint is None:
        yield progress_html(fraction, text + " No checkpoint was saved.", done.status), *[skip] * 6
        return
    yield (progress_html(fraction, text + " Testing the saved checkpoint...", done.status),
           view.loss_plot(), view.accuracy_plot(), view.rows, skip, skip, skip)
    confusion, errors = _confusion_and_errors(done.checkpoint, config)
    name = done.checkpoint.parent.name
    gr.Info(f"Saved run {name}; it is selected in the Draw tab.", duration=5)
    yield (progress_html(fraction, text + f" Saved as run {name}, now selected in the Draw tab.", done.status),
           skip, skip, skip, confusion, errors, models_dropdown(_run_key(done.checkpoint)))


def arm_run(request: gr.Request = None) -> tuple[Any, Any]:
    """On Start, before queueing: a fresh stop flag for this visitor; Start off, Stop on."""
    STOP_FLAGS.arm(_session(request))
    return gr.Button(interactive=False), gr.Button(interactive=True)


def stop_run(request: gr.Request = None) -> None:
    """Stop this visitor's run (queued or going) after the current batch; nobody else's."""
    state = STOP_FLAGS.stop(_session(request))
    if state == "running":
        gr.Info("Stopping after this batch; the checkpoint is saved.", duration=5)
    elif state == "queued":
        gr.Info("Your run will not start: it leaves the queue.", duration=5)
    else:
        gr.Warning("No run of yours is going.", duration=5)


def run_over() -> tuple[Any, Any]:
    """Start on, Stop off."""
    return gr.Button(interactive=True), gr.Button(interactive=False)


def page_closed(request: gr.Request = None) -> None:
    """A visitor left: stop their run, if any, so that the queue moves on."""
    STOP_FLAGS.stop(_session(request))


# ---------------------------------------------------------------- layout

def _train_tab(draw_model: gr.Dropdown) -> None:
    names = recipe_names()
    first = default_recipe()
    values = dict(zip(CONTROL_FIELDS, recipe_values(first)))
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            recipe_dd = gr.Dropdown(names, value=first, label="Recipe", info="fills the settings below")
            model = gr.Dropdown(list(MODELS), value=values["model"], label="Model preset")
            epochs = gr.Slider(EPOCHS_MIN, EPOCHS_MAX, value=values["epochs"], step=1, label="Epochs")
            with gr.Row():
                batch_size = gr.Number(values["batch_size"], label="Batch size", precision=0, min_width=100)
                lr = gr.Number(values["lr"], label="Learning rate", min_width=100)
            scheduler = gr.Radio([(SCHEDULER_LABELS.get(s, s), s) for s in SCHEDULERS], value=values["scheduler"],
                                 label="Scheduler")
            with gr.Row():
                rotate = gr.Number(values["rotate"], label="Rotation ±° (0 = off)", min_width=100)
                seed = gr.Number(values["seed"], label="Random seed", precision=0, min_width=100)
            with gr.Accordion("Quick runs: fewer images", open=False):
                with gr.Row():
                    subset = gr.Number(values["subset"], label="Train images", info="empty: all 60,000",
                                       precision=0, min_width=100)
                    test_subset = gr.Number(values["test_subset"], label="Test images", info="empty: all 10,000",
                                            precision=0, min_width=100)
            note = gr.Markdown(_recipe_note(first), elem_classes="mn-note")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="train-stop")
            gr.Markdown("One run trains at a time; others wait in the queue, their place shown above the "
                        "progress bar. Classifying keeps working meanwhile.", elem_classes="mn-note")
        with gr.Column(scale=3):
            progress = gr.HTML(IDLE_PROGRESS, elem_id="train-progress")
            with gr.Row():
                # the figures carry their own titles; Gradio's label badge would cover them
                loss_plot = gr.Plot(plots.loss_figure([], [], [], [], values["epochs"]), label="Loss",
                                    show_label=False, elem_id="loss-plot", format="png")
                acc_plot = gr.Plot(plots.accuracy_figure([], [], [], values["epochs"]), label="Accuracy",
                                   show_label=False, elem_id="acc-plot", format="png")
            table = gr.Dataframe(headers=EPOCH_HEADERS, label="Epochs", interactive=False, elem_id="epoch-table",
                                 max_height=260)
            with gr.Row():
                confusion = gr.Plot(label="Confusion matrix (test set)", show_label=False, elem_id="confusion-plot",
                                    format="png")
                errors = gr.Plot(label="Misclassified test digits (true→predicted)", show_label=False,
                                 elem_id="errors-plot", format="png")

    controls = [model, epochs, batch_size, lr, scheduler, rotate, seed, subset, test_subset]
    recipe_dd.change(recipe_values, recipe_dd, controls + [note], api_name="recipe", queue=False)
    started = start.click(arm_run, None, [start, stop], queue=False, api_visibility="private")
    running = started.then(train_run, [recipe_dd] + controls,
                           [progress, loss_plot, acc_plot, table, confusion, errors, draw_model],
                           api_name="train", concurrency_limit=1, concurrency_id="train",
                           show_progress="full", show_progress_on=[progress])
    running.then(run_over, None, [start, stop], queue=False, api_visibility="private")
    stop.click(stop_run, None, None, api_name="stop", queue=False)


def _architecture_tab() -> None:
    text, note, table, figure = _architecture(DEFAULT_MODEL)
    model = gr.Dropdown(list(MODELS), value=DEFAULT_MODEL, label="Model")
    summary = gr.Markdown(text)
    notes = gr.Markdown(note, visible=bool(note), label="Notes", elem_id="model-notes", elem_classes="mn-notes")
    layers = gr.Dataframe(table, headers=LAYER_HEADERS, label="Layers, in execution order (RF and jump after "
                          "the layer)", interactive=False, max_height=420, elem_id="layer-table")
    rf_plot = gr.Plot(figure, label="Receptive field, layer by layer", show_label=False, format="png")
    model.change(architecture, model, [summary, notes, layers, rf_plot], api_name="layer_table", concurrency_limit=4)


def _runs_tab(draw_model: gr.Dropdown) -> gr.Tab:
    with gr.Tab("Runs", id="runs") as tab:
        gr.Markdown("Every run trained here or with the CLI, and the checkpoints shipped with the app. Accuracies "
                    "on a part of the test set (see *test images*) are not comparable with the full 10,000.",
                    elem_classes="mn-note")
        with gr.Row():
            compare = gr.Dropdown([], value=[], multiselect=True, label="Runs on the plot", scale=4,
                                  elem_id="runs-compare")
            refresh = gr.Button("Refresh", scale=0, min_width=100, elem_id="runs-refresh")
        plot = gr.Plot(label="Test accuracy per epoch", show_label=False, elem_id="runs-plot", format="png")
        table = gr.Dataframe(headers=RUN_HEADERS, label="Runs (click a row to pick it for deletion)",
                             interactive=False, elem_id="runs-table", max_height=360)
        with gr.Row(equal_height=True):
            target = gr.Dropdown([], value=None, label="Run to delete", scale=4, elem_id="runs-target")
            delete = gr.Button("Delete run", variant="stop", scale=0, min_width=150, elem_id="runs-delete")
        message = gr.Markdown("", label="Message", elem_classes="mn-note", elem_id="runs-message")
        # inside the Tab: a State placed in gr.Tabs but outside any Tab makes the page show the next tab twice
        known = gr.State([])
    views = [table, plot, compare, target]
    opts = dict(concurrency_limit=4, concurrency_id="runs", show_progress="hidden")
    tab.select(refresh_runs, [compare, target, known], views + [known], api_visibility="private", **opts)
    refresh.click(refresh_runs, [compare, target, known], views + [known], api_name="runs", **opts)
    compare.input(runs_plot, compare, plot, api_visibility="private", **opts)
    table.select(pick_run, None, target, queue=False, api_visibility="private")
    # the browser asks before deleting; a refusal sends no run, which the handler answers with a hint
    delete.click(delete_selected, [target, compare, draw_model], [message] + views + [draw_model],
                 api_name="delete_run", js="(t, c, d) => [t && confirm(`Delete run ${t}?`) ? t : null, c, d]",
                 **opts)
    return tab


def _draw_tab(draw_model: gr.Dropdown) -> None:
    with gr.Row():
        with gr.Column(scale=3, min_width=300):
            sketch = gr.Sketchpad(label="Draw a digit", type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                  fixed_canvas=True, layers=False, transforms=(), height=400,
                                  brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"),
                                  eraser=gr.Eraser(default_size=16), elem_id="sketchpad")
            clear = gr.Button("Clear", elem_id="draw-clear")
            gr.Markdown("The drawing is made into what MNIST would have had: grayscale, inverted to white on "
                        "black, cropped to the ink, the longer side scaled to 20 px, placed in 28x28 by its centre "
                        "of mass.", elem_classes="mn-note")
        with gr.Column(scale=2, min_width=260):
            draw_model.render()
            label = gr.Label(EMPTY_CANVAS, num_top_classes=3, label="Prediction (top 3)", elem_id="prediction")
            with gr.Row():
                gr.Markdown("**What the model sees**\n\n28x28, white on black, as in MNIST", min_width=100)
                seen = gr.Image(show_label=False, type="numpy", interactive=False, height=168, width=168,
                                elem_id="model-input", format="png", buttons=[], min_width=100)
            upload = gr.Image(label="...or upload a picture of a digit", type="pil", image_mode=None,
                              sources=["upload", "clipboard"], height=180, elem_id="upload")
    img28 = gr.State(None)      # the 28x28 input of the last classification, for the explanation
    shown = gr.State(False)     # whether this visitor has the explanation open: only then is it computed
    with gr.Accordion("What the network sees: feature maps and saliency", open=False, elem_id="explain") as section:
        with gr.Row():
            with gr.Column(scale=3, min_width=300):
                layer = gr.Dropdown([], value=None, label="Layer", elem_id="explain-layer",
                                    info="its output for this drawing, one tile per channel")
                maps = gr.Image(label="Feature maps", show_label=False, type="numpy", interactive=False, height=320,
                                format="png", buttons=["fullscreen"], elem_id="feature-maps")
                maps_note = gr.Markdown("", label="Feature maps: layer and colour key", elem_classes="mn-note")
            with gr.Column(scale=2, min_width=260):
                gr.Markdown("**Saliency**: the gradient of the predicted class's score with respect to each input "
                            "pixel, over the 28x28 input")
                sal = gr.Image(label="Saliency", show_label=False, type="numpy", interactive=False, height=224,
                               width=224, format="png", buttons=[], elem_id="saliency")
                sal_note = gr.Markdown("", label="Saliency: class", elem_classes="mn-note")
    fast = dict(concurrency_limit=4, concurrency_id="classify", show_progress="hidden")
    explained = [layer, maps, maps_note, sal, sal_note]
    after = dict(fn=explain_if_open, inputs=[img28, draw_model, layer, shown], outputs=explained,
                 api_visibility="private", **fast)
    sketch.change(predict_digit, [sketch, draw_model], [label, seen, img28], api_name="classify",
                  trigger_mode="always_last", **fast).then(**after)
    upload.change(predict_digit, [upload, draw_model], [label, seen, img28], api_name="classify_upload",
                  **fast).then(**after)
    draw_model.change(predict_either, [sketch, upload, draw_model], [label, seen, img28], api_visibility="private",
                      **fast).then(**after)
    section.expand(show_explanation, [img28, draw_model, layer], [shown] + explained, api_visibility="private",
                   **fast)
    section.collapse(lambda: False, None, shown, queue=False, api_visibility="private")
    layer.input(explain_digit, [img28, draw_model, layer], explained, api_name="explain", **fast)
    clear.click(lambda: (None, None, EMPTY_CANVAS, None, None, None, "", None, ""), None,
                [sketch, upload, label, seen, img28, maps, maps_note, sal, sal_note], queue=False,
                api_visibility="private")


def build_app() -> gr.Blocks:
    """The four-tab Blocks; nothing heavy loads until a visitor asks for it."""
    choices = checkpoint_choices()
    with gr.Blocks(title="mnistnet: train, inspect and draw MNIST digits") as demo:
        gr.Markdown("# mnistnet\nTrain the 8,546-parameter MNIST Net live, look inside its receptive field, "
                    "and draw digits for it to read.")
        draw_model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                 info="shipped checkpoints first, then runs trained here", render=False,
                                 elem_id="draw-model")
        with gr.Tabs():
            with gr.Tab("Train", id="train"):
                _train_tab(draw_model)
            with gr.Tab("Architecture", id="architecture"):
                _architecture_tab()
            _runs_tab(draw_model)
            with gr.Tab("Draw", id="draw") as draw_tab:
                _draw_tab(draw_model)
        refresh = dict(queue=False, api_visibility="private")
        demo.load(models_dropdown, draw_model, draw_model, **refresh)
        draw_tab.select(models_dropdown, draw_model, draw_model, **refresh)
        demo.unload(page_closed)
    return demo


def launch_options() -> dict[str, Any]:
    """What app.py passes to launch(); host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT."""
    return {"css": CSS, "js": JS, "theme": gr.themes.Soft()}

