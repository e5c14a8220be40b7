"""viz.Monitor: its numbers equal a direct computation on the same batches (eager, jit, torch), the TensorBoard
files hold the expected tags and steps, steps are counted as documented, and detaching restores the model."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import viz
from tinygrad_bn import Tensor, jit, manual_seed, nn, optim
from viz.monitor import PERCENTILES


def net(seed=0):
    manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.LayerNorm(8), nn.ReLU(),
                         nn.Linear(8, 3))


def batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(1.0, 2.0, size=(32, 6)).astype(np.float32), rng.integers(0, 3, 32)) for _ in range(n)]


def train(model, data, use_jit=False):
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = jit(lambda x, y: model(x).cross_entropy(y))
    for x, y in data:
        opt.zero_grad()
        if use_jit:
            step(x, y)
        else:
            model(Tensor(x)).cross_entropy(y).backward()
        opt.step()


def pct(v):
    return np.percentile(np.asarray(v, np.float64), PERCENTILES)


def direct(states, data, steps):
    """Each recorded step's statistics computed without hooks: the network run by hand from that step's parameters,
    the layers' gradients from retain_grad()."""
    found = {}
    for s in steps:
        model = net()
        model.load_state_dict(states[s])
        x, y = data[s]
        h1 = model[0](Tensor(x))
        h1.retain_grad()
        running_mean, running_var = model[1].running_mean.data.copy(), model[1].running_var.data.copy()
        z1 = model[1](h1)
        z1.retain_grad()
        h2 = model[3](model[2](z1))
        h2.retain_grad()
        z2 = model[4](h2)
        z2.retain_grad()
        model[6](model[5](z2)).cross_entropy(y).backward()
        for name, a, b, layer in (("1", h1, z1, model[1]), ("4", h2, z2, model[4])):
            xa, xb = a.data.astype(np.float64), b.data.astype(np.float64)
            found[s, name, "input_mean"] = xa.mean(0)
            found[s, name, "input_std"] = xa.std(0)
            found[s, name, "output_std"] = xb.std(0)
            found[s, name, "gamma"] = layer.weight.data
            for p, q in zip(PERCENTILES, np.percentile(xa, PERCENTILES, axis=0)):
                found[s, name, f"input_q{p}"] = q
            found[s, name, "grad_input_norm"] = np.linalg.norm(a.grad.data.astype(np.float64))
            found[s, name, "grad_output_norm"] = np.linalg.norm(b.grad.data.astype(np.float64))
        sigma = np.sqrt(running_var.astype(np.float64) + 1e-5)
        xa = h1.data.astype(np.float64)
        found[s, "1", "mean_gap"] = np.abs(xa.mean(0) - running_mean) / sigma
        found[s, "1", "std_ratio"] = np.sqrt(xa.var(0) + 1e-5) / sigma
    return found


@pytest.mark.parametrize("use_jit", [False, True])
def test_numbers_equal_a_direct_computation_on_the_same_batches(use_jit):
    data = batches(12)
    model = net()
    states = []
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = jit(lambda x, y: model(x).cross_entropy(y))
    with viz.Monitor(model, every=5) as mon:
        for x, y in data:
            states.append(model.state_dict())
            opt.zero_grad()
            step(x, y) if use_jit else model(Tensor(x)).cross_entropy(y).backward()
            opt.step()
    assert mon.steps == 11 and set(mon.layers) == {"1", "4"}
    df = mon.frame()
    assert sorted(df.step.unique()) == [0, 5, 10]
    values = {(r.step, r.layer, r.statistic): r.value for r in df.itertuples()}
    for (s, name, stat), want in direct(states, data, [0, 5, 10]).items():
        if np.ndim(want) == 0:
            np.testing.assert_allclose(values[s, name, stat], want, rtol=1e-5, err_msg=f"{s} {name} {stat}")
            continue
        np.testing.assert_allclose(mon.channels(name, stat)[1][[0, 5, 10].index(s)], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose([values[s, name, f"{stat}_p{p}"] for p in PERCENTILES], pct(want), rtol=1e-5,
                                   atol=1e-6, err_msg=f"{s} {name} {stat}")
    assert not any(k[1] == "4" and k[2].startswith(("mean_gap", "std_ratio")) for k in values)  # no running stats


def test_watching_changes_no_number_and_detaching_restores_the_model():
    data = batches(6)
    plain, watched = net(), net()
    train(plain, data, use_jit=True)
    versions = [m._version for m in watched.modules()]
    mon = viz.Monitor(watched, every=2)
    train(watched, data, use_jit=True)
    mon.close()
    mon.close()  # twice is harmless
    for (k, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    for p, q in zip(plain.parameters(), watched.parameters()):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)
    assert all(m._hooks is None for m in watched.modules())
    assert [m._version for m in watched.modules()] != versions  # a jit recording made before would record again


def test_steps_by_forward_calls_by_step_and_probes_in_record():
    model = net()
    mon = viz.Monitor(model, every=3)
    x = Tensor(batches(1)[0][0])
    for _ in range(7):
        model(x)
    model.eval()
    model(x)  # an eval-mode call counts no step and records nothing
    assert mon.steps == 6 and sorted(mon.frame().step.unique()) == [0, 3, 6]
    with mon.record():
        model(x)  # recorded in any mode, as the current step
    mon.step()  # from now on only step() counts
    model.train()
    model(x)
    model(x)
    assert mon.steps == 7
    for _ in range(2):
        mon.step()
    model(x)
    assert mon.steps == 9 and sorted(mon.frame().step.unique()) == [0, 3, 6, 9]
    mon.close()
    never = viz.Monitor(model, every=None)
    model(x)
    assert never.frame().empty
    never.close()


def test_the_event_files_hold_the_expected_tags_and_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = net()
    with viz.Monitor(model, every=4, logdir=tmp_path / "bn") as mon:
        train(model, batches(9))
    acc = EventAccumulator(str(tmp_path / "bn"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    scalars, histograms = set(acc.Tags()["scalars"]), set(acc.Tags()["histograms"])
    assert {"1/input_mean_p50", "1/mean_gap_p85", "1/grad_input_norm", "4/output_std_p15", "4/gamma_p50"} <= scalars
    assert {"1/input_mean", "1/gamma", "4/output_std"} <= histograms
    assert [e.step for e in acc.Scalars("1/input_std_p50")] == [0, 4, 8]
    assert [e.step for e in acc.Histograms("4/input_mean")] == [0, 4, 8]
    histogram = acc.Histograms("4/input_mean")[0].histogram_value
    assert sum(histogram.bucket) == histogram.num == 8 and len(histogram.bucket) == 30
    df = mon.frame()
    want = df[(df.layer == "1") & (df.statistic == "input_std_p50")].value.tolist()
    np.testing.assert_allclose([e.value for e in acc.Scalars("1/input_std_p50")], want, rtol=1e-6)


def test_layers_by_name_or_class_and_clear_errors():
    model = net()
    assert set(viz.Monitor(model, layers=nn.ReLU).layers) == {"2", "5"}
    assert set(viz.Monitor(model, layers=["3", nn.BatchNorm1d]).layers) == {"3", "1"}
    with pytest.raises(ValueError, match="has no module '9'"):
        viz.Monitor(model, layers="9")
    with pytest.raises(ValueError, match="no normalization layer"):
        viz.Monitor(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="every must be a positive int or None, got 0"):
        viz.Monitor(model, every=0)
    with pytest.raises(TypeError, match="expected a tinygrad_bn.nn.Module or a torch.nn.Module, got list"):
        viz.Monitor([model])
    with pytest.raises(ValueError, match="nothing recorded"):
        viz.Monitor(model).plot()
    with pytest.raises(KeyError, match="no 'mean_gap' recorded for layer '4'"):
        viz.Monitor(model).channels("4", "mean_gap")


def test_plot_and_timeline(tmp_path):
    model = net()
    mon = viz.Monitor(model, every=2, timeline=True)
    data = batches(5)
    train(model, data)
    mon.close()
    fig = mon.plot(tmp_path / "bands.png")
    assert (tmp_path / "bands.png").stat().st_size > 10_000 and len(fig.axes) == 4
    before = model.state_dict()
    line = mon.timeline(target=lambda out: out.sum())
    assert line.labels == ["step 0", "step 2", "step 4"] and len(line.graphs) == 3
    for (k, a), b in zip(before.items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    with pytest.raises(ValueError, match="timeline=True"):
        viz.Monitor(model).timeline()


def test_capture_neither_records_nor_drops_the_hooks():
    model = net()
    mon = viz.Monitor(model, every=1)
    hooks = [m._hooks for m in model.modules()]
    viz.capture(model, input=batches(1)[0][0], target=batches(1)[0][1])
    assert mon.frame().empty and [m._hooks for m in model.modules()] == hooks
    mon.close()


@needs_torch
def test_a_torch_model_is_watched_through_torchs_hooks():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(inplace=True),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))
    rng = np.random.default_rng(0)
    data = [(torch.tensor(rng.normal(size=(8, 2, 6, 6)), dtype=torch.float32), torch.tensor(rng.integers(0, 3, 8)))
            for _ in range(4)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    states = []
    with viz.Monitor(model, every=3) as mon:
        for x, y in data:
            states.append({k: v.clone() for k, v in model.state_dict().items()})
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert set(mon.layers) == {"1"} and sorted(mon.frame().step.unique()) == [0, 3]
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules())
    values = {(r.step, r.statistic): r.value for r in mon.frame().itertuples()}
    for s in (0, 3):
        model.load_state_dict(states[s])
        x, y = data[s]
        h = model[0](x)
        h.retain_grad()
        z = model[1](h)
        z.retain_grad()
        torch.nn.functional.cross_entropy(model[4](model[3](torch.relu(z))), y).backward()
        a = h.detach().double().numpy()
        per_channel = a.transpose(1, 0, 2, 3).reshape(4, -1)
        np.testing.assert_allclose([values[s, f"input_mean_p{p}"] for p in PERCENTILES], pct(per_channel.mean(1)),
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(values[s, "grad_input_norm"], np.linalg.norm(h.grad.double().numpy()), rtol=1e-5)
        np.testing.assert_allclose(values[s, "grad_output_norm"], np.linalg.norm(z.grad.double().numpy()), rtol=1e-5)
