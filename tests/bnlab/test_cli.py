"""The `tinygrad-bn experiment` command, the demo's options and the examples/ scripts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from bnlab.cli import main  # noqa: E402
from bnlab.experiments import EXPERIMENTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "demo" in text and "experiment" in text and "Run every experiment" in text
    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in EXPERIMENTS) and "--quick" in text and "--seed" in text


def test_experiment_command_writes_figures_and_json(tmp_path, capsys):
    assert main(["experiment", "test-time", "--quick", "--no-progress", "--seed", "1", "--seeds", "2",
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "test-time.json").read_text())
    assert result["seed"] == 1 and result["quick"] is True
    assert result["provenance"]["seeds"] == [10_000, 10_001]  # --seed 1 shares no seed with --seed 0
    assert all(c["n"] == 2 for c in result["checks"] if c["method"].startswith(("paired", "t interval")))
    assert f"test-time: {result['verdict']} — {result['finding']}" in printed and str(tmp_path.resolve()) in printed
    for f in result["figures"]:
        assert (tmp_path / f"{f['stem']}.svg").stat().st_size > 1000
        assert (tmp_path / f"{f['stem']}.png").stat().st_size > 1000


def test_unknown_experiment_name_is_rejected(capsys):
    with pytest.raises(SystemExit) as info:
        main(["experiment", "speedy"])
    assert info.value.code == 2 and "invalid choice: 'speedy'" in capsys.readouterr().err


def test_every_experiment_has_an_example_script():
    for name, module in EXPERIMENTS.items():
        script = ROOT / "examples" / f"{module.rsplit('.', 1)[-1]}.py"  # named as the experiment's module
        assert f'main("{name}")' in script.read_text()


def test_example_script_runs(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "noise.py"),
            "--quick",
            "--no-progress",
            "--seed",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "noise: " in done.stdout
    assert json.loads((tmp_path / "noise.json").read_text())["seed"] == 2
    assert (tmp_path / "noise_graph.svg").exists() and (tmp_path / "noise_scaling.png").exists()


@pytest.mark.parametrize(("option", "value"), [("--seeds", "0"), ("--seed", "-1")])
def test_a_bad_seed_count_or_block_is_rejected(capsys, option, value):
    with pytest.raises(SystemExit) as info:
        main(["experiment", "noise", "--quick", option, value])
    assert info.value.code == 2 and f"argument {option}: must be a whole number" in capsys.readouterr().err
