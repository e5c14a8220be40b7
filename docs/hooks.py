"""MkDocs hooks: the API reference, generated from the packages' own lists of public names.

A module is part of the public API when it is a package, is named in its package's ``__all__``
(``tinygrad_bn.nn.functional``), or declares ``__all__`` itself (``tinygrad_bn.data``). Its public
names are its ``__all__``, or else the functions and classes it defines whose names do not start
with ``_`` (and those it re-exports from a sibling module without a page, see :func:`public_names`).
Each such module gets one page of ``:::`` blocks (mkdocstrings), so a name added to a package appears
in the reference without anyone editing the docs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from types import ModuleType

import griffe
from mkdocs.structure.files import File

ROOTS = ("tinygrad_bn", "viz", "bnlab")
NAV_TITLE = "API reference"


def public_names(module: ModuleType) -> list[str]:
    """The public names of ``module``: its ``__all__``, else the non-underscore functions and classes it defines,
    and those it takes from a sibling module that has no page when its package does not export them either
    (``nn.functional.conv2d``, from ``nn.conv``)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    parent = module.__name__.rpartition(".")[0]
    exported = getattr(importlib.import_module(parent), "__all__", ()) if parent else ()
    return [n for n, v in vars(module).items() if not n.startswith("_")
            and (inspect.isclass(v) or inspect.isfunction(v)) and (v.__module__ == module.__name__ or (
                v.__module__.rpartition(".")[0] == parent and n not in exported
                and not _is_api(importlib.import_module(v.__module__))))]


def api_modules() -> list[ModuleType]:
    """Every module of the public API, packages before their modules, in name order."""
    found = []
    for root in ROOTS:
        package = importlib.import_module(root)
        names = [root] + sorted(m.name for m in pkgutil.walk_packages(package.__path__, root + "."))
        for name in names:
            if any(part.startswith("_") for part in name.split(".")):
                continue
            module = importlib.import_module(name)
            if _is_api(module):
                found.append(module)
    return found


def _is_api(module: ModuleType) -> bool:
    """Whether ``module`` gets a page: a package, a module its package's ``__all__`` names, or one with ``__all__``."""
    parent, _, last = module.__name__.rpartition(".")
    parent_module = importlib.import_module(parent) if parent else None
    exported = last in getattr(parent_module, "__all__", ()) and getattr(parent_module, last) is module
    return hasattr(module, "__path__") or exported or hasattr(module, "__all__")


def page(module: ModuleType) -> str:
    """The Markdown of ``module``'s reference page: the module docstring, then each public name that is not a module.

    A name that a submodule of the same name shadows in static analysis (``viz.render`` the function and
    ``viz.render`` the module) gets its own block, under its defining module's path.
    """
    names = [n for n in public_names(module) if not inspect.ismodule(getattr(module, n))]
    shadowed = [n for n in names if hasattr(module, "__path__") and importlib.util.find_spec(f"{module.__name__}.{n}")]
    members = [n for n in names if n not in shadowed]
    listed = "[" + ", ".join(members) + "]" if members else "false"
    text = (f"# `{module.__name__}`\n\n::: {module.__name__}\n    options:\n      show_root_heading: false\n"
            f"      show_root_toc_entry: false\n      members: {listed}\n")
    for n in shadowed:
        obj = getattr(module, n)
        text += f"\n::: {obj.__module__}.{obj.__qualname__}\n    options:\n      heading: {module.__name__}.{n}\n"
    return text


def on_config(config):
    """Replace the nav entry ``API reference`` with one page per public module."""
    pages = [{m.__name__: f"reference/{m.__name__}.md"} for m in api_modules()]
    for i, entry in enumerate(config["nav"]):
        if isinstance(entry, dict) and NAV_TITLE in entry:
            config["nav"][i] = {NAV_TITLE: pages}
    return config


def on_files(files, config):
    """Add the generated reference pages to the site's files."""
    for module in api_modules():
        files.append(File.generated(config, f"reference/{module.__name__}.md", content=page(module)))
    return files


class SphinxRoles(griffe.Extension):
    """Griffe extension: show Sphinx roles in docstrings (``:func:`~viz.render```) as inline code (``render``)."""

    ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc):`(~?)([^`]+)`")

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        """Rewrite the roles in ``obj``'s docstring, once it is loaded."""
        if obj.docstring:
            obj.docstring.value = self.ROLE.sub(
                lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", obj.docstring.value)
