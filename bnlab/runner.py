"""Run an experiment's independent runs in parallel: joblib worker processes here, or on a Dask distributed cluster.

A run is a module-level function called with keyword arguments that hold everything it depends on (its seed
among them), so its numbers do not depend on where or in which order it ran. Every run computes with one
BLAS thread (threadpoolctl), which is also faster for these small matrices than sharing cores.

    with Runner(jobs=2) as runner:                      # or scheduler="local" / "tcp://host:8786"
        results = runner.map(train_one, [{"seed": s} for s in range(10)], desc="seeds")

A run that raises, or whose worker process dies, stops the map with a :class:`JobError` naming the job
(``desc``, the function and its arguments); ``map`` returns all results or none.
"""

from __future__ import annotations

import os
import pickle
import re
import socket
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
from joblib.externals.loky.process_executor import TerminatedWorkerError
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from tinygrad_bn.malloc import steady_malloc

__all__ = ["TIMEOUT", "JobError", "RemoteTraceback", "Runner", "SchedulerUnreachable"]

TIMEOUT = 10.0
"""Seconds :class:`Runner` waits for a Dask scheduler given by address before :class:`SchedulerUnreachable`."""

Outcome = tuple[int, bool, Any]
"""``(index of the task, whether it returned, its result or (exception, traceback text, (host, process id)))``."""


class JobError(RuntimeError):
    """A run of :meth:`Runner.map` failed; the message names the job, ``__cause__`` is the run's own exception.

    Args:
        message: what failed, naming the job.
        index: the failed task's position in ``tasks`` (also an attribute).
        task: its keyword arguments (also an attribute).
    """

    def __init__(self, message: str, index: int, task: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.index, self.task = index, task

    def __reduce__(self) -> tuple[type, tuple[str, int, Mapping[str, Any]]]:  # a nested map's error travels back
        return JobError, (str(self), self.index, self.task)


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given within the timeout."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process, as text: the ``__cause__`` of that exception."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


def _call(fn: Callable[..., Any], kwargs: Mapping[str, Any], index: int, marks: str | None) -> Outcome:
    """Run ``fn(**kwargs)`` with one BLAS thread and steady malloc thresholds (``tinygrad_bn.malloc``), in whichever
    process or Dask worker it lands.

    Marks its start in the folder ``marks`` (local processes), so a worker's death names the job it ran. An
    exception comes back as a value, with its traceback as text (a pickled exception loses its traceback).
    """
    if marks is not None:
        Path(marks, str(index)).touch()
    steady_malloc()
    try:
        with threadpool_limits(1, user_api="blas"):
            return index, True, fn(**kwargs)
    except Exception as e:
        try:
            pickle.dumps(e)
        except Exception:  # an exception that cannot travel back: its type and message do
            e = RuntimeError(f"{type(e).__name__}: {e}")
        return index, False, (e, traceback.format_exc(), _here())


def _here() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Runner:
    """Where an experiment's runs execute.

    Args:
        jobs: worker processes on this machine (None or -1: all cores; 1: in this process, one after another).
            With ``scheduler="local"``, the number of Dask workers.
        scheduler: None for joblib's own worker processes; ``"local"`` starts a ``dask.distributed.LocalCluster``
            here (scheduler, workers and dashboard listening on 127.0.0.1 only; a job whose worker dies is
            not retried); an address such as ``"tcp://10.0.0.5:8786"`` connects to a running ``dask scheduler``
            whose workers have this package installed (a job whose worker dies is retried on another worker
            up to that scheduler's ``distributed.scheduler.allowed-failures`` times, 3 by default).
        progress: show a tqdm bar per :meth:`map`.
        timeout: seconds to wait for the scheduler at ``scheduler``'s address.

    Use it as a context manager: the Dask client (and a local cluster) are closed on exit.

    Raises:
        ValueError: ``jobs`` is 0 or below -1.
    """

    def __init__(self, jobs: int | None = None, scheduler: str | None = None, progress: bool = True,
                 timeout: float = TIMEOUT) -> None:
        if jobs is not None and (jobs == 0 or jobs < -1):
            raise ValueError(f"Runner: jobs must be a positive number of processes or -1 (all cores), got {jobs}")
        self.jobs = (os.cpu_count() or 1) if jobs in (None, -1) else jobs
        self.scheduler = scheduler
        self.progress = progress
        self.timeout = timeout
        self._client = self._cluster = None

    def __enter__(self) -> Runner:
        """Start the local cluster or connect to the scheduler (nothing to do for joblib).

        Raises:
            SchedulerUnreachable: no scheduler answered at the address within ``timeout`` seconds.
        """
        if self.scheduler == "local":
            import dask
            from dask.distributed import Client, LocalCluster

            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address="127.0.0.1:0")
            self._client = Client(self._cluster)
        elif self.scheduler:
            from dask.distributed import Client

            try:
                self._client = Client(self.scheduler, timeout=self.timeout)
            except (OSError, ValueError) as e:  # refused, unresolvable or timed out; a malformed address
                raise SchedulerUnreachable(f"Runner: no Dask scheduler answered at {self.scheduler!r} within "
                                           f"{self.timeout:g} s ({type(e).__name__}: {e})") from e
        return self

    def __exit__(self, *exc: object) -> None:
        for part in (self._client, self._cluster):
            if part is not None:
                part.close()
        self._client = self._cluster = None

    def __repr__(self) -> str:
        return f"Runner(jobs={self.jobs}, scheduler={self.scheduler!r})"

    def map(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Mapping[str, Any]],
        *,
        desc: str = "runs",
        done: Callable[[Mapping[str, Any], Any], None] | None = None,
    ) -> list[Any]:
        """``[fn(**task) for task in tasks]``, computed in parallel, in the order of ``tasks``.

        Args:
            fn: a module-level function (it is pickled to the workers).
            tasks: one mapping of keyword arguments per run.
            desc: the progress bar's label and the name of the jobs in errors (the experiment's name).
            done: called in this process as ``done(task, result)`` for each result, in the order of ``tasks``
                (a sweep appends its CSV row there, so an interruption loses no finished run); when a run
                fails, for every run that had finished, still in task order, before the error is raised.

        Raises:
            RuntimeError: when ``scheduler`` is set but the runner was not entered (``with Runner(...)``).
            JobError: a run raised (its exception is the ``__cause__``) or its worker process died; the jobs
                still queued are cancelled and no result list is returned.

        Returns:
            The results, in the order of ``tasks``.
        """
        if self.scheduler and self._client is None:
            raise RuntimeError("Runner.map: enter the runner first (`with Runner(scheduler=...) as runner:`)")
        tasks = list(tasks)

        def job(i: int) -> str:
            args = ", ".join(f"{k}={_short(v)}" for k, v in tasks[i].items())
            return f"job {i + 1} of {len(tasks)} of {desc!r}: {fn.__name__}({args})"

        outcomes = self._dask(fn, tasks, job) if self.scheduler else self._joblib(fn, tasks, job)
        results: dict[int, Any] = {}
        ordered: list[Any] = []
        bar = tqdm(total=len(tasks), desc=desc, leave=False, disable=not self.progress)
        with bar:
            for i, ok, value in outcomes:
                if not ok:
                    error, text, where = value
                    if where != _here() and error.__cause__ is None:  # from another process: its traceback as text
                        error.__cause__ = RemoteTraceback(text)
                    with warnings.catch_warnings():  # joblib warns that it cancels them: that is the point
                        warnings.simplefilter("ignore", UserWarning)
                        outcomes.close()  # cancels the jobs still running or queued
                    for k in sorted(results) if done is not None else ():  # the runs that finished still count
                        done(tasks[k], results[k])
                    raise JobError(f"Runner: {job(i)} raised {type(error).__name__}: {error}", i, tasks[i]) \
                        from error
                bar.update()
                results[i] = value
                while len(ordered) in results:  # hand on the results in the order of the tasks
                    k = len(ordered)
                    ordered.append(results.pop(k))
                    if done is not None:
                        done(tasks[k], ordered[k])
        if len(ordered) != len(tasks):
            raise RuntimeError(f"Runner: only {len(ordered)} of {len(tasks)} jobs of {desc!r} returned")
        return ordered

    def _joblib(self, fn: Callable[..., Any], tasks: list[Mapping[str, Any]],
                job: Callable[[int], str]) -> Iterator[Outcome]:
        """The outcomes as they finish, from joblib's processes; a worker's death names the jobs it may have run."""
        finished: set[int] = set()
        with tempfile.TemporaryDirectory(prefix="bnlab-runner-") as marks:
            stream = joblib.Parallel(n_jobs=min(self.jobs, max(len(tasks), 1)), return_as="generator_unordered",
                                     batch_size=1)(
                joblib.delayed(_call)(fn, task, i, marks) for i, task in enumerate(tasks))
            try:
                for outcome in stream:
                    finished.add(outcome[0])
                    yield outcome
            except TerminatedWorkerError as e:
                lost = sorted(i for i in map(int, os.listdir(marks)) if i not in finished)
                which = " or ".join(job(i) for i in lost) or "a job"
                codes = re.search(r"exit codes of the workers are (\{.*?\})", str(e))
                raise JobError(f"Runner: a worker process died while running {which}"
                               + (f" (exit codes {codes[1]})" if codes else ""), lost[0] if lost else -1,
                               tasks[lost[0]] if lost else {}) from e

    def _dask(self, fn: Callable[..., Any], tasks: list[Mapping[str, Any]],
              job: Callable[[int], str]) -> Iterator[Outcome]:
        """The outcomes as they finish, from the Dask cluster; a worker's death (KilledWorker) names its job."""
        from dask.distributed import KilledWorker, as_completed

        futures = [self._client.submit(_call, fn, task, i, None, pure=False) for i, task in enumerate(tasks)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except KilledWorker as e:
                    i = index[future.key]
                    raise JobError(f"Runner: the Dask worker running {job(i)} died", i, tasks[i]) from e
        finally:
            self._client.cancel(futures)
