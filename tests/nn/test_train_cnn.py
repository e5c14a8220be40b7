"""examples/train_cnn.py: Conv-BN2d-ReLU-MaxPool blocks learn the 8x8 digits (quick setting; full runs by hand)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_cnn.py"


def test_quick_setting_learns_digits(capsys):
    spec = importlib.util.spec_from_file_location("train_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.make_cnn(True, 28)
    assert [type(m).__name__ for m in model][:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert model[-1].in_features == 32 * 7 * 7
    acc = module.main(("digits",), quick=True)
    assert acc["digits batchnorm"] >= 0.7 and acc["digits plain"] >= 0.5  # 3 epochs on 256 images; chance is 0.1
    assert "digits batchnorm: test accuracy" in capsys.readouterr().out
