"""viz on PyTorch models (viz.torch_capture): the captured values and gradients are torch's, the noise rules
find two entries per train-mode BatchNorm and one per train-mode Dropout and none for LayerNorm, GroupNorm,
InstanceNorm or eval mode, a tinygrad_bn twin gives the same entries and statistics, unknown ops and
untraceable models say so, and drawing leaves the model as it was. torch is in the test extra: never skipped."""

import argparse
import copy
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import viz
from bnlab import render as command
from tinygrad_bn import Tensor
from tinygrad_bn import nn as tnn
from viz.torch_capture import TorchExportError, capture_torch

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("torch_resnet18", ROOT / "examples" / "torch_resnet18.py")
resnet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resnet)


def bn_mlp(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU()]
    return nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout else []), nn.Linear(8, 3))


def batch(n: int = 16, features: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, features)).astype(np.float32), np.arange(n) % 3


def kinds(g) -> Counter:
    return Counter((e.kind, e.source_kind) for e in viz.noise_paths(g).entries)


def module_output(g, path: str) -> str:
    """The tensor node a module call returned (its last op's output)."""
    key = next(k for k, s in g.graph["scopes"].items() if s["path"] == path and s["kind"] == "module")
    ops = [d for _, d in g.nodes(data=True) if d["kind"] == "op" and key in d["scopes"]]
    return max(ops, key=lambda d: d["order"])["output"]


def test_values_and_gradients_are_torchs():
    model = bn_mlp()
    x, y = batch()
    g = viz.capture(model, input=x, target=y)
    ref = copy.deepcopy(model)
    seen = {}

    def keep(module, args, out):
        out.retain_grad()
        seen["bn"] = out

    ref[1].register_forward_hook(keep)
    loss = nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    (out,) = g.graph["outputs"]
    assert g.nodes[out]["mean"] == pytest.approx(loss.item(), rel=1e-6)
    bn = g.nodes[module_output(g, "1")]
    assert bn["shape"] == (16, 8)
    assert bn["mean"] == pytest.approx(seen["bn"].mean().item(), abs=1e-6)
    assert bn["std"] == pytest.approx(seen["bn"].std(unbiased=False).item(), rel=1e-5)
    assert bn["grad_norm"] == pytest.approx(seen["bn"].grad.norm().item(), rel=1e-5)
    params = {(d["module"], d["name"]): d for _, d in g.nodes(data=True) if d.get("role") == "parameter"}
    for name, p in ref.named_parameters():
        module, last = name.rsplit(".", 1)
        assert params[(module, last)]["grad_norm"] == pytest.approx(p.grad.norm().item(), rel=1e-5, abs=1e-6), name
    assert g.graph["inputs"] and g.nodes[g.graph["inputs"][0]]["shape"] == (16, 6)


def test_the_graph_follows_the_contract():
    g = viz.capture(bn_mlp(0.2), input=batch()[0], target=batch()[1])
    scopes = {s["path"]: s for s in g.graph["scopes"].values()}
    assert scopes["1"]["name"] == "BatchNorm1d" and "eps=1e-05" in scopes["1"]["extra_repr"]
    assert scopes["1"]["input_shapes"] == ((16, 8),) and scopes["1"]["output_shapes"] == ((16, 8),)
    assert scopes["1.batch_norm"]["kind"] == "function" and scopes["3.dropout"]["parent"] is not None
    assert scopes["cross_entropy_loss"]["output_shapes"] == ((),)
    ops = [d for _, d in g.nodes(data=True) if d["kind"] == "op"]
    bn_ops = [d["op"] for d in ops if d["module"] == "1"]
    assert {"var", "mean", "sub", "aten.rsqrt", "mul"} <= set(bn_ops)
    mean = next(d for d in ops if d["op"] == "mean" and d["module"] == "1")
    assert mean["attrs"] == {"axis": (0,), "keepdims": True} and mean["aten"] == "aten.var_mean.correction"
    assert [d["op"] for d in ops if d["random"]] == ["aten.rand_like"]
    for n, d in g.nodes(data=True):
        assert isinstance(d["order"], int)
        if d["kind"] == "op":
            assert list(g.successors(n)) == [d["output"]] and set(g.predecessors(n)) == set(d["inputs"])


def test_bn_mlp_entries_and_eval_mode():
    x, y = batch()
    model = bn_mlp(0.2)
    report = viz.noise_paths(viz.capture(model, input=x, target=y))
    assert sorted((e.kind, e.module) for e in report.entries) == [
        ("additive", "1"), ("multiplicative", "1"), ("multiplicative", "3")]
    assert [e.source_kind for e in report.entries if e.module == "3"] == ["random"]
    assert kinds(viz.capture(model, input=x, target=y, mode="eval")) == Counter()
    strict = viz.noise_paths(capture_torch(model, input=x, target=y, strict=True))  # traced by TorchDynamo
    assert sorted((e.kind, e.module) for e in strict.entries) == sorted((e.kind, e.module) for e in report.entries)


def test_cnn_with_batchnorm2d_and_dropout():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(36, 3))
    g = viz.capture(cnn, input=torch.randn(4, 3, 8, 8), target=torch.arange(4) % 3)
    assert kinds(g) == Counter({("additive", "batch statistic"): 1, ("multiplicative", "batch statistic"): 1,
                                ("multiplicative", "random"): 1})
    stat = next(g.nodes[e.source_op] for e in viz.noise_paths(g).entries if e.kind == "additive")
    assert stat["op"] == "mean" and stat["attrs"]["axis"] == (0, 2, 3)


def test_batchnorm_1d_3d_and_functional():
    class Functional(nn.Module):
        def forward(self, x):
            return nn.functional.batch_norm(x, None, None, training=True) * 2

    for model, x in ((nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3)), torch.randn(4, 2, 9)),
                     (nn.BatchNorm3d(2), torch.randn(4, 2, 3, 3, 3)), (Functional(), torch.randn(4, 3))):
        assert kinds(viz.capture(model, input=x)) == Counter({("additive", "batch statistic"): 1,
                                                              ("multiplicative", "batch statistic"): 1})


def test_layer_group_instance_norm_have_no_batch_noise():
    torch.manual_seed(0)
    # 4 channels and a batch of 4: InstanceNorm's (1, N*C, H, W) must be split back by where the batch is
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, affine=True),
                          nn.LayerNorm([4, 6, 6]), nn.AvgPool2d(2))
    g = viz.capture(model, input=torch.randn(4, 3, 8, 8), target=lambda out: out.pow(2).sum())
    report = viz.noise_paths(g)
    assert report.entries == [] and report.warnings == []
    assert len([d for _, d in g.nodes(data=True) if d["kind"] == "op" and d["op"] == "var"]) == 3


def test_residual_network_resnet18():
    torch.manual_seed(0)
    model = resnet.ResNet18(num_classes=10)
    g = viz.capture(model, input=torch.randn(2, 3, 32, 32), target=torch.tensor([1, 7]))
    report = viz.noise_paths(g)
    bns = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 20 and "layer2.0.downsample.1" in bns
    assert sorted((e.kind, e.module) for e in report.entries) == sorted(
        (kind, path) for path in bns for kind in ("additive", "multiplicative"))
    paths = {s["path"]: s["name"] for s in g.graph["scopes"].values()}
    assert paths["layer1.0"] == "BasicBlock" and paths["fc"] == "Linear" and paths["layer4.1.bn2"] == "BatchNorm2d"
    conv = next(d for _, d in g.nodes(data=True) if d.get("module") == "conv1" and d.get("grad_norm"))
    assert conv["grad_norm"] > 0
    assert kinds(viz.capture(model, input=torch.randn(2, 3, 32, 32), mode="eval")) == Counter()


def test_layernorm_transformer_stack():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True), 2,
                                enable_nested_tensor=False)
    x = torch.randn(4, 5, 16)
    report = viz.noise_paths(viz.capture(enc, input=x))
    assert report.batch_statistics == []  # LayerNorm and attention reduce over features and positions only
    # per layer: dropout, dropout1, dropout2 and the attention weights' functional dropout
    assert Counter((e.kind, e.source_kind) for e in report.entries) == Counter({("multiplicative", "random"): 8})
    assert kinds(viz.capture(enc, input=x, mode="eval")) == Counter()
    # as many heads as samples: attention's (N*H, S, d) is split back by where the batch sits, not by size
    block = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    assert viz.noise_paths(viz.capture(block, input=torch.randn(4, 4, 16))).batch_statistics == []


def test_twin_models_give_the_same_entries_and_statistics():
    model = bn_mlp(0.0)
    twin = tnn.Sequential(tnn.Linear(6, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Linear(8, 3))
    for (_, p), q in zip(model.named_parameters(), twin.parameters()):
        q.data[...] = p.detach().numpy()
    x, y = batch()
    g_torch = viz.capture(model, input=x, target=y)
    g_ours = viz.capture(twin, input=Tensor(x), target=y)
    entries = [sorted((e.kind, e.module, e.source_kind) for e in viz.noise_paths(g).entries) for g in (g_torch, g_ours)]
    assert entries[0] == entries[1] and len(entries[0]) == 2

    def facts(g):
        out = {"loss": g.nodes[g.graph["outputs"][0]]["mean"]}
        for path in ("0", "1", "2", "3"):
            d = g.nodes[module_output(g, path)]
            out.update({(path, "mean"): d["mean"], (path, "std"): d["std"], (path, "grad"): d["grad_norm"]})
        for _, d in g.nodes(data=True):
            if d.get("role") == "parameter":
                out[(d["module"], d["name"])] = d["grad_norm"]
        return out

    ours, theirs = facts(g_ours), facts(g_torch)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert theirs[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_an_unknown_op_is_opaque_and_named():
    class Orthogonal(nn.Module):
        def forward(self, x):
            return torch.linalg.qr(x)[0] * x

    with pytest.warns(UserWarning, match="no batch-axis rule for torch op 'aten.linalg_qr"):
        g = viz.capture(Orthogonal(), input=torch.randn(6, 4))
    assert [d["op"] for _, d in g.nodes(data=True) if d["kind"] == "op"][0] == "aten.linalg_qr[0]"
    report = viz.noise_paths(g)
    assert report.entries == []
    assert any("aten.linalg_qr[0]" in w and "does not mean no batch noise" in w for w in report.warnings)
    assert "does not mean no batch noise" in report.summary()


def test_an_untraceable_model_says_why_and_what_to_try():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(TorchExportError, match="cannot trace Branchy") as err:
        viz.capture(Branchy(), input=torch.ones(3, 2))
    message = str(err.value)
    assert "strict=True" in message and "torch.cond" in message and len(message.splitlines()) < 20
    with pytest.raises(TorchExportError, match="strict=False"):
        capture_torch(Branchy(), input=torch.ones(3, 2), strict=True)


def test_drawing_leaves_the_model_as_it_was():
    model = bn_mlp(0.5)
    model[0].eval()  # a mix of flags to put back
    x, y = batch()
    model(torch.from_numpy(x)).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    values = {n: p.grad.clone() for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    flags = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    for mode in ("train", "eval"):
        viz.capture(model, input=x, target=y, mode=mode)
        viz.capture(model, input=torch.from_numpy(x))
    assert [m.training for m in model.modules()] == flags
    assert torch.equal(torch.get_rng_state(), rng)
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n]), n
    for n, p in model.named_parameters():
        assert p.grad is grads[n] and torch.equal(p.grad, values[n]), n


def test_inputs_targets_and_bad_arguments():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(3)

        def forward(self, a, b):
            return self.bn(a) + b

    g = viz.capture(Two(), input=(np.ones((4, 3)), torch.randn(4, 3)), target=lambda out: out.square().mean())
    assert [g.nodes[t]["name"] for t in g.graph["inputs"]] == ["input0", "input1"]
    assert g.nodes[g.graph["inputs"][0]]["dtype"] == "float32"  # an array takes the parameters' dtype
    g = viz.capture(nn.Linear(3, 2), input=torch.randn(4, 3), target=torch.randn(4, 2))  # mean squared error
    assert "mse_loss" in {s["path"] for s in g.graph["scopes"].values()}
    with pytest.raises(TypeError, match="needs input="):
        viz.capture(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="mode must be"):
        viz.capture(nn.Linear(3, 2), input=torch.randn(4, 3), mode="test")
    with pytest.raises(TypeError, match="must be a torch.Tensor or a numpy array"):
        viz.capture(nn.Linear(3, 2), input="x")
    with pytest.raises(RuntimeError, match=r"failed at aten.gather.default in the loss of target=: index 5 is out"):
        viz.capture(nn.Linear(3, 2), input=torch.randn(4, 3), target=torch.tensor([0, 1, 5, 1]))

    class Pair(nn.Module):
        def forward(self, x):
            return x, x * 2

    with pytest.raises(TypeError, match="needs the model to return one tensor, got tuple"):
        viz.capture(Pair(), input=torch.randn(4, 3), target=torch.arange(4))
    assert len(viz.capture(Pair(), input=torch.randn(4, 3)).graph["outputs"]) == 2
    with pytest.raises(ValueError, match="must be a single number, got \\(4, 2\\)"):
        viz.capture(nn.Linear(3, 2), input=torch.randn(4, 3), target=lambda out: out * 2)


def test_render_explore_and_cli_take_a_torch_model(tmp_path, capsys):
    model, (x, y) = bn_mlp(0.2), batch()
    out = viz.render(model, tmp_path / "m.svg", input=x, target=y)
    assert "BatchNorm1d" in out.svg and (tmp_path / "m.svg").stat().st_size > 0
    viz.explore(model, tmp_path / "m.html", input=x, target=y)
    assert "BatchNorm1d" in (tmp_path / "m.html").read_text()
    src = tmp_path / "models.py"
    src.write_text("from torch import nn\n\n"
                   "def make_model():\n"
                   "    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(72, 3))\n")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--model", f"{src}:make_model", "--input-shape", "4,1,8,8", "--classes", "3",
                              "-o", str(tmp_path / "cli.svg")])
    assert command.run(args) == 0
    assert "2 noise entry point(s)" in capsys.readouterr().out
    assert "BatchNorm2d" in (tmp_path / "cli.svg").read_text()


def test_viz_imports_no_torch_and_says_how_to_install_it(monkeypatch):
    code = "import sys, viz; assert 'torch' not in sys.modules, 'import viz imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

    class Module:  # a stand-in for torch.nn.Module, as a model made where torch is missing would look
        pass

    Module.__module__ = "torch.nn.modules.module"

    class Net(Module):
        pass

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-bn\[torch\]"'):
        viz.capture(Net(), input=np.ones((2, 3)))


def test_resnet_and_transformer_ops_all_have_rules(recwarn):
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2,
                                enable_nested_tensor=False)
    for model, x in ((resnet.ResNet18(num_classes=10), torch.randn(2, 3, 32, 32)), (enc, torch.randn(4, 5, 16))):
        g = viz.capture(model, input=x, target=lambda out: out.square().mean())
        assert viz.noise_paths(g).warnings == []
    assert not [w for w in recwarn if "batch-axis rule" in str(w.message)]


def test_a_training_timeline_of_a_torch_model(tmp_path):
    model, (x, y) = bn_mlp(), batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    timeline = viz.Timeline(model)
    for step in range(2):
        timeline.snapshot(input=x, target=y, label=f"step {step}")
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    first, second = (g.nodes[g.graph["outputs"][0]]["mean"] for g in timeline.graphs)
    assert second < first  # the second snapshot sees the trained weights
    viz.explore(timeline, tmp_path / "timeline.html")
    assert (tmp_path / "timeline.html").stat().st_size > 0


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_module_output_and_gradient_is_torchs(mode):
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, bias=False), nn.GroupNorm(2, 6), nn.Flatten(), nn.Linear(24, 3))
    cnn[1].running_var.fill_(2.0)  # eval mode reads these
    x, y = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    g = viz.capture(cnn, input=x, target=y, mode=mode)
    ref = copy.deepcopy(cnn).train(mode == "train")
    seen = {}

    def keep(module, args, out):
        out.retain_grad()
        seen[names[module]] = out

    names = {module: path for path, module in ref.named_children()}
    for module in names:
        module.register_forward_hook(keep)
    nn.functional.cross_entropy(ref(x), y).backward()
    for path, out in seen.items():
        d = g.nodes[module_output(g, path)]
        assert d["shape"] == tuple(out.shape), path
        assert (d["mean"], d["std"]) == pytest.approx((out.mean().item(), out.std(unbiased=False).item()),
                                                      rel=1e-5, abs=1e-6), path
        assert d["grad_norm"] == pytest.approx(out.grad.norm().item(), rel=1e-5, abs=1e-7), path


def test_hand_written_batch_statistics():
    class Centre(nn.Module):
        def forward(self, x):
            return x - torch.max(x, dim=0, keepdim=True)[0] + x.amax(1, keepdim=True) * x.max()

    g = viz.capture(Centre(), input=torch.randn(4, 3))
    report = viz.noise_paths(g)
    assert sorted((e.op, e.kind) for e in report.entries) == [("mul", "multiplicative"), ("sub", "additive")]
    assert [g.nodes[s]["shape"] for s in report.batch_statistics] == [(1, 3), ()]
