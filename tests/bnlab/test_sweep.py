"""`tinygrad-bn sweep`: one tidy CSV row per run, the standard plots, and an interrupted sweep resumes."""

import pytest

pytest.importorskip("sklearn")

from bnlab import sweep  # noqa: E402
from bnlab.cli import main  # noqa: E402
from bnlab.runner import Runner  # noqa: E402

ARGS = [
    "sweep",
    "--norm",
    "bn",
    "none",
    "--batch-size",
    "16",
    "32",
    "--lr",
    "0.1",
    "--seeds",
    "2",
    "--steps",
    "20",
    "--jobs",
    "1",
    "--no-progress",
]


def test_sweep_writes_a_tidy_csv_and_plots(tmp_path, capsys):
    assert main(ARGS + ["--out", str(tmp_path)]) == 0
    rows = sweep.read_rows(tmp_path / "sweep.csv")
    assert len(rows) == 2 * 2 * 2 and list(rows[0]) == sweep.CONFIG + sweep.METRICS
    assert {(r["norm"], r["batch_size"], r["seed"]) for r in rows} == {
        (n, b, s) for n in ("bn", "none") for b in ("16", "32") for s in ("0", "1")
    }
    assert all(0 <= float(r["test_acc"]) <= 1 and float(r["seconds"]) > 0 for r in rows)
    for stem in ("sweep_batch_size", "sweep_lr"):
        assert (tmp_path / f"{stem}.svg").stat().st_size > 1000 and (tmp_path / f"{stem}.png").exists()
    assert "8 rows in" in capsys.readouterr().out


def test_an_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path, capsys, monkeypatch):
    grid = sweep.Grid(norms=["bn", "none"], batch_sizes=[16], lrs=[0.1], seeds=2, steps=20)
    calls = []
    real = sweep.run_one

    def interrupted(**task):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third run
        calls.append(task)
        return real(**task)

    monkeypatch.setattr(sweep, "run_one", interrupted)
    with pytest.raises(KeyboardInterrupt), Runner(jobs=1, progress=False) as runner:
        sweep.sweep(grid, tmp_path, runner)
    kept = sweep.read_rows(tmp_path / "sweep.csv")
    assert len(kept) == 2  # the two finished runs were written as they finished

    calls.clear()
    monkeypatch.setattr(sweep, "run_one", lambda **task: calls.append(task) or real(**task))
    with Runner(jobs=1, progress=False) as runner:
        _, rows = sweep.sweep(grid, tmp_path, runner)
    assert len(calls) == 2 and len(rows) == 4  # only the two missing runs ran
    assert rows[:2] == kept  # the finished rows are untouched (same metrics, same wall time)
    assert "2 already in" in capsys.readouterr().out
    with Runner(jobs=1, progress=False) as runner:
        calls.clear()
        sweep.sweep(grid, tmp_path, runner)
    assert calls == []


def test_bad_grid_is_a_clear_error():
    with pytest.raises(ValueError, match="sweep: unknown norm"):
        sweep.Grid(norms=["batchnorm"]).runs()
    with pytest.raises(ValueError, match="sweep: unknown dataset"):
        sweep.Grid(dataset="cifar").runs()
