"""ModuleList, ModuleDict and Identity: holding modules without deciding how they are called."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch).

    Args:
        *args: ignored.
        **kwargs: ignored.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        """Return ``x`` itself.

        Args:
            x: anything.
        """
        return x


class ModuleList(Module):
    """A list of modules, registered as children ``"0"``, ``"1"``, ...; call them yourself in ``forward``.

    Args:
        modules: optional modules to start with.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        self.extend(modules or ())

    def _renumber(self, items: list[Module]) -> None:
        for k in list(self._modules):
            delattr(self, k)
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def __getitem__(self, i: int | slice) -> Module | ModuleList:
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i: int, module: Module) -> None:
        items = list(self._modules.values())
        items[i] = module
        self._renumber(items)

    def __delitem__(self, i: int | slice) -> None:
        items = list(self._modules.values())
        del items[i]
        self._renumber(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end.

        Args:
            module: the module to add.

        Returns:
            ``self``.
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add each of ``modules`` at the end, in order.

        Args:
            modules: the modules to add.

        Returns:
            ``self``.
        """
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (the children after it are renumbered).

        Args:
            index: the position, as in ``list.insert``.
            module: the module to insert.
        """
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)


class ModuleDict(Module):
    """A dict of modules by name (insertion order), registered as children under their keys.

    Args:
        modules: optional mapping (or iterable of pairs) of names to modules.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        self.update(modules or {})

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> list[str]:
        """Return the names, in insertion order."""
        return list(self._modules)

    def values(self) -> list[Module]:
        """Return the modules, in insertion order."""
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        """Return the ``(name, module)`` pairs, in insertion order."""
        return list(self._modules.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules by name.

        Args:
            modules: a mapping of names to modules, or an iterable of ``(name, module)`` pairs.
        """
        for k, m in (modules.items() if isinstance(modules, Mapping) else modules):
            self[k] = m

    def pop(self, key: str) -> Module:
        """Remove the module called ``key`` and return it.

        Args:
            key: its name.

        Returns:
            The module removed.

        Raises:
            KeyError: no module is called ``key``.
        """
        m = self[key]
        del self[key]
        return m
