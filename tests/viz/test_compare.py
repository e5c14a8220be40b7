"""viz.diff and viz.compare without a browser: BN vs LayerNorm, train vs eval, two timeline steps, identical
models, a model against its PyTorch twin, matching by structure where paths differ, the page's data and
the errors. torch is in the test extra: never skipped."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import viz
from tinygrad_bn import Tensor, nn, optim
from viz.compare import RAMP, ratio_colour

X = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
Y = np.arange(16) % 3


def mlp(norm: type = nn.BatchNorm1d) -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 16, generator=0), norm(16), nn.ReLU(), nn.Linear(16, 3, generator=1))


class Named(nn.Module):
    """Linear, BatchNorm1d, ReLU, Linear under attribute names of one's choice."""

    def __init__(self, names: tuple[str, str, str, str]) -> None:
        super().__init__()
        self.names = names
        for name, layer in zip(names, mlp()):
            setattr(self, name, layer)

    def forward(self, x: Tensor) -> Tensor:
        for name in self.names:
            x = getattr(self, name)(x)
        return x


def test_bn_vs_layernorm():
    d = viz.diff(mlp(), mlp(nn.LayerNorm), input=X, target=Y, labels=("BatchNorm", "LayerNorm"))
    assert d.headline == "BatchNorm: additive and multiplicative noise in 1 module; LayerNorm: none"
    assert [(m.path, m.name) for m in d.only_a] == [("1", "BatchNorm1d"), ("1.batch_norm", "batch_norm")]
    assert [(m.path, m.name) for m in d.only_b] == [("1", "LayerNorm"), ("1.layer_norm", "layer_norm")]
    assert sorted((e.module, e.kind) for e in d.noise_only_a) == [("1", "additive"), ("1", "multiplicative")]
    assert d.noise_only_b == [] and not d.same_structure
    modules = {(a.path, a.name) for a, _ in d.pairs}
    assert modules >= {("", "Sequential"), ("0", "Linear"), ("2", "ReLU"), ("3", "Linear")}
    assert all(d.how[a.scope] == "path" for a, _ in d.pairs if a.kind == "module")
    assert [x.what for x in d.differences[:4]] == ["noise", "noise", "module", "module"]
    assert d.differences[0].words == "noise only in BatchNorm: 1 · BatchNorm1d — additive at sub: batch mean over (N)"
    sizes = [x.size for x in d.differences]
    assert sizes == sorted(sizes, reverse=True)
    # the first Linear's input is the same batch: its value std ratio is exactly 1, so it is no difference
    first = next(r for r in d.ratios if d.graphs[0].nodes[r.a]["role"] == "input")
    assert first.std == pytest.approx(1.0)
    assert not any(x.a == first.a for x in d.differences)


def test_train_vs_eval_of_one_model():
    model = mlp()
    before = model[1].running_mean.numpy().copy()
    d = viz.diff(model, mode=("train", "eval"), input=X, target=Y)
    assert d.labels == ("train", "eval")
    assert d.headline == "train: additive and multiplicative noise in 1 module; eval: none"
    assert d.only_a == d.only_b == []  # the same modules; only the noise differs
    assert len(d.noise_only_a) == 2 and d.noise_only_b == []
    assert np.array_equal(model[1].running_mean.numpy(), before)


def test_two_timeline_steps():
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.5)
    timeline = viz.Timeline(model)
    for step in range(3):
        timeline.snapshot(input=X, target=Y, label=f"step {step}")
        loss = model(Tensor(X)).cross_entropy(Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    d = viz.diff(timeline)  # the first and the last step
    assert d.labels == ("step 0", "step 2")
    assert d.same_structure and d.only_a == d.only_b == []
    assert d.headline == "step 0 and step 2: the same noise entries (additive and multiplicative noise in 1 module)"
    weights = [r for r in d.ratios if d.graphs[0].nodes[r.a]["role"] == "parameter"]
    assert weights and any(abs(np.log(r.std)) > 1e-3 for r in weights if r.std)  # training moved them
    assert {x.what for x in d.differences} <= {"std", "gradient norm"}
    d01 = viz.diff((timeline, 0), (timeline, 1), labels=("before", "after"))
    assert d01.labels == ("before", "after") and d01.same_structure


def test_identical_models_have_no_differences():
    d = viz.diff(mlp(), mlp(), input=X, target=Y)
    assert d.same_structure and d.differences == []
    assert d.only_a == d.only_b == d.noise_only_a == d.noise_only_b == []
    g = d.graphs[0]
    assert set(d.nodes) == set(g.nodes)  # every node matched
    page = viz.compare(mlp(), mlp(), input=X, target=Y).page()
    assert json.loads(re.search(r'id="tgbn-cmp-\w+-data">(.*?)</script>', page).group(1))["rows"] == []


def test_ours_vs_torch_twin():
    torch.manual_seed(0)
    tnn = torch.nn
    twin = tnn.Sequential(tnn.Linear(8, 16), tnn.BatchNorm1d(16), tnn.ReLU(), tnn.Linear(16, 3))
    ours = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    ours.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    d = viz.diff(ours, twin, input=X, target=Y, labels=("ours", "torch"))
    assert d.same_structure
    assert [m for m in d.only_a + d.only_b if m.kind == "module"] == []
    assert d.noise_only_a == d.noise_only_b == []
    assert d.headline == "ours and torch: the same noise entries (additive and multiplicative noise in 1 module)"
    by_path = {a.path: b.path for a, b in d.pairs}
    assert by_path["1"] == "1" and d.how[next(a.scope for a, _ in d.pairs if a.path == "cross_entropy")] == "loss"
    # the same weights on the same batch: every matched parameter's statistics agree
    params = [r for r in d.ratios if d.graphs[0].nodes[r.a]["role"] == "parameter"]
    assert len(params) == 6 and all(r.std is None or r.std == pytest.approx(1, rel=1e-5) for r in params)
    assert sum(r.std is not None for r in params) >= 4  # BN's weight of ones and bias of zeros have no std


def test_structure_matches_where_paths_differ():
    a, b = Named(("fc", "bn", "act", "out")), Named(("layer1", "norm", "relu", "head"))
    d = viz.diff(a, b, input=X, target=Y)
    matched = {(x.path, y.path): d.how[x.scope] for x, y in d.pairs if x.kind == "module"}
    assert matched == {("", ""): "path", ("fc", "layer1"): "structure", ("bn", "norm"): "structure",
                       ("act", "relu"): "structure", ("out", "head"): "structure"}
    assert d.same_structure and d.differences == []


def test_compare_page_data(tmp_path):
    c = viz.compare(mlp(), mlp(nn.LayerNorm), tmp_path / "cmp.html", input=X, target=Y,
                    labels=("BatchNorm", "LayerNorm"))
    text = (tmp_path / "cmp.html").read_text()
    assert "TinygradCompare.mount" in text and "TinygradExplorer" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing outside the file
    data = c.data
    assert data["headline"] == c.diff.headline and data["labels"] == ["BatchNorm", "LayerNorm"]
    assert data["only"] == [["s2", "s3"], ["s2", "s3"]]
    assert sorted(data["noise_only"][0]) == sorted(e.node for e in c.diff.noise_only_a)
    assert data["rows"][0]["b"] is None and data["rows"][0]["a"] in data["sides"][0]["nodes"]
    assert all(v in RAMP for side in data["fills"] for v in side.values())
    assert data["match"][1] == {v: k for k, v in data["match"][0].items()}
    assert c._repr_html_().startswith("<iframe srcdoc=")


def test_ratio_colours_diverge():
    assert ratio_colour(1.0) == "#f7f7f7"
    assert ratio_colour(1 / 100) == RAMP[0] and ratio_colour(100) == RAMP[-1]
    assert ratio_colour(0.5) in RAMP[:3] and ratio_colour(2.0) in RAMP[4:]


def test_errors():
    with pytest.raises(TypeError, match="with one graph"):
        viz.diff(mlp(), input=X)
    with pytest.raises(ValueError, match="mode must be"):
        viz.diff(mlp(), mlp(), input=X, mode=("train", "test"))
    with pytest.raises(ValueError, match="labels must be two"):
        viz.diff(mlp(), mlp(), input=X, labels=("a",))
    timeline = viz.Timeline(mlp())
    timeline.snapshot(input=X)
    with pytest.raises(ValueError, match="outside a timeline of 1 steps"):
        viz.diff(timeline, steps=(0, 3))
    with pytest.raises(TypeError, match=r"pick a step of the timeline: \(timeline, k\)"):
        viz.diff(timeline, (timeline, 0))
    with pytest.raises(TypeError, match="input= and target= are for models"):
        viz.diff(viz.capture(mlp(), input=X), viz.capture(mlp(), input=X), input=X)
