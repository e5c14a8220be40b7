"""`tinygrad-bn demo --compare OLD`: per check, whether the verdict and the interval agree with a previous run."""

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from quick_demo import quick_demo  # noqa: E402

from bnlab import agreement  # noqa: E402
from bnlab.cli import main  # noqa: E402
from bnlab.experiments import EXPERIMENTS, Result  # noqa: E402
from bnlab.stats import Check  # noqa: E402


def _results(folder):
    records = {n: json.loads((folder / f"{n}.json").read_text()) for n in EXPERIMENTS}
    return records, [Result(r["name"], r["claim"], [Check(**c) for c in r["checks"]], r["finding"], {})
                     for r in records.values()]


def test_a_run_agrees_with_itself_and_a_changed_check_is_named(tmp_path_factory):
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    old, results = _results(out)
    rows = agreement.compare(old, results)
    assert rows and all(r["status"] == "agrees" for r in rows)
    first = old["speed"]["checks"][0]
    first.update(outcome="not detected", low=first["high"] + 1, high=first["high"] + 2)
    old["noise"]["checks"].append({**old["noise"]["checks"][0], "claim": "a check this run no longer has"})
    rows = {(r["experiment"], r["claim"]): r for r in agreement.compare(old, results)}
    changed = rows["speed", first["claim"]]
    assert changed["status"] == "differs" and not changed["verdict_agrees"] and not changed["interval_agrees"]
    assert rows["noise", "a check this run no longer has"]["status"] == "dropped"
    assert "verdict differs, intervals do not overlap" in agreement.describe(changed)


def test_demo_compare_reruns_and_reports_per_check(tmp_path, tmp_path_factory, capsys):
    old, _ = quick_demo(tmp_path_factory.getbasetemp())
    out = tmp_path / "new"
    assert main(["demo", "--quick", "--no-progress", "--seed", "1", "--seeds", "2", "--out", str(out),
                 "--compare", str(old)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((out / "compare.json").read_text())["checks"]
    n_checks = sum(len(json.loads((out / f"{n}.json").read_text())["checks"]) for n in EXPERIMENTS)
    assert len(rows) >= n_checks and all(r["status"] in ("agrees", "differs") for r in rows)
    assert "checks agree" in printed and "Against the previous run" in (out / "report.html").read_text()
    noise = json.loads((out / "noise.json").read_text())
    assert noise["provenance"]["seeds"] == [10_000, 10_001]  # disjoint from the old run's 0, 1, 2


def test_compare_with_a_folder_without_results_is_one_line(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "o"), "--compare", str(tmp_path)]) == 2
    assert "holds no experiment JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before running anything
