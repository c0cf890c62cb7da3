"""The Runs tab and the Draw tab's explanations through the app's API; the Architecture tab's notes in process."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402

from mnistnet.checkpoints import shipped_checkpoints  # noqa: E402
from test_app_api import SHIPPED, client, digit_png, progress_state, serve, shutdown, train_args, wait_for  # noqa: E402,E501


@pytest.fixture(scope="module")
def app(synthetic_mnist: Path, tmp_path_factory: pytest.TempPathFactory):
    """(url, runs folder) of app.py on synthetic MNIST."""
    tmp = tmp_path_factory.mktemp("app_runs")
    runs = tmp / "runs"
    proc, url = serve(synthetic_mnist, runs, tmp / "app.log")
    yield url, runs
    shutdown(proc)


SHIPPED_IDS = [f"shipped:{p.stem}" for p in shipped_checkpoints()]   # net first, then lean


def rows_by_id(table: dict) -> dict[str, dict]:
    headers = table["headers"]
    return {row[-1]: dict(zip(headers, row)) for row in table["data"]}


def choice_values(dropdown: dict) -> list[str]:
    return [v for _, v in dropdown["choices"]]


def test_runs_table_lists_compares_and_deletes(app):
    url, runs = app
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped checkpoint {SHIPPED} is missing; the Runs tab lists it")
    visitor = client(url)
    # a tiny run trained through the app
    final = visitor.predict(*train_args(epochs=1, batch_size=32, subset=300, test_subset=100), api_name="/train")
    run_key = final[6]["value"]
    run_id = run_key.partition(":")[2]
    assert run_key.startswith("run:") and (runs / run_id / "run.json").is_file()

    table, plot, compare, target = visitor.predict([], None, api_name="/runs")
    other = client(url)
    other.predict([], None, api_name="/runs")     # another visitor has the Runs tab open too
    rows = rows_by_id(table)
    assert SHIPPED_IDS[0] == "shipped:net"
    assert list(rows) == [*SHIPPED_IDS, run_id], "shipped first, then the runs, newest first"
    shipped, mine = rows["shipped:net"], rows[run_id]
    assert "shipped" in shipped["status"] and shipped["preset"] == "net" and shipped["parameters"] == 8546
    assert shipped["best test acc %"] >= 99.4 and shipped["first epoch ≥ 99.40%"] != ""
    assert shipped["test images"] == "10,000"
    assert mine["status"] == "completed" and mine["epochs"] == 1 and mine["test images"] == "100"
    assert mine["preset"] == "net" and 0 <= mine["best test acc %"] <= 100 and mine["wall time"]
    assert plot and plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png")
    # both join the plot the first time this visitor sees them; both can be picked for deletion
    assert compare["value"] == [*SHIPPED_IDS, run_id] and choice_values(compare) == [*SHIPPED_IDS, run_id]
    assert choice_values(target) == [*SHIPPED_IDS, run_id] and target["value"] is None

    # a shipped run is refused with a clear message, and stays
    message, *views, draw = visitor.predict("shipped:net", [*SHIPPED_IDS, run_id], run_key, api_name="/delete_run")
    assert "shipped with the app; it cannot be deleted" in message
    assert "shipped:net" in rows_by_id(visitor.predict([], None, api_name="/runs")[0])
    # nothing picked: a hint, nothing deleted
    message, *_ = visitor.predict(None, [], run_key, api_name="/delete_run")
    assert message.startswith("No run deleted") and (runs / run_id).is_dir()

    # deleting the run the Draw tab uses: gone from the table, the plot and the folder; Draw falls back
    message, table, plot, compare, target, draw = visitor.predict(run_id, [*SHIPPED_IDS, run_id], run_key,
                                                                  api_name="/delete_run")
    assert message.startswith(f"Deleted run {run_id}.") and "the Draw tab now uses net · shipped" in message
    assert list(rows_by_id(table)) == SHIPPED_IDS and compare["value"] == SHIPPED_IDS
    assert target["value"] is None and not (runs / run_id).exists()
    assert draw["value"] == "shipped:net" and run_key not in choice_values(draw)
    # the Draw tab classifies with the fallback; the deleted run is refused with a message
    png = handle_file(str(digit_png(runs.parent / "one.png")))
    label, _ = visitor.predict(png, draw["value"], api_name="/classify_upload")
    assert label["label"] == "1"
    with pytest.raises(Exception, match="not in the list of choices"):
        visitor.predict(png, run_key, api_name="/classify_upload")
    # the other visitor, whose list still offers the run, hears that it is gone; a path is never a choice
    message, table, *_ = other.predict(run_id, [], None, api_name="/delete_run")
    assert "not there any more" in message and list(rows_by_id(table)) == SHIPPED_IDS
    with pytest.raises(Exception, match="not in the list of choices"):
        other.predict("../runs", [], None, api_name="/delete_run")
    assert runs.is_dir()


def test_a_run_training_now_cannot_be_deleted(app):
    url, runs = app
    visitor = client(url)
    job = visitor.submit(*train_args(epochs=30, batch_size=8, subset=1000, test_subset=100), api_name="/train")
    try:
        wait_for(lambda: any(progress_state(o) == "running" and "Epoch" in o[0] for o in job.outputs()), 40,
                 "the run to train")
        rows = rows_by_id(visitor.predict([], None, api_name="/runs")[0])
        live = [i for i, r in rows.items() if "training now" in r["status"]]
        assert len(live) == 1 and rows[live[0]]["status"].startswith("running")
        message, *_ = visitor.predict(live[0], [], None, api_name="/delete_run")
        assert "still training; stop it in the Train tab first" in message and (runs / live[0]).is_dir()
    finally:
        visitor.predict(api_name="/stop")
        wait_for(job.done, 30, "the run to stop")
    # once stopped it can go
    message, *_ = visitor.predict(live[0], [], None, api_name="/delete_run")
    assert message.startswith(f"Deleted run {live[0]}") and not (runs / live[0]).exists()


def test_feature_maps_and_saliency_for_a_drawing(app, tmp_path):
    url, _ = app
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped checkpoint {SHIPPED} is missing")
    visitor = client(url)
    # before any drawing: the layers of the model, no pictures
    layer, maps, _, sal, _ = visitor.predict("shipped:net", None, api_name="/explain")
    assert layer["value"] == "ReLU-12" and maps is None and sal is None
    assert choice_values(layer)[0] == "Conv2d-1" and "MaxPool2d-10" in choice_values(layer)
    # the visitor draws a 1 (the drawing reaches /explain through the session's state, as in the page)
    png = digit_png(tmp_path / "one.png")
    label, _ = visitor.predict({"background": None, "layers": [], "composite": handle_file(str(png))},
                               "shipped:net", api_name="/classify")
    assert label["label"] == "1"
    layer, maps, maps_note, sal, sal_note = visitor.predict("shipped:net", None, api_name="/explain")
    assert layer["value"] == "ReLU-12" and "10 maps of 10x10" in maps_note
    grid = np.asarray(Image.open(maps))
    assert grid.shape == (2 * 100 + 3 * 3, 5 * 100 + 6 * 3, 3)     # 2 rows of 5 tiles of 100 px
    heat = np.asarray(Image.open(sal).convert("RGB"))
    assert heat.shape == (224, 224, 3) and heat.std() > 5
    assert "score of **1**" in sal_note
    # another layer: the first convolution, signed, 10 maps of 26x26
    layer, maps, maps_note, _, _ = visitor.predict("shipped:net", "Conv2d-1", api_name="/explain")
    assert layer["value"] == "Conv2d-1" and "10 maps of 26x26" in maps_note and "(blue)" in maps_note
    # a layer the model lacks is refused with a message
    with pytest.raises(Exception, match="not in the list of choices"):
        visitor.predict("shipped:net", "Conv2d-99", api_name="/explain")
    # another visitor has drawn nothing: their explanation has no pictures
    _, maps, _, sal, _ = client(url).predict("shipped:net", None, api_name="/explain")
    assert maps is None and sal is None


def test_architecture_shows_a_presets_notes_only_when_there_are_some(monkeypatch):
    from mnistnet import ui
    monkeypatch.setitem(ui.NOTES, "gap", "**Target** 99.4%\n\n**Result** 99.41% at epoch 9")
    _, notes, _, _ = ui.architecture("gap")
    assert notes.visible is True and "**Result** 99.41%" in notes.value
    monkeypatch.delitem(ui.NOTES, "lean", raising=False)
    _, notes, _, _ = ui.architecture("lean")
    assert notes.visible is False and not notes.value


def test_feature_grid_saliency_overlay_and_runs_figure():
    from mnistnet import plots
    grid, key = plots.feature_grid(np.random.default_rng(0).random((10, 10, 10)))
    # 2 rows of 5 tiles of 60 px (10 px enlarged 6 times) with 3 px gaps
    assert grid.shape == (2 * 60 + 3 * 3, 5 * 60 + 6 * 3, 3) and "0 (dark)" in key
    _, key = plots.feature_grid(np.linspace(-2, 1, 32 * 16).reshape(32, 4, 4))
    assert "-2 (blue)" in key and "+2 (red)" in key
    img28, sal = np.zeros((28, 28)), np.zeros((28, 28))
    img28[4:24, 13:15], sal[10, 10] = 1.0, 1.0
    heat = plots.saliency_overlay(img28, sal)
    assert heat.shape == (224, 224, 3) and heat[80:88, 80:88].mean() > heat[0:8, 0:8].mean()
    assert heat[100, 108].mean() > heat[0, 0].mean()    # the stroke shows through, dimmed
    fig = plots.runs_figure([("good", [1, 2, 3], [98.9, 99.3, 99.45]), ("poor", [1, 2], [9.0, 11.0])])
    low, high = fig.axes[0].get_ylim()
    assert low < 9.0 and 99.45 < high < 100, "every point shows"
    assert len(fig.axes[0].get_legend().get_texts()) == 2
