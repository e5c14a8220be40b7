"""The optimizer base: parameter groups, per-parameter state, ``step`` and ``state_dict``, as in PyTorch."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import numpy as np

from ..graph import enable_grad
from ..tape import refuse
from ..tensor import Tensor


class Optimizer:
    """Holds parameter groups and per-parameter state; ``step()`` updates the parameters from their ``.grad``.

    ``param_groups`` is a list of dicts, each with ``"params"`` (a list of Tensors) and the group's
    hyperparameters (``"lr"``, ``"weight_decay"``, ...); a group given without one takes the
    optimizer's default. ``state`` maps each parameter to a dict of its buffers (e.g. ``"momentum_buffer"``).
    Subclasses give their defaults, check a group's hyperparameters in ``_check`` and update one
    parameter in ``_update``.

    Args:
        params: leaf Tensors, or a list of dicts, each a parameter group (``{"params": [...], "lr": 0.01}``).
            A parameter repeated within a group is updated once; one that does not require grad (frozen)
            never gets a ``.grad`` and so is never updated.
        defaults: the hyperparameters of a group that does not set them.

    Raises:
        TypeError: a parameter is not a Tensor, or the parameters are a set.
        ValueError: no parameters, a non-leaf parameter, a parameter in two groups, or a bad hyperparameter.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self._check(defaults)
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(_ordered(self._name, params))
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (the defaults fill in the rest).

        Args:
            param_group: ``{"params": Tensor or list of Tensors, "lr": ..., ...}``.

        Raises:
            TypeError: not a dict, or a parameter is not a Tensor.
            ValueError: a parameter is not a leaf or already belongs to a group, or a hyperparameter is bad.
        """
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{self._name}: a parameter group must be a dict with a 'params' entry, "
                            f"got {param_group!r}")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        params: list[Tensor] = []
        for p in _ordered(self._name, param_group["params"]):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: parameters must be Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: cannot optimize a non-leaf Tensor (the output of {p.node.op!r}); "
                                 "optimize the leaves it was computed from")
            if id(p) in taken:
                raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
            if all(p is not q for q in params):
                params.append(p)
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._check(group)
        self.param_groups.append({"params": params, **group})

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient.

        Args:
            set_to_none: set ``.grad`` to None (PyTorch's default), else fill the existing ``.grad`` with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data = np.zeros_like(p.grad.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a ``.grad`` (parameters without one are left alone).

        Args:
            closure: optional; re-evaluates the model and returns the loss (called with grad enabled).

        Returns:
            The closure's loss, or None.
        """
        refuse("an optimizer step")
        loss = None
        self._stepped = True  # lets a scheduler tell it was stepped first
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = -p.grad.data if group["maximize"] else p.grad.data
                    self._update(p, g, self.state.setdefault(p, {}), group)
        return loss

    def _check(self, group: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update ``p.data`` in place from its gradient ``g`` (never modify ``g``: it may be ``p.grad``'s array)."""
        raise NotImplementedError

    # ----- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A copy of the state, PyTorch's layout: parameters are numbered in group order.

        Returns:
            ``{"state": {index: {name: array or number}}, "param_groups": [{"lr": ..., "params": [indices]}]}``.
        """
        index = {id(p): i for i, p in enumerate(chain.from_iterable(g["params"] for g in self.param_groups))}
        groups = [{**copy.deepcopy({k: v for k, v in g.items() if k != "params"}),
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Replace the hyperparameters and state with a copy of ``state_dict`` (from :meth:`state_dict`).

        Everything is checked before anything is assigned. State arrays are cast to their
        parameter's float dtype.

        Args:
            state_dict: as :meth:`state_dict` returns, from an optimizer over parameters of the same shapes.

        Raises:
            TypeError: ``state_dict`` or a part of it has the wrong type (None, a list where a dict or an
                array is expected, ...); the message names the part.
            ValueError: the number of groups or of parameters in a group differs, a state array's shape
                differs from its parameter's, or a group lacks this optimizer's hyperparameters.
        """
        _check_layout(f"{self._name}: load_state_dict", state_dict)
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{self._name}: load_state_dict: the state has {len(saved)} parameter groups, "
                             f"the optimizer {len(self.param_groups)}")
        groups = []
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(f"{self._name}: load_state_dict: parameter group {i} has {len(s['params'])} "
                                 f"parameters in the state, {len(g['params'])} in the optimizer")
            missing = sorted(set(self.defaults) - set(s))
            if missing:
                raise ValueError(f"{self._name}: load_state_dict: parameter group {i} lacks {missing} "
                                 "(saved by another optimizer?)")
            group = {k: tuple(v) if isinstance(v, list) else copy.deepcopy(v) for k, v in s.items() if k != "params"}
            self._check(group)
            groups.append({"params": g["params"], **group})
        by_index = dict(zip((int(i) for i in chain.from_iterable(s["params"] for s in saved)),
                            chain.from_iterable(g["params"] for g in self.param_groups)))
        state: dict[Tensor, dict[str, Any]] = {}
        for i, s in state_dict["state"].items():
            if int(i) not in by_index:
                raise ValueError(f"{self._name}: load_state_dict: state for parameter {i}, which no group holds")
            p = by_index[int(i)]
            state[p] = {k: _cast(self._name, i, k, v, p) for k, v in s.items()}
        self.param_groups, self.state = groups, state

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _ordered(owner: str, params: Any) -> Iterable[Any]:
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, set | frozenset):
        raise TypeError(f"{owner}: parameters must be an ordered collection such as a list, not a set "
                        "(a set's order changes between runs)")
    if not isinstance(params, Iterable):
        raise TypeError(f"{owner}: params must be Tensors or parameter-group dicts, got {params!r}")
    return params


def _check_layout(owner: str, state_dict: Any) -> None:
    """A TypeError naming the first part of ``state_dict`` whose type is not that of :meth:`Optimizer.state_dict`."""
    def expect(value: Any, kind: type | tuple[type, ...], what: str, where: str) -> None:
        if not isinstance(value, kind):
            raise TypeError(f"{owner}: {where} must be {what}, got {type(value).__name__} {value!r:.60}")

    expect(state_dict, Mapping, "a dict with 'state' and 'param_groups' (from state_dict())", "the state")
    for key in ("state", "param_groups"):
        if key not in state_dict:
            raise ValueError(f"{owner}: the state has no {key!r} entry (keys {sorted(state_dict)})")
    expect(state_dict["param_groups"], list | tuple, "a list of dicts", "'param_groups'")
    for i, g in enumerate(state_dict["param_groups"]):
        expect(g, Mapping, "a dict", f"param_groups[{i}]")
        expect(g.get("params"), list | tuple, "a list of parameter indices", f"param_groups[{i}]['params']")
    expect(state_dict["state"], Mapping, "a dict of per-parameter dicts", "'state'")
    for i, s in state_dict["state"].items():
        expect(s, Mapping, "a dict", f"state[{i!r}]")
        for k, v in s.items():
            expect(v, np.ndarray | numbers.Real, "a numpy array or a number", f"state[{i!r}][{k!r}]")


def _cast(owner: str, index: Any, key: str, value: Any, p: Tensor) -> Any:
    if not isinstance(value, np.ndarray):
        return copy.deepcopy(value)
    if value.shape != p.shape:
        raise ValueError(f"{owner}: load_state_dict: state {key!r} of parameter {index} has shape {value.shape}, "
                         f"the parameter {p.shape}")
    return np.array(value, dtype=p.dtype if value.dtype.kind == "f" else value.dtype)
