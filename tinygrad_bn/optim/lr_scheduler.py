"""Learning-rate schedulers with ``torch.optim.lr_scheduler``'s rules, step for step.

A scheduler sets each parameter group's ``"lr"`` when it is made (epoch 0) and at every ``step()``
(call it after ``optimizer.step()``). StepLR, MultiStepLR, ExponentialLR and CosineAnnealingLR change
the group's current lr by a factor, as PyTorch's do, so they can be chained (two schedulers on one
optimizer multiply their effects); LambdaLR and OneCycleLR set it outright.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import validate
from .optimizer import Optimizer


class LRScheduler:
    """Base of the schedulers: ``base_lrs``, ``last_epoch``, ``step()``, ``get_last_lr()``, ``state_dict()``.

    Args:
        optimizer: the optimizer whose groups' ``"lr"`` it sets.
        last_epoch: the index of the last epoch; -1 starts afresh (and records each group's
            ``"initial_lr"``); a later epoch resumes and needs ``"initial_lr"`` in every group.

    Raises:
        TypeError: ``optimizer`` is not an Optimizer.
        ValueError: a bad argument (named), or resuming without ``"initial_lr"``.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: optimizer must be an Optimizer, got {type(optimizer).__name__}")
        validate.integer(name, last_epoch, "last_epoch", low=-1)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{name}: resuming at last_epoch={last_epoch} needs 'initial_lr' in param_groups[{i}] "
                                 "(load the optimizer's state first)")
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def step(self) -> None:
        """Advance one epoch (or one batch, for OneCycleLR) and set the groups' learning rates.

        Call it after ``optimizer.step()``; the first call warns if the optimizer has not stepped yet
        (the first learning rate of the schedule would be skipped), as PyTorch does.
        """
        self._step_count += 1
        if self._step_count == 2 and not getattr(self.optimizer, "_stepped", False):
            warnings.warn(f"{type(self).__name__}.step() was called before optimizer.step(): the schedule's first "
                          "learning rate is skipped; call optimizer.step() first", UserWarning, stacklevel=2)
        self.last_epoch += 1
        try:
            lrs = self.get_lr()
        except Exception:
            self.last_epoch -= 1  # a refused step changes nothing
            raise
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (called by ``step``).

        Raises:
            NotImplementedError: a subclass must define it.
        """
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """Return the learning rates the last ``step`` set, one per parameter group."""
        return list(self._last_lr)

    def _current(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Return every attribute except the optimizer (save that with ``optim.save``)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes from :meth:`state_dict`.

        Args:
            state_dict: as :meth:`state_dict` returns.

        Raises:
            TypeError: ``state_dict`` is not a dict.
            ValueError: it holds keys this scheduler does not have (another scheduler's state).
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}.load_state_dict: expected a dict from state_dict(), got "
                            f"{type(state_dict).__name__}")
        unknown = sorted(set(state_dict) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown keys {unknown} (the state of another scheduler?)")
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch giving a factor, or a list of them, one per parameter group.
        last_epoch: see :class:`LRScheduler`.

    Note:
        ``state_dict`` holds the lambdas' attributes only if they are callable objects (functions
        are not saved), as in PyTorch.

    Raises:
        ValueError: ``lr_lambda`` is neither a function nor a list of one function per group; or, at
            construction or ``step()``, it returns nan or ±inf (nothing is changed then).
        TypeError: ``lr_lambda`` returns something other than a real number (a string, None, a Tensor).
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(getattr(optimizer, "param_groups", ()))
        fns = list(lr_lambda) if isinstance(lr_lambda, list | tuple) else [lr_lambda] * n
        if len(fns) != n or not all(callable(f) for f in fns):
            raise ValueError(f"{type(self).__name__}: lr_lambda must be a function or a list of {n} functions (one "
                             f"per parameter group), got {lr_lambda!r}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def _factors(self) -> list[float]:
        """Each group's ``lr_lambda(last_epoch)``, refused unless a finite real number."""
        t = self.last_epoch
        return [validate.real(type(self).__name__, fn(t), f"lr_lambda({t}) of param_groups[{i}]", low=-math.inf)
                for i, fn in enumerate(self.lr_lambdas)]

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (``initial_lr * lr_lambda(epoch)``)."""
        return [base * f for f, base in zip(self._factors(), self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """Return the attributes as :meth:`LRScheduler.state_dict`, each ``lr_lambda`` as the attributes of a
        callable object (None for a plain function, which cannot be saved), as in PyTorch."""
        state = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(vars(f)) for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes and the ``lr_lambda`` objects' attributes from :meth:`state_dict`.

        Args:
            state_dict: as :meth:`state_dict` returns.
        """
        state = dict(state_dict)
        for fn, attrs in zip(self.lr_lambdas, state.pop("lr_lambdas")):
            if attrs is not None:
                vars(fn).update(attrs)
        super().load_state_dict(state)


class MultiplicativeLR(LambdaLR):
    """Multiply the current learning rate by ``lr_lambda(epoch)`` at every epoch after the first.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch giving a factor, or a list of them, one per parameter group.
        last_epoch: see :class:`LRScheduler`.

    Raises:
        ValueError: as :class:`LambdaLR`.
        TypeError: as :class:`LambdaLR`.
    """

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (the current ones times the factors)."""
        return self._current() if self._initial else [lr * f for f, lr in zip(self._factors(), self._current())]


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Args:
        optimizer: the optimizer.
        step_size: the period of the decay, in epochs (>= 1).
        gamma: the factor, >= 0.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = validate.integer("StepLR", step_size, "step_size")
        self.gamma = validate.real("StepLR", gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (times ``gamma`` every ``step_size``)."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch (by ``gamma**k`` if listed k times).

    Args:
        optimizer: the optimizer.
        milestones: epochs (integers >= 0), in any order.
        gamma: the factor, >= 0.
        last_epoch: see :class:`LRScheduler`.

    Raises:
        TypeError: ``milestones`` is not iterable.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if not isinstance(milestones, Iterable):
            raise TypeError(f"MultiStepLR: milestones must be a list of epochs, got {milestones!r}")
        self.milestones = sorted(validate.integer("MultiStepLR", m, "milestones", low=0) for m in milestones)
        self.gamma = validate.real("MultiStepLR", gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (times ``gamma`` at each milestone)."""
        k = self.milestones.count(self.last_epoch)
        return [lr * self.gamma**k for lr in self._current()] if k else self._current()


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Args:
        optimizer: the optimizer.
        gamma: the factor, >= 0.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = validate.real("ExponentialLR", gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (times ``gamma`` every epoch)."""
        return self._current() if self._initial else [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs (and back up after).

    ``lr_t = eta_min + (initial_lr - eta_min) (1 + cos(pi t / T_max)) / 2``, applied as PyTorch does,
    as the ratio of consecutive values times the current lr (so it chains with other schedulers).

    Args:
        optimizer: the optimizer.
        T_max: half the period, in epochs (>= 1).
        eta_min: the smallest learning rate, >= 0.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = validate.integer("CosineAnnealingLR", T_max, "T_max")
        self.eta_min = validate.real("CosineAnnealingLR", eta_min, "eta_min")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (on the cosine)."""
        t, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._current()
        if (t - 1 - T) % (2 * T) == 0:  # leaving the minimum, where the ratio below is 0/0
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._current(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [low + ratio * (lr - low) for lr in self._current()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018), stepped once per batch.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then falls to ``initial_lr / final_div_factor``; with ``three_phase`` it first
    falls back to the initial lr symmetrically, then to the minimum. With ``cycle_momentum`` the
    momentum (SGD, RMSprop) or ``betas[0]`` (Adam) moves the opposite way between ``max_momentum``
    and ``base_momentum``.

    Args:
        optimizer: the optimizer.
        max_lr: the peak learning rate, or a list with one per parameter group.
        total_steps: the number of steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, ``total_steps = epochs * steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: the fraction of the cycle spent increasing the lr, in [0, 1].
        anneal_strategy: ``"cos"`` or ``"linear"``.
        cycle_momentum: cycle the momentum too.
        base_momentum: the lowest momentum (or a list, one per group).
        max_momentum: the highest momentum (or a list, one per group).
        div_factor: ``initial_lr = max_lr / div_factor`` (> 0).
        final_div_factor: ``min_lr = initial_lr / final_div_factor`` (> 0).
        three_phase: the three-phase schedule described above.
        last_epoch: see :class:`LRScheduler`; here it counts batches.

    Raises:
        TypeError: ``optimizer`` is not an Optimizer.
        ValueError: a bad argument (named), a phase with no steps, or stepping past ``total_steps``.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: optimizer must be an Optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            self.total_steps = validate.integer(name, total_steps, "total_steps")
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (validate.integer(name, epochs, "epochs")
                                * validate.integer(name, steps_per_epoch, "steps_per_epoch"))
        else:
            raise ValueError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        pct = validate.real(name, pct_start, "pct_start", 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = validate.flag(name, cycle_momentum, "cycle_momentum")
        validate.flag(name, three_phase, "three_phase")
        div = validate.real(name, div_factor, "div_factor", low_open=True)
        final_div = validate.real(name, final_div_factor, "final_div_factor", low_open=True)
        up = pct * self.total_steps - 1
        # (end step, lr from -> to, momentum from -> to), keys of the group
        self.phases = ([(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (2 * pct * self.total_steps - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                        (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
                       if three_phase else
                       [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        ends = [0.0] + [p[0] for p in self.phases]
        if any(b == a for a, b in zip(ends, ends[1:])):  # 0/0 when a step lands in it
            raise ValueError(f"{name}: pct_start={pct_start} with total_steps={self.total_steps} leaves a phase "
                             "of the schedule without steps")
        groups = optimizer.param_groups
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError(f"{name}: cycle_momentum needs an optimizer with momentum or betas, "
                             f"not {type(optimizer).__name__}")
        if last_epoch == -1:
            momentum_high = 1.0 if self.use_beta1 else math.inf
            values = {k: _per_group(name, k, v, len(groups), high)
                      for k, v, high in [("max_lr", max_lr, math.inf), ("base_momentum", base_momentum, momentum_high),
                                         ("max_momentum", max_momentum, momentum_high)]}
            for i, group in enumerate(groups):
                group["max_lr"] = values["max_lr"][i]
                group["initial_lr"] = group["max_lr"] / div
                group["min_lr"] = group["initial_lr"] / final_div
                if self.cycle_momentum:
                    group["max_momentum"] = values["max_momentum"][i]
                    group["base_momentum"] = values["base_momentum"][i]
                    self._set_momentum(group, group["max_momentum"])
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        """Return the learning rates for epoch ``last_epoch``, one per group (on the one-cycle curve).

        Raises:
            ValueError: stepped more than ``total_steps`` times.
        """
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times, but total_steps is {self.total_steps}")
        start, phase = 0.0, self.phases[-1]
        for p in self.phases[:-1]:
            if t <= p[0]:
                phase = p
                break
            start = p[0]
        end, lr0, lr1, m0, m1 = phase
        pct = (t - start) / (end - start)
        lrs = []
        for group in self.optimizer.param_groups:
            lrs.append(self._anneal(group[lr0], group[lr1], pct))
            if self.cycle_momentum:
                self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rates by ``factor`` when a metric has stopped improving for ``patience`` epochs,
    as ``torch.optim.lr_scheduler.ReduceLROnPlateau``: call ``step(metric)`` once per epoch.

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (a loss: lower is better) or ``"max"`` (an accuracy).
        factor: the multiplier, in [0, 1).
        patience: epochs without improvement to allow before reducing.
        threshold: how much better counts as better.
        threshold_mode: ``"rel"`` (better by a fraction ``threshold`` of the best) or ``"abs"``.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lowest learning rate, or one per parameter group.
        eps: a reduction smaller than this is skipped.

    Raises:
        TypeError: ``optimizer`` is not an Optimizer.
        ValueError: a bad argument (named): an unknown mode, ``factor`` not below 1, a negative patience.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0.0, eps: float = 1e-8) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: optimizer must be an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', got {mode!r} "
                             f"and {threshold_mode!r}")
        self.factor = validate.real(name, factor, "factor", 0.0, 1.0, high_open=True)
        self.patience = validate.integer(name, patience, "patience", low=0)
        self.cooldown = validate.integer(name, cooldown, "cooldown", low=0)
        self.threshold, self.eps = validate.real(name, threshold, "threshold"), validate.real(name, eps, "eps")
        self.optimizer, self.mode, self.threshold_mode = optimizer, mode, threshold_mode
        self.min_lrs = _per_group(name, "min_lr", min_lr, len(optimizer.param_groups), math.inf)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = self._current()

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """End an epoch with its metric; reduce the learning rates when it has not improved for ``patience`` epochs.

        Args:
            metrics: the epoch's value of the watched metric (a number or a one-element Tensor).

        Raises:
            ValueError: the metric is not a finite number.
        """
        current = validate.real(type(self).__name__, float(metrics), "metrics", low=-math.inf)
        self.last_epoch += 1
        if self._better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, low)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current()

    def _better(self, a: float) -> bool:
        step = self.threshold if self.mode == "max" else -self.threshold  # min: better is lower
        bar = self.best * (1 + step) if self.threshold_mode == "rel" else self.best + step
        return a > bar if self.mode == "max" else a < bar


def _per_group(owner: str, name: str, value: Any, n: int, high: float) -> list[float]:
    values = list(value) if isinstance(value, list | tuple) else [value] * n
    if len(values) != n:
        raise ValueError(f"{owner}: {name} must be a number or a list of {n} (one per parameter group), got {value!r}")
    return [validate.real(owner, v, name, high=high, high_open=high == 1.0) for v in values]
