"""The `tinygrad-bn render` subcommand and examples/render_batchnorm.py write real SVGs."""

import argparse
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bnlab import render as command

ROOT = Path(__file__).resolve().parents[1]


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


def test_bad_targets(tmp_path):
    with pytest.raises(SystemExit, match="module:function"):
        run("nocolon", "-o", tmp_path / "x.svg")
    with pytest.raises(SystemExit, match="no function"):
        run("bnlab.render:nothing_here", "-o", tmp_path / "x.svg")
    with pytest.raises(SystemExit, match="must return a Tensor"):
        run("os:getcwd", "-o", tmp_path / "x.svg")


def test_example_writes_both_pictures(tmp_path, capsys):
    example = runpy.run_path(str(ROOT / "examples" / "render_batchnorm.py"))
    example["main"](tmp_path, "auto")
    bn, both = texts(tmp_path / "batchnorm.svg"), texts(tmp_path / "bn_vs_layernorm.svg")
    assert "grad norm" in bn and "additive noise (batch mean)" in bn
    assert "layernorm" in both and "batchnorm" in both
    printed = capsys.readouterr().out
    assert printed.count("2 noise entry point(s)") == 2  # the LayerNorm branch adds none
