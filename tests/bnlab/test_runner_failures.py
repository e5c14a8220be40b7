"""bnlab.runner: a failing run names its job and keeps its exception as the cause, with joblib and Dask; a dead
worker is an error naming the job within seconds; no partial result; an unreachable scheduler is one line within
the timeout; the local cluster listens on 127.0.0.1 only. Every case runs under a deadline."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import runner_jobs

from bnlab.runner import TIMEOUT, JobError, RemoteTraceback, Runner, SchedulerUnreachable

ROOT = Path(__file__).resolve().parents[2]
RUNNERS = [dict(jobs=1), dict(jobs=2), dict(jobs=2, scheduler="local")]
IDS = ["in-process", "joblib", "dask"]


@contextlib.contextmanager
def deadline(seconds):
    """Fail (instead of hanging) when the block takes longer than ``seconds``."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("kw", RUNNERS, ids=IDS)
def test_a_failing_run_names_its_job_and_keeps_its_exception(kw):
    done = []
    with deadline(60), Runner(progress=False, **kw) as runner:
        assert runner.map(runner_jobs.double, [{"seed": s} for s in range(3)], desc="ok") == [0, 2, 4]
        with pytest.raises(JobError) as info:
            runner.map(runner_jobs.double, [{"seed": s, "bad": 2} for s in range(4)], desc="speed",
                       done=lambda task, result: done.append(task["seed"]))
    e = info.value
    assert str(e) == "Runner: job 3 of 4 of 'speed': double(seed=2, bad=2) raised ValueError: seed 2 is bad"
    assert isinstance(e.__cause__, ValueError) and str(e.__cause__) == "seed 2 is bad"
    assert (e.index, e.task) == (2, {"seed": 2, "bad": 2})
    # the runs that finished before it (all before it, in this process), in task order; never a result list
    assert done == sorted(done) and set(done) <= {0, 1, 3} and (kw["jobs"] > 1 or done == [0, 1])
    if kw["jobs"] > 1:  # from another process: the worker's traceback comes along as text
        assert isinstance(e.__cause__.__cause__, RemoteTraceback)
        remote = str(e.__cause__.__cause__)
        assert "runner_jobs.py" in remote and 'raise ValueError(f"seed' in remote


def test_an_exception_that_cannot_be_pickled_still_names_the_job():
    with deadline(60), Runner(jobs=2, progress=False) as runner, pytest.raises(JobError) as info:
        runner.map(runner_jobs.raise_unpicklable, [{"seed": 0}, {"seed": 1}], desc="odd")
    # both runs fail; whichever failed first is reported (the other may still be running)
    assert re.match(r"Runner: job ([12]) of 2 of 'odd': raise_unpicklable\(seed=(\d)\) raised RuntimeError: "
                    r"Unpicklable: \2 and a lock", str(info.value))


@pytest.mark.parametrize("kw", RUNNERS[1:], ids=IDS[1:])
def test_a_dead_worker_is_an_error_naming_the_job_within_seconds(kw):
    with deadline(90), Runner(progress=False, **kw) as runner:
        start = time.perf_counter()
        with pytest.raises(JobError) as info:
            runner.map(runner_jobs.die, [{"seed": s, "bad": 1} for s in range(3)], desc="small-batch")
        seconds = time.perf_counter() - start
        assert runner.map(runner_jobs.double, [{"seed": 4}], desc="after") == [8]  # the runner still works
    assert seconds < 15, seconds
    assert "job 2 of 3 of 'small-batch': die(seed=1, bad=1)" in str(info.value)
    assert "died" in str(info.value) and info.value.__cause__ is not None


def test_a_nested_job_error_names_both_jobs():
    with deadline(60), Runner(jobs=2, progress=False) as runner, pytest.raises(JobError) as info:
        runner.map(_inner, [{"seed": 0}, {"seed": 1}], desc="experiments")
    assert str(info.value).startswith("Runner: job 2 of 2 of 'experiments': _inner(seed=1) raised JobError: Runner: "
                                      "job 2 of 2 of 'inner': double(seed=1, bad=1) raised ValueError")


def _inner(seed):
    with Runner(jobs=1, progress=False) as runner:
        return runner.map(runner_jobs.double, [{"seed": s, "bad": seed} for s in (3, 1)], desc="inner")


def test_an_unreachable_scheduler_is_refused_within_the_timeout():
    assert Runner().timeout == TIMEOUT == 10.0
    start = time.perf_counter()
    with deadline(30), pytest.raises(SchedulerUnreachable, match=r"Runner: no Dask scheduler answered at "
                                                                 r"'tcp://127.0.0.1:9' within 2 s"):
        Runner(scheduler="tcp://127.0.0.1:9", timeout=2).__enter__()
    assert time.perf_counter() - start < 10


def test_an_unreachable_scheduler_is_one_line_from_the_command(tmp_path):
    argv = [sys.executable, "-m", "bnlab.cli", "experiment", "speed", "--quick", "--out", str(tmp_path),
            "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert time.perf_counter() - start < 30
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Runner: no Dask scheduler answered at 'tcp://127.0.0.1:9' within 2 s")


def test_bad_jobs_is_a_usage_error(capsys):
    from bnlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["experiment", "speed", "--jobs", "0"])
    assert e.value.code == 2 and "--jobs: must be a positive number of processes" in capsys.readouterr().err


def test_the_local_cluster_listens_on_the_loopback_only():
    with deadline(60), Runner(jobs=1, scheduler="local", progress=False) as runner:
        assert runner.map(runner_jobs.double, [{"seed": 1}]) == [2]
        me = psutil.Process()
        listening = [(p.pid, c.laddr) for p in (me, *me.children(recursive=True))
                     for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    ports = {addr.port for _, addr in listening}
    assert len(ports) >= 3  # scheduler, dashboard, worker (and its nanny)
    assert {addr.ip for _, addr in listening} == {"127.0.0.1"}, listening
