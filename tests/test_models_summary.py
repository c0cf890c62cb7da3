"""The seed Net and its layer table, checked against the seed document's table."""
import torch

from mnistnet.models import MODELS, build_model, count_parameters
from mnistnet.summary import layer_table, summary_text, totals

# The seed's torchsummary table: (type, output shape, params), 36 rows.
SEED_TABLE = [
    ("Conv2d", [10, 26, 26], 90), ("ReLU", [10, 26, 26], 0), ("BatchNorm2d", [10, 26, 26], 20),
    ("Conv2d", [16, 24, 24], 1440), ("ReLU", [16, 24, 24], 0), ("BatchNorm2d", [16, 24, 24], 32),
    ("Conv2d", [10, 24, 24], 160), ("BatchNorm2d", [10, 24, 24], 20), ("ReLU", [10, 24, 24], 0),
    ("MaxPool2d", [10, 12, 12], 0),
    ("Conv2d", [10, 10, 10], 900), ("ReLU", [10, 10, 10], 0), ("BatchNorm2d", [10, 10, 10], 20),
    ("Conv2d", [32, 10, 10], 320), ("BatchNorm2d", [32, 10, 10], 64), ("ReLU", [32, 10, 10], 0),
    ("Conv2d", [10, 10, 10], 320), ("ReLU", [10, 10, 10], 0), ("BatchNorm2d", [10, 10, 10], 20),
    ("Conv2d", [10, 8, 8], 900), ("ReLU", [10, 8, 8], 0), ("BatchNorm2d", [10, 8, 8], 20),
    ("Conv2d", [32, 8, 8], 320), ("BatchNorm2d", [32, 8, 8], 64), ("ReLU", [32, 8, 8], 0),
    ("Conv2d", [10, 8, 8], 320), ("ReLU", [10, 8, 8], 0), ("BatchNorm2d", [10, 8, 8], 20),
    ("Conv2d", [14, 6, 6], 1260), ("ReLU", [14, 6, 6], 0), ("BatchNorm2d", [14, 6, 6], 28),
    ("Conv2d", [16, 4, 4], 2016), ("ReLU", [16, 4, 4], 0), ("BatchNorm2d", [16, 4, 4], 32),
    ("AvgPool2d", [16, 1, 1], 0), ("Conv2d", [10, 1, 1], 160),
]


def test_net_has_the_seed_parameter_count():
    assert count_parameters(build_model("net")) == 8546
    assert totals(build_model("net")) == {"total": 8546, "trainable": 8546, "non_trainable": 0}


def test_net_outputs_log_probabilities():
    out = build_model("net").eval()(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))


def test_layer_table_equals_the_seed_table():
    rows = layer_table(build_model("net"))
    assert [(r["type"], r["output_shape"][1:], r["params"]) for r in rows] == SEED_TABLE
    assert [r["layer"] for r in rows][:3] == ["Conv2d-1", "ReLU-2", "BatchNorm2d-3"]
    assert rows[-1]["layer"] == "Conv2d-36"
    assert sum(r["params"] for r in rows) == 8546


def test_receptive_field_column_follows_the_seed_comments():
    rows = layer_table(build_model("net"))
    spatial = [(r["type"], r["kernel"], r["rf"], r["jump"]) for r in rows if r["kernel"] is not None]
    growing = [rf for t, k, rf, _ in spatial if k > 1]
    assert growing == [3, 5, 6, 10, 14, 18, 22, 28]
    pool = next(r for r in rows if r["type"] == "MaxPool2d")
    assert (pool["kernel"], pool["stride"], pool["padding"], pool["rf"], pool["jump"]) == (2, 2, 0, 6, 2)
    assert rows[-1]["rf"] == 28
    # 1x1 convolutions leave the receptive field alone
    assert all(rf == rows[i - 1]["rf"] for i, r in enumerate(rows) if r["kernel"] == 1 for rf in [r["rf"]])


def test_summary_text_shows_rows_and_total():
    text = summary_text(build_model("net"))
    assert "Total params: 8,546" in text
    assert "MaxPool2d-10" in text and "Conv2d-36" in text


def test_every_registered_model_builds_and_summarises():
    for name in MODELS:
        model = build_model(name)
        rows = layer_table(model)
        assert rows and rows[-1]["output_shape"][1:] in ([10], [10, 1, 1])
        assert sum(r["params"] for r in rows) == count_parameters(model)


def test_unknown_model_is_a_clear_error():
    import pytest
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope")


def test_presets_have_their_stated_sizes():
    sizes = {name: count_parameters(build_model(name)) for name in MODELS}
    assert sizes == {"plain": 9070, "batchnorm": 9214, "gap": 6650, "net": 8546, "shallow": 7618, "lean": 7880}
    assert sizes["lean"] <= 8000 and sizes["shallow"] <= 8000
    assert not any(isinstance(m, torch.nn.Linear) for m in build_model("lean").modules())
    # every preset sees the whole 28x28 digit at its output
    assert all(layer_table(build_model(name))[-1]["rf"] >= 28 for name in MODELS)
