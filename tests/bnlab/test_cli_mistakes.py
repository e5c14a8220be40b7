"""`tinygrad-bn`: a user's mistake is one line on stderr and exit status 2, never a traceback; a --model file is
imported without running its main block; --version."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = '''from tinygrad_bn import nn

model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))


def make_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3))


if __name__ == "__main__":
    open("main_block_ran.txt", "w").write("it ran")
'''


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(MODELS)
    return "models.py"


@pytest.mark.parametrize("argv, line", [
    (["--input-shape", "4,3,8,8"], "render: models.py:make_model on an input of shape (4, 3, 8, 8): ShapeError: "
                                   "Conv2d: expected an input with 1 channels"),
    (["--input-shape", "4,1,8"], "render: models.py:make_model on an input of shape (4, 1, 8): ShapeError: Conv2d: "
                                 "expected a 4D input"),
    (["--input-shape", "4,1,8,8", "-o", "g.svgz"], "render: unknown format 'svgz' (from 'g.svgz'); choose one of svg"),
    (["--input-shape", "4,1,8,8", "--engine", "wasm", "-o", "g.png"], "render: format 'png' needs the system Graphviz"),
    (["--input-shape", "4,x"], "render: --input-shape must be positive integers"),
])
def test_a_mistake_is_one_line_and_status_2(models, capsys, argv, line):
    assert main(["render", "--model", f"{models}:make_model", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1 and "Traceback" not in err


def test_a_module_object_instead_of_a_factory_is_named(models, capsys):
    assert main(["render", "--model", f"{models}:model", "--input-shape", "4,1,8,8"]) == 2
    assert capsys.readouterr().err == ("render: --model models.py:model is a Sequential object, not a function "
                                       "returning one; name a function (def make_model(): return ...)\n")


def test_an_unknown_format_option_is_refused_by_the_parser(models, capsys):
    with pytest.raises(SystemExit) as e:
        main(["render", "--model", f"{models}:make_model", "--input-shape", "4,1,8,8", "--format", "svgg"])
    assert e.value.code == 2 and "invalid choice: 'svgg'" in capsys.readouterr().err


def test_the_model_file_is_imported_without_running_its_main_block(models, tmp_path, capsys):
    assert main(["render", "--model", f"{models}:make_model", "--input-shape", "4,1,8,8", "-o", "g.svg"]) == 0
    assert (tmp_path / "g.svg").exists() and not (tmp_path / "main_block_ran.txt").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"tinygrad-bn {importlib.metadata.version('tinygrad-bn')}\n"


def test_from_the_shell_a_mistake_has_no_traceback(models, tmp_path):
    argv = [sys.executable, "-m", "bnlab.cli", "render", "--model", "models.py:make_model", "--input-shape", "2,5"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "on an input of shape (2, 5)" in done.stderr
