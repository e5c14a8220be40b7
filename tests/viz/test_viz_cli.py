"""The `tinygrad-bn render` subcommand and examples/render_batchnorm.py write real SVGs."""

import argparse
import os
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bnlab import render as command

ROOT = Path(__file__).resolve().parents[2]


def run(*argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args([str(a) for a in argv]))


def texts(path):
    return " ".join(t.text or "" for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text"))


def test_builtin_training_step(tmp_path, capsys):
    from bnlab.cli import main

    out = tmp_path / "step.svg"
    assert main(["render", "-o", str(out), "--batch-size", "16"]) == 0
    text = texts(out)
    assert "grad norm" in text and "multiplicative noise (batch std)" in text and "digits" in text
    printed = capsys.readouterr().out
    assert "3 noise entry point(s)" in printed and "random" in printed and str(out) in printed


def test_user_function_from_a_file(tmp_path, capsys):
    src = tmp_path / "mine.py"
    src.write_text("import numpy as np\nfrom tinygrad_bn import Tensor\n\n"
                   "def step():\n"
                   "    x = Tensor(np.arange(24.0).reshape(8, 3), requires_grad=True, name='mine')\n"
                   "    return ((x - x.mean(axis=0)) ** 2).mean()\n")
    out = tmp_path / "mine.svg"
    assert run(f"{src}:step", "-o", out, "--engine", "wasm", "--no-backward") == 0
    text = texts(out)
    assert "mine" in text and "grad norm" not in text
    assert "1 noise entry point(s)" in capsys.readouterr().out


def test_package_module_and_file_targets_are_found_from_the_current_directory(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "steps.py").write_text("import numpy as np\nfrom tinygrad_bn import Tensor\n\n"
                                  "def step():\n"
                                  "    x = Tensor(np.arange(24.0).reshape(8, 3), requires_grad=True, name='pkgx')\n"
                                  "    return (x - x.mean(axis=0)).sum()\n")
    (tmp_path / "helper.py").write_text("from mypkg.steps import step\n")
    (tmp_path / "script.py").write_text("from helper import step as inner\n\ndef step():\n    return inner()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert run("mypkg.steps:step", "-o", "a.svg") == 0 and "pkgx" in texts(tmp_path / "a.svg")
    assert run("script.py:step", "-o", "b.svg") == 0 and "pkgx" in texts(tmp_path / "b.svg")


def test_a_model_from_a_file_on_a_random_input(tmp_path, capsys):
    src = tmp_path / "models.py"
    src.write_text("from tinygrad_bn import nn\n\n"
                   "def make_model():\n"
                   "    return nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))\n")
    out = tmp_path / "model.svg"
    assert run("--model", f"{src}:make_model", "--input-shape", "4,1,8,8", "--classes", "3", "-o", out) == 0
    text = texts(out)
    assert "0 · BatchNorm2d(1, eps=1e-05, momentum=0.1, …) · (4, 1, 8, 8) → (4, 1, 8, 8)" in text
    assert "Conv2d" in text and "cross_entropy" in text and "(4, 3) → ()" in text and "grad norm" in text
    assert "2 noise entry point(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--model needs --input-shape"):
        run("--model", f"{src}:make_model", "-o", out)
    with pytest.raises(SystemExit, match="positive integers"):
        run("--model", f"{src}:make_model", "--input-shape", "4,x", "-o", out)
    with pytest.raises(SystemExit, match="must return an nn.Module"):
        run("--model", "os:getcwd", "--input-shape", "4,3", "-o", out)


def test_bad_targets(tmp_path):
    with pytest.raises(SystemExit, match="module:function"):
        run("nocolon", "-o", tmp_path / "x.svg")
    with pytest.raises(SystemExit, match="no function"):
        run("bnlab.render:nothing_here", "-o", tmp_path / "x.svg")
    with pytest.raises(SystemExit, match="must return a Tensor"):
        run("os:getcwd", "-o", tmp_path / "x.svg")
    with pytest.raises(SystemExit, match="no Python file"):
        run("missing.py:step", "-o", tmp_path / "x.svg")
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n1 / 0\n")
    with pytest.raises(SystemExit, match=r"cannot import .*broken.py.*ZeroDivisionError"):
        run(f"{broken}:step", "-o", tmp_path / "x.svg")


def test_a_bad_target_is_one_line_from_the_command(tmp_path):
    argv = [sys.executable, "-m", "bnlab.cli", "render", "nosuch.module:fn", "-o", str(tmp_path / "x.svg")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["render: cannot import 'nosuch.module': ModuleNotFoundError: "
                                                "No module named 'nosuch'"]


def test_example_writes_both_pictures(tmp_path, capsys):
    pictures = runpy.run_path(str(ROOT / "examples" / "render_model.py"))
    pictures["main"](tmp_path, "svg")
    overview = texts(tmp_path / "viz_cnn_overview.svg")
    assert "0 · BatchNorm2d(1, eps=1e-05, momentum=0.1, …)" in overview and "cross_entropy" in overview
    assert "(16, 10) → ()" in overview
    assert {"viz_mlp_bn.svg", "batchnorm.svg"} <= {p.name for p in tmp_path.iterdir()}
    capsys.readouterr()
    example = runpy.run_path(str(ROOT / "examples" / "render_batchnorm.py"))
    example["main"](tmp_path, "auto")
    bn, both = texts(tmp_path / "batchnorm.svg"), texts(tmp_path / "bn_vs_layernorm.svg")
    assert "grad norm" in bn and "additive noise (batch mean)" in bn
    assert "layernorm" in both and "batchnorm" in both
    printed = capsys.readouterr().out
    assert printed.count("2 noise entry point(s)") == 2  # the LayerNorm branch adds none
