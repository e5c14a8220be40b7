"""examples/monitor_digits.py: a CNN with and without BN watched by viz.Monitor (quick setting; full runs by hand)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tensorboardX")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monitor_digits.py"


def test_quick_setting_writes_logs_and_plots(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = importlib.util.spec_from_file_location("monitor_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monitors = module.main(quick=True, out=tmp_path / "out", runs=tmp_path / "runs")
    bn, plain = monitors["batchnorm"], monitors["plain"]
    assert set(bn.layers) == {"1", "2", "5", "6"} and set(plain.layers) == {"1", "4"}
    assert sorted(bn.frame().step.unique()) == list(range(0, 24, 2))
    for name in ("monitor_digits.png", "monitor_digits_batchnorm.png", "monitor_digits_plain.png"):
        assert (tmp_path / "out" / name).stat().st_size > 20_000
    acc = EventAccumulator(str(tmp_path / "runs" / "batchnorm"))
    acc.Reload()
    assert "1/mean_gap_p50" in acc.Tags()["scalars"] and "2/input_std" in acc.Tags()["histograms"]
    # BN holds the second block's ReLU input at unit spread; without it the spread is what the convolution makes
    _, bn_std = bn.channels("6", "input_std")
    assert abs(float(bn_std[-1].mean()) - 1) < 0.05
    assert "batchnorm: test accuracy" in capsys.readouterr().out
