"""The benchmarks' check mode and a tiny run of the entry point (no timing asserts: the machine is noisy)."""

import numpy as np
import pytest

from bench import __main__ as bench_main
from bench import handwritten, memory, scaling, step, timing


@pytest.mark.parametrize("bn", [True, False])
def test_hand_written_gradients_equal_ours(bn):
    assert step.check(batch_size=16, bn=bn) <= 1e-9


def test_check_fails_when_the_hand_written_backward_is_wrong(monkeypatch):
    real = handwritten.loss_and_grads

    def broken(*args, **kwargs):
        loss, grads = real(*args, **kwargs)
        grads[0]["gamma"] = grads[0]["gamma"] * 1.01
        return loss, grads
    monkeypatch.setattr(handwritten, "loss_and_grads", broken)
    with pytest.raises(AssertionError, match="gradients differ"):
        step.check(batch_size=16)


def test_hand_written_step_trains_like_ours():
    params = handwritten.init_params(step.SIZES, seed=3)
    x, y = step.batch(32, seed=3)
    ours, hand = step.ours(params, x, y), step.hand(params, x, y)
    losses = [(float(ours().item()), hand()) for _ in range(5)]
    np.testing.assert_allclose([a for a, _ in losses], [b for _, b in losses], rtol=1e-4)
    assert losses[-1][1] < losses[0][1]


def test_memory_is_flat_over_steps():
    params = handwritten.init_params(step.SIZES)
    x, y = step.batch(8)
    _, growth = memory.growth(step.ours(params, x, y), steps=15, settle=5)
    assert abs(growth) < 10_000


def test_entry_point_runs_in_a_tiny_setting(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert bench_main.main(["--quick", "--peers", "torch,micrograd", "--out", str(out)]) == 0
    report = out.read_text()
    for heading in ("## Training step", "## How the cost grows", "## Per-op overhead", "## Memory", "## Rendering"):
        assert heading in report
    assert "| tinygrad_bn |" in report and "blas:" in report and "blocks of consecutive steps" in report
    assert report.strip() == capsys.readouterr().out.strip()


def test_absent_peer_is_reported_not_failed(monkeypatch):
    def unavailable(*args):
        raise bench_main.peers.Unavailable("not installed here")
    monkeypatch.setitem(bench_main.peers.STEPS, "PyTorch eager", unavailable)
    lines = bench_main.step_section((8,), ["PyTorch eager"], repeats=1, quick=True)
    assert any("PyTorch eager" in line and "absent: not installed here" in line for line in lines)


def test_profile_entry_point_runs(capsys):
    from bench import profile
    assert profile.main(["--batch", "8", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tinygrad_bn training step, MLP 784-256-256-10 with BN, batch 8, 2 steps")
    assert "ops.py" in out or "apply" in out  # the profile itself, from pyinstrument or cProfile


def test_blocks_time_consecutive_calls_and_rotate():
    calls = []
    times = timing.blocks({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          repeats=3, seconds=0, warmup=2)
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
    timed = "".join(calls[10:])  # after each one's warmup (2) and calibration (3): blocks of 2 + 1 calls
    assert timed == "aaa" "bbb" "bbb" "aaa" "aaa" "bbb"


def test_crossing_interpolates_on_a_log_axis():
    assert scaling.crossing([16, 64, 256], [1.5, 1.3, 1.05]) == pytest.approx(64 * 4 ** (0.2 / 0.25))
    assert scaling.crossing([16, 64], [1.0, 1.05]) == 16
    assert scaling.crossing([16, 64, 256], [1.05, 1.2, 1.3]) is None
    assert scaling.crossing([16, 64, 256], [1.2, 1.05, 1.3]) is None  # must stay below


def test_scaling_section_writes_the_plot(tmp_path):
    png = tmp_path / "scaling.png"
    lines = bench_main.scaling_section(quick=True, repeats=1, with_torch=False, plot_path=str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert any(line.startswith("| 8 | 256 |") for line in lines)
    assert any("tinygrad_bn over batch size" in line for line in lines)


def test_torch_models_bench_measures_every_stage(tmp_path):
    from bench import torch_models

    seconds, facts, page = torch_models.measure(tmp_path, batch=2, size=32)
    assert set(seconds) == {"capture with gradients", "noise analysis", "explorer page written"}
    assert facts["entries"] == 40 and page.stat().st_size > 0


def test_monitor_overhead_report_runs(capsys):
    from bench import monitor

    assert monitor.main(["--repeats", "1", "--batch", "8", "--logdir"]) == 0
    report = capsys.readouterr().out
    assert "| eager |" in report and "| jit |" in report and "TensorBoard files: written" in report


def test_steps_runs_the_step_a_given_number_of_times():
    from bench import steps

    assert steps.main(["eager", "1", "plain"]) == 0 and steps.main(["jit", "1"]) == 0
