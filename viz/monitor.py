"""``Monitor``: watch a model's normalization layers while it trains (Ioffe & Szegedy's Fig. 1, as it happens).

``mon = viz.Monitor(model, every=10, logdir="runs/bn")`` puts module hooks on every normalization layer
(or the modules you name) of a tinygrad_bn or a PyTorch model. Every ``every`` steps it records, per layer,
per-channel vectors (channels: axis 1, the last axis for LayerNorm), each summarised by its 15/50/85th
percentiles across channels:

- ``input_mean``, ``input_std``: each channel's mean and standard deviation over the batch (and positions);
- ``input_q15``, ``input_q50``, ``input_q85``: each channel's percentiles over the batch and positions (one
  unit's distribution, Fig. 1's curves; from at most 4096 evenly spaced values per channel);
- ``output_mean``, ``output_std``: the same of the layer's output;
- ``mean_gap`` = ``|mu_B - mu_running| / sigma_running`` and ``std_ratio`` = ``sigma_B / sigma_running``, with
  ``sigma = sqrt(var + eps)`` as the layer divides by it: how far this batch's statistics (biased variance) are
  from the running ones before this batch's update, the noise the batch adds (layers with running statistics);
- ``gamma``, ``beta``: the affine parameters;

and, as scalars, ``grad_output_norm`` (the gradient arriving at the layer's output) and ``grad_input_norm``
(the gradient the layer sends to its input). A step is each training-mode forward call of the model, or,
once :meth:`Monitor.step` has been called (or with ``count_forward=False``), what lies between two ``step()``
calls.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas as pd

    from .explore import Timeline

NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "GhostBatchNorm", "LayerNorm", "GroupNorm",
         "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")
PERCENTILES = (15, 50, 85)
CHANNEL_STATS = ("input_mean", "input_std", "input_q15", "input_q50", "input_q85", "output_mean", "output_std",
                 "mean_gap", "std_ratio", "gamma", "beta")
_SUMMARIES = {stat: tuple(f"{stat}_p{p}" for p in PERCENTILES) for stat in CHANNEL_STATS}
GRAD_STATS = ("grad_output_norm", "grad_input_norm")
MAX_VALUES = 4096  # values per channel the input's percentiles are taken from (evenly spaced beyond)
HISTOGRAM_BINS = 30
HISTOGRAMS = ("input_mean", "input_std", "output_mean", "output_std", "gamma", "beta")


class Monitor:
    """Record the statistics of a model's normalization layers while it trains (see the module docstring).

    Args:
        model: a ``tinygrad_bn.nn.Module`` or a ``torch.nn.Module``.
        every: record every ``every``-th step (step 0 first); None records only inside :meth:`record`.
        logdir: write TensorBoard event files here (scalars ``layer/statistic_p50`` ..., histograms
            ``layer/statistic``), through tensorboardX.
        layers: the modules to watch instead of the normalization layers: module paths (``"3"``,
            ``"block.bn"``) or classes, one or a list.
        histograms: also write the per-channel vectors as TensorBoard histograms.
        timeline: keep each recorded step's batch and parameters, for :meth:`timeline` (tinygrad_bn models).
        count_forward: each training-mode forward call of the model starts a step (until :meth:`step` is first
            called); False: only :meth:`step` does.

    Raises:
        ValueError: ``every`` is not a positive int or None, a named layer does not exist, or nothing is watched.
        TypeError: ``model`` is neither kind of module.
    """

    def __init__(self, model: Any, every: int | None = 10, logdir: str | Path | None = None, *,
                 layers: str | type | Iterable[str | type] | None = None, histograms: bool = True,
                 timeline: bool = False, count_forward: bool = True) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"Monitor: every must be a positive int or None, got {every!r}")
        self.model, self.every, self.histograms = model, every, histograms
        self._torch = _is_torch(model)
        self.layers = _select(model, layers)
        self.steps = 0  # the current step
        self._counted, self._manual = False, not count_forward
        self._forced = 0
        self._values: dict[tuple[int, str, str], float] = {}
        self._channels: dict[tuple[int, str, str], np.ndarray] = {}
        self._unsummarised: list[tuple[int, str, str]] = []  # vectors without their percentiles yet
        self._unwritten: list[tuple[int, str, str]] = []  # values not yet in the event files
        self._unwritten_vectors: list[tuple[int, str, str]] = []
        self._kept: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] | None = {} if timeline else None
        if timeline and self._torch:
            raise ValueError("Monitor: timeline=True needs a tinygrad_bn model (viz.Timeline captures its graphs)")
        self._writer: _EventWriter | None = None
        if logdir is not None:
            _needs("tensorboardX", "logdir=")
            self._writer = _EventWriter(str(logdir))
        self._handles = [model.register_forward_pre_hook(self._count)]
        for name, m in self.layers.items():
            self._handles += [m.register_forward_pre_hook(self._pre(name)), m.register_forward_hook(self._post(name))]
            if not self._torch:  # torch's full backward hooks break on an in-place op after the layer (ReLU)
                self._handles.append(m.register_full_backward_hook(self._backward(name)))

    # ----- steps ----------------------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the current step is recorded (every ``every``-th step, or inside :meth:`record`)."""
        return self._forced > 0 or (self.every is not None and self.steps % self.every == 0)

    def step(self) -> None:
        """End the current step (call it after each optimizer step); from the first call on, forward calls no longer
        count steps."""
        self._manual = True
        self._advance()

    @contextmanager
    def record(self) -> Iterator[Monitor]:
        """Context manager: record the calls inside the block, in any mode, as the current step (a probe batch).

        Yields:
            The monitor.
        """
        self._forced += 1
        try:
            yield self
        finally:
            self._forced -= 1

    def _advance(self) -> None:
        self._write()
        self.steps += 1

    def _count(self, module: Any, args: tuple) -> None:
        if module.training and not self._manual and self._forced == 0:
            if self._counted:
                self._advance()
            self._counted = True
        if self._kept is not None and args and self._recording(module):
            self._kept[self.steps] = (np.array(_array(args[0])), module.state_dict())  # state_dict() copies

    # ----- the hooks ------------------------------------------------------------------------------------------------
    def _recording(self, module: Any) -> bool:
        return self._forced > 0 or (module.training and self.active)

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: tuple) -> None:
            if not args or not self._recording(module):
                return
            x = _array(args[0])
            axis = _channel_axis(module, x)
            mean, var = _moments(x, axis)
            self._keep(name, "input_mean", mean)
            self._keep(name, "input_std", np.sqrt(var))
            for p, q in zip(PERCENTILES, _channel_percentiles(x, axis)):
                self._keep(name, f"input_q{p}", q)
            running_mean, running_var = getattr(module, "running_mean", None), getattr(module, "running_var", None)
            if running_mean is not None and running_var is not None and "BatchNorm" in type(module).__name__:
                sigma = np.sqrt(_array(running_var).astype(np.float64) + module.eps)
                self._keep(name, "mean_gap", np.abs(mean - _array(running_mean)) / sigma)
                self._keep(name, "std_ratio", np.sqrt(var + module.eps) / sigma)
            if self._torch and args[0].requires_grad:
                args[0].register_hook(lambda g: self._norm(name, "grad_input_norm", g))
        return hook

    def _post(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: tuple, out: Any) -> None:
            if not self._recording(module):
                return
            y = _array(out)
            mean, var = _moments(y, _channel_axis(module, y))
            self._keep(name, "output_mean", mean)
            self._keep(name, "output_std", np.sqrt(var))
            for stat, attr in (("gamma", "weight"), ("beta", "bias")):
                p = getattr(module, attr, None)
                if p is not None:
                    self._keep(name, stat, _array(p).ravel())
            if self._torch and out.requires_grad:
                out.register_hook(lambda g: self._norm(name, "grad_output_norm", g))
        return hook

    def _backward(self, name: str) -> Callable[..., None]:
        def hook(module: Any, grad_input: tuple, grad_output: tuple) -> None:
            if self._recording(module):
                self._norm(name, "grad_output_norm", grad_output[0])
                self._norm(name, "grad_input_norm", grad_input[0] if grad_input else None)
        return hook

    def _norm(self, name: str, stat: str, g: Any) -> None:
        if g is not None:
            a = _array(g).astype(np.float64).ravel()
            self._values[self.steps, name, stat] = float(np.sqrt(a @ a))
            self._unwritten.append((self.steps, name, stat))

    def _keep(self, name: str, stat: str, vector: np.ndarray) -> None:
        key = (self.steps, name, stat)
        self._channels[key] = np.asarray(vector, dtype=np.float64)
        self._unsummarised.append(key)
        self._unwritten_vectors.append(key)

    def _summarise(self) -> None:
        """The 15/50/85th percentiles across channels of the vectors recorded since the last call."""
        for key, v in _summaries({k: self._channels[k] for k in dict.fromkeys(self._unsummarised)}):
            self._values[key] = v
        self._unsummarised.clear()

    # ----- results --------------------------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """The records as a tidy table: one row per step, layer and statistic.

        Returns:
            A pandas DataFrame with columns ``step``, ``layer``, ``statistic``, ``value``, sorted by step.
        """
        pd = _needs("pandas", "frame()")
        self._summarise()
        rows = sorted(((s, layer, stat, v) for (s, layer, stat), v in self._values.items()), key=lambda r: r[0])
        return pd.DataFrame(rows, columns=["step", "layer", "statistic", "value"])

    def channels(self, layer: str, statistic: str) -> tuple[list[int], np.ndarray]:
        """One per-channel statistic of one layer over the recorded steps.

        Args:
            layer: the layer's name (a key of :attr:`layers`).
            statistic: one of :data:`CHANNEL_STATS`.

        Returns:
            The steps and an array (steps, channels).

        Raises:
            KeyError: nothing of that layer and statistic was recorded.
        """
        steps = sorted(s for s, n, st in self._channels if n == layer and st == statistic)
        if not steps:
            raise KeyError(f"Monitor.channels: no {statistic!r} recorded for layer {layer!r} (layers: "
                           f"{', '.join(self.layers)}; statistics: {', '.join(CHANNEL_STATS)})")
        return steps, np.stack([self._channels[s, layer, statistic] for s in steps])

    def plot(self, path: str | Path | None = None, statistics: Sequence[str] = ("input_mean", "input_std"),
             layers: Sequence[str] | None = None) -> matplotlib.figure.Figure:
        """Percentile bands over steps, one row per layer and one column per statistic: the 15-85th percentile
        across channels shaded, the median drawn (Ioffe & Szegedy's Fig. 1, for every layer).

        Args:
            path: also save the figure here (PNG, SVG or PDF by the suffix).
            statistics: the per-channel statistics to draw (see :data:`CHANNEL_STATS`).
            layers: the layers to draw (names as in :attr:`layers`; default all).

        Returns:
            The matplotlib Figure.

        Raises:
            ValueError: nothing has been recorded yet, or an unknown layer or statistic.
        """
        from matplotlib.figure import Figure

        self._summarise()
        if not self._values:
            raise ValueError("Monitor.plot: nothing recorded yet (train a step with the monitor attached)")
        names = list(self.layers if layers is None else layers)
        unknown = [n for n in names if n not in self.layers] + [s for s in statistics if s not in CHANNEL_STATS]
        if unknown:
            raise ValueError(f"Monitor.plot: unknown layer or statistic {unknown[0]!r} (layers: "
                             f"{', '.join(self.layers)}; statistics: {', '.join(CHANNEL_STATS)})")
        fig = Figure(figsize=(4.2 * len(statistics) + 0.6, 2.4 * len(names) + 0.8), layout="constrained")
        axes = fig.subplots(len(names), len(statistics), squeeze=False, sharex=True)
        for r, name in enumerate(names):
            for c, stat in enumerate(statistics):
                ax = axes[r][c]
                self.band(ax, name, stat)
                ax.set_title(f"{name} ({type(self.layers[name]).__name__}): {stat.replace('_', ' ')}", fontsize=10)
                if r == len(names) - 1:
                    ax.set_xlabel("step")
        axes[0][0].legend(fontsize=8, loc="best")
        fig.suptitle("Per-channel statistics across channels over training (15th, 50th, 85th percentiles)",
                     fontsize=11)
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig

    def band(self, ax: Any, layer: str, statistic: str, color: str = "#4477aa", label: str = "") -> None:
        """Draw one layer's statistic on the matplotlib Axes ``ax``: the 15-85th percentile band across channels
        over the recorded steps, and the median (to put several monitors' bands side by side).

        Args:
            ax: the Axes.
            layer: the layer's name.
            statistic: a per-channel statistic (see :data:`CHANNEL_STATS`).
            color: the band's and line's colour.
            label: a prefix for the legend entries.
        """
        self._summarise()
        steps = sorted(s for s, n, st in self._values if n == layer and st == f"{statistic}_p50")
        lo, mid, hi = ([self._values[s, layer, f"{statistic}_p{p}"] for s in steps] for p in PERCENTILES)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.3, linewidth=0, label=f"{label}15-85th pct")
        ax.plot(steps, mid, color=color, linewidth=1.8, label=f"{label}median")
        ax.grid(alpha=0.3)

    def timeline(self, target: Any = None) -> Timeline:
        """A :class:`viz.Timeline` of the recorded steps: each step's graph on its batch with its parameters
        (needs ``timeline=True``); the model is left as it is.

        Args:
            target: as for :func:`viz.capture` (a callable ``loss = target(output)`` or a fixed label array);
                None draws the forward pass only.

        Returns:
            The Timeline, one snapshot per recorded step, labelled ``step k``.

        Raises:
            ValueError: the monitor was made without ``timeline=True``, or nothing was recorded.
        """
        from .explore import Timeline

        if self._kept is None:
            raise ValueError("Monitor.timeline: make the monitor with timeline=True to keep each recorded step's "
                             "batch and parameters")
        if not self._kept:
            raise ValueError("Monitor.timeline: nothing recorded yet")
        line = Timeline(self.model)
        now = self.model.state_dict()
        try:
            for s, (x, state) in sorted(self._kept.items()):
                self.model.load_state_dict(state)
                line.snapshot(input=x, target=target, label=f"step {s}")  # capture runs without the hooks
        finally:
            self.model.load_state_dict(now)
        return line

    # ----- the end --------------------------------------------------------------------------------------------------
    def _write(self) -> None:
        """Hand the finished steps' records to the event-file writer: the values and the per-channel vectors (its
        process makes their percentiles, histograms and TensorBoard's protobufs, so the training process does not
        pay for them). Without event files the percentiles wait for :meth:`frame` or :meth:`plot`."""
        if self._writer is not None and (self._unwritten or self._unwritten_vectors):
            values = [(k, self._values[k]) for k in dict.fromkeys(self._unwritten)]
            vectors = [(k, self._channels[k]) for k in dict.fromkeys(self._unwritten_vectors)]
            self._writer.put(values, vectors, self.histograms)
        self._unwritten.clear()
        self._unwritten_vectors.clear()

    def close(self) -> None:
        """Write what is left, take every hook off (the model is as it was before) and close the event files."""
        self._write()
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Monitor({len(self.layers)} layers: {', '.join(self.layers)}; every={self.every}, step {self.steps})"


def _needs(package: str, what: str) -> Any:
    """Import an optional dependency of the monitor, or say which extra installs it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(f"Monitor: {what} needs {package}: pip install 'tinygrad-bn[monitor]'") from None


def _is_torch(model: Any) -> bool:
    from tinygrad_bn import nn

    if isinstance(model, nn.Module):
        return False
    torch = __import__("sys").modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return True
    raise TypeError(f"Monitor: expected a tinygrad_bn.nn.Module or a torch.nn.Module, got {type(model).__name__}")


def _select(model: Any, layers: str | type | Iterable[str | type] | None) -> dict[str, Any]:
    """The watched modules by name: the normalization layers, or the named ones (paths or classes)."""
    named = {(path or type(m).__name__): m for path, m in model.named_modules()}
    if layers is None:
        chosen = {n: m for n, m in named.items() if type(m).__name__ in NORMS}
    else:
        wanted = [layers] if isinstance(layers, str | type) else list(layers)
        paths = {path: m for path, m in model.named_modules()}
        chosen = {}
        for w in wanted:
            if isinstance(w, type):
                chosen.update((n, m) for n, m in named.items() if isinstance(m, w))
            elif w in paths:
                chosen[w or type(paths[w]).__name__] = paths[w]
            else:
                raise ValueError(f"Monitor: {type(model).__name__} has no module {w!r}; its modules: "
                                 f"{', '.join(repr(p) for p in paths if p)}")
    if not chosen:
        raise ValueError(f"Monitor: {type(model).__name__} has no normalization layer ({', '.join(NORMS)}); name the "
                         "modules to watch with layers=[path or class, ...]")
    return chosen


def _array(t: Any) -> np.ndarray:
    """The values of a tinygrad_bn Tensor (its array) or a torch tensor (a numpy copy)."""
    data = t.data
    return data if isinstance(data, np.ndarray) else t.detach().cpu().numpy()


def _channel_axis(module: Any, x: np.ndarray) -> int:
    return x.ndim - 1 if type(module).__name__ == "LayerNorm" or x.ndim < 2 else 1


def _moments(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (``axis``): the mean and the biased variance over every other axis, in float64."""
    others = tuple(i for i in range(x.ndim) if i != axis)
    x = x.astype(np.float64)
    mean = x.mean(axis=others, keepdims=True)
    d = x - mean
    return mean.ravel(), (d * d).mean(axis=others)


def _channel_percentiles(x: np.ndarray, axis: int) -> np.ndarray:
    """Per channel (``axis``): the 15/50/85th percentiles over every other axis, of at most :data:`MAX_VALUES`
    values per channel taken evenly spaced, so a large feature map stays cheap; (3, channels)."""
    rows = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    if rows.shape[1] > MAX_VALUES:
        rows = rows[:, np.linspace(0, rows.shape[1] - 1, MAX_VALUES).round().astype(np.intp)]
    return _percentiles(np.ascontiguousarray(rows))


def _percentiles(a: np.ndarray) -> np.ndarray:
    """The 15/50/85th percentiles of each row of ``a`` (numpy's default, linear rule) in float64; (3, rows).
    One sort along the rows, cheaper than ``np.percentile``'s checks and partitions for a step's small arrays."""
    ordered = np.sort(a, axis=1)
    n = ordered.shape[1]
    at = np.array(PERCENTILES) / 100 * (n - 1)
    lo = np.floor(at).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    w = at - lo
    return (ordered[:, lo].astype(np.float64) * (1 - w) + ordered[:, hi].astype(np.float64) * w).T


def _summaries(vectors: dict[tuple[int, str, str], np.ndarray]) -> list[tuple[tuple[int, str, str], float]]:
    """``(step, layer, statistic_pNN)`` and its value for each vector's 15/50/85th percentiles across channels,
    one numpy call per layer and channel count."""
    groups: dict[tuple[str, int], list[tuple[int, str, str]]] = {}
    for key, v in vectors.items():
        groups.setdefault((key[1], v.size), []).append(key)
    found = []
    for keys in groups.values():
        table = _percentiles(np.stack([vectors[k] for k in keys]))
        for (s, name, stat), column in zip(keys, table.T.tolist()):
            found += [((s, name, summary), v) for summary, v in zip(_SUMMARIES[stat], column)]
    return found


class _EventWriter:
    """TensorBoard event files written by a process of their own: the monitor hands it each finished step's values
    and vectors (a pickle through a pipe, tens of microseconds) and it makes the percentiles, the histograms and
    the protobufs on the other core. ``close`` waits for it, so the files are complete when the monitor closes."""

    def __init__(self, logdir: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
        self._queue = context.SimpleQueue()
        self._process = context.Process(target=_write_events, args=(logdir, self._queue), daemon=True,
                                        name="tinygrad_bn monitor events")
        self._process.start()

    def put(self, values: list, vectors: list, histograms: bool) -> None:
        """Queue one batch of records (see :func:`_write_events`)."""
        self._queue.put((values, vectors, histograms))

    def close(self) -> None:
        """Let the writer finish the queued records and close its files.

        Raises:
            RuntimeError: the writer process failed (its exit status is named).
        """
        self._queue.put(None)
        self._process.join(timeout=60)
        if self._process.is_alive() or self._process.exitcode:
            self._process.kill()
            raise RuntimeError(f"Monitor: the TensorBoard event writer failed (exit status {self._process.exitcode})")


def _write_events(logdir: str, queue: Any) -> None:
    """The writer process: one TensorBoard event per step holding every scalar and histogram (30 equal bins),
    made as TensorBoard's protobufs directly (a tenth of the cost of one ``add_scalar`` per value)."""
    from tensorboardX import FileWriter
    from tensorboardX.proto.summary_pb2 import HistogramProto, Summary

    writer = FileWriter(logdir, flush_secs=10)
    while (item := queue.get()) is not None:
        values, vectors, histograms = item
        vectors = dict(vectors)
        found: dict[int, list] = {}
        for (s, name, stat), value in values + _summaries(vectors):
            found.setdefault(s, []).append(Summary.Value(tag=f"{name}/{stat}", simple_value=value))
        for (s, name, stat), v in vectors.items() if histograms else ():
            if stat in HISTOGRAMS:
                lo, hi = float(v.min()), float(v.max())
                at = ((v - lo) * (HISTOGRAM_BINS / (hi - lo)) if hi > lo else np.zeros(v.size)).astype(np.intp)
                counts = np.bincount(np.minimum(at, HISTOGRAM_BINS - 1), minlength=HISTOGRAM_BINS)
                histo = HistogramProto(min=lo, max=hi, num=v.size, sum=float(v.sum()), sum_squares=float(v @ v),
                                       bucket_limit=np.linspace(lo, hi, HISTOGRAM_BINS + 1)[1:].tolist(),
                                       bucket=counts.tolist())
                found.setdefault(s, []).append(Summary.Value(tag=f"{name}/{stat}", histo=histo))
        for s, summary_values in sorted(found.items()):
            writer.add_summary(Summary(value=summary_values), s)
    writer.close()
