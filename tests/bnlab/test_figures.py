"""Every figure the experiments write: no text outside the figure, every axis labelled, no legend over data."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from bnlab import plots  # noqa: E402
from bnlab.experiments import EXPERIMENTS, run_experiment  # noqa: E402
from bnlab.runner import Runner  # noqa: E402


def test_the_layout_check_finds_each_kind_of_problem():
    fig, ax = plots.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 50)
    for i in range(4):
        ax.plot(x, np.full_like(x, i / 3), label=f"a long legend entry {i}")
    ax.legend(loc="center")  # right over the lines
    ax.set_title("a title far too long to fit in a figure this narrow, so it is cut off on both sides")
    problems = " | ".join(plots.layout_problems(fig))
    assert "legend covers" in problems and "outside the figure" in problems
    assert "the x axis has no label" in problems and "the y axis has no label" in problems


def test_save_moves_a_legend_off_the_data(tmp_path):
    fig, ax = plots.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 50)
    for i in range(4):
        ax.plot(x, np.full_like(x, i / 3), label=f"series {i}")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="center")
    plots.save(fig, tmp_path / "f")
    assert plots.layout_problems(fig) == [] and (tmp_path / "f.svg").exists()


def test_every_experiment_figure_passes_the_layout_check(tmp_path, monkeypatch):
    found = {}
    save = plots.save

    def checked(fig, stem):
        paths = save(fig, stem)
        found[Path(stem).name] = plots.layout_problems(fig)
        return paths

    monkeypatch.setattr(plots, "save", checked)  # the experiments' runs here, in this process, so every save is seen
    with Runner(jobs=1, progress=False) as runner:
        for name in EXPERIMENTS:
            result = run_experiment(name, quick=True, out=tmp_path, runner=runner)
            drawn = {f.stem for f in result.figures} - {"noise_graph"}  # viz draws that one, not matplotlib
            assert drawn <= set(found), (name, drawn - set(found))
    assert len(found) >= 18
    assert {stem: p for stem, p in found.items() if p} == {}
