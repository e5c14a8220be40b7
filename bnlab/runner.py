"""Run an experiment's independent runs in parallel: joblib worker processes here, or on a Dask distributed cluster.

A run is a module-level function called with keyword arguments that hold everything it depends on (its seed
among them), so its numbers do not depend on where or in which order it ran. Every run computes with one
BLAS thread (threadpoolctl), which is also faster for these small matrices than sharing cores.

    with Runner(jobs=2) as runner:                      # or scheduler="local" / "tcp://host:8786"
        results = runner.map(train_one, [{"seed": s} for s in range(10)], desc="seeds")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import joblib
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from tinygrad_bn.malloc import steady_malloc

__all__ = ["Runner"]


def _call(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """Run ``fn(**kwargs)`` with one BLAS thread and steady malloc thresholds (in whichever process or Dask worker
    it lands: ``tinygrad_bn.malloc``)."""
    steady_malloc()
    with threadpool_limits(1, user_api="blas"):
        return fn(**kwargs)


class Runner:
    """Where an experiment's runs execute.

    Args:
        jobs: worker processes on this machine (None or -1: all cores; 1: in this process, one after another).
            With ``scheduler="local"``, the number of Dask workers.
        scheduler: None for joblib's own worker processes; ``"local"`` starts a ``dask.distributed.LocalCluster``
            here; an address such as ``"tcp://10.0.0.5:8786"`` connects to a running ``dask scheduler`` whose
            workers have this package installed. Runs then go through joblib's dask backend.
        progress: show a tqdm bar per :meth:`map`.

    Use it as a context manager: the Dask client (and a local cluster) are closed on exit.

    Raises:
        ValueError: ``jobs`` is 0 or below -1.
    """

    def __init__(self, jobs: int | None = None, scheduler: str | None = None, progress: bool = True) -> None:
        if jobs is not None and (jobs == 0 or jobs < -1):
            raise ValueError(f"Runner: jobs must be a positive number of processes or -1 (all cores), got {jobs}")
        self.jobs = (os.cpu_count() or 1) if jobs in (None, -1) else jobs
        self.scheduler = scheduler
        self.progress = progress
        self._client = self._cluster = None

    def __enter__(self) -> Runner:
        if self.scheduler:
            from dask.distributed import Client, LocalCluster

            if self.scheduler == "local":
                self._cluster = LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True, dashboard_address=None
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler)
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
            desc: the progress bar's label.
            done: called in this process as ``done(task, result)`` as each result arrives, in order
                (a sweep appends its CSV row there, so an interruption loses no finished run).

        Raises:
            RuntimeError: when ``scheduler`` is set but the runner was not entered (``with Runner(...)``).

        Returns:
            The results, in the order of ``tasks``.
        """
        if self.scheduler and self._client is None:
            raise RuntimeError("Runner.map: enter the runner first (`with Runner(scheduler=...) as runner:`)")
        calls = (joblib.delayed(_call)(fn, task) for task in tasks)
        if self.scheduler:
            with joblib.parallel_config(backend="dask"):
                stream = joblib.Parallel(n_jobs=-1, return_as="generator")(calls)
                return self._collect(stream, tasks, desc, done)
        n_jobs = min(self.jobs, max(len(tasks), 1))
        stream = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(calls)
        return self._collect(stream, tasks, desc, done)

    def _collect(self, stream, tasks, desc, done) -> list[Any]:
        results = []
        for task, result in zip(
            tasks, tqdm(stream, total=len(tasks), desc=desc, leave=False, disable=not self.progress)
        ):
            if done is not None:
                done(task, result)
            results.append(result)
        return results
