"""The documentation site: a strict MkDocs build (any warning, broken link or missing reference fails it,
and so does an error in a notebook cell, since the notebooks are executed), an API reference that holds
every public name, and a docstring for each of them that documents its arguments and result."""

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
import zlib
from collections import defaultdict
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)


def inventory(site: Path) -> set[str]:
    """The object names in the built site's ``objects.inv`` (the Sphinx inventory mkdocstrings writes)."""
    header, _, body = site.joinpath("objects.inv").read_bytes().partition(b"compressed using zlib.\n")
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines()}


def test_docs_build_strict_and_reference_complete(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    documented = inventory(tmp_path / "site")
    missing = []
    for module in hooks.api_modules():
        assert (tmp_path / "site" / "reference" / module.__name__ / "index.html").exists()
        for name in hooks.public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, type(os)):  # a public submodule: its own page, checked above
                continue
            canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{module.__name__}.{name}" not in documented and canonical not in documented:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"


def static_public_names() -> list[tuple[str, griffe.Object]]:
    """``(module.name, griffe object)`` for every public name of every API module, read statically."""
    packages = {root: griffe.load(root, search_paths=[str(ROOT)]) for root in hooks.ROOTS}
    found = []
    for module in hooks.api_modules():
        root, *path = module.__name__.split(".")
        static = packages[root]
        for part in path:
            static = static[part]
        found += [(f"{module.__name__}.{name}", static[name]) for name in hooks.public_names(module)]
    return found


def test_every_public_name_has_a_docstring():
    undocumented = [name for name, obj in static_public_names() if not obj.docstring]
    assert not undocumented, f"public names without a docstring (Google style, see docs/): {undocumented}"


def reference_callables() -> dict[str, tuple[griffe.Object, griffe.Object | None]]:
    """What the API reference shows that can be called, by path: ``(callable, class or None)``.

    The public functions of every API module, and of each public class its constructor (``__init__``,
    whose arguments Google style documents in the class docstring) and the public methods and properties
    it defines itself. A method a class inherits is counted once, on the class that defines it; a
    constructor inherited from a private base (``_BatchNorm``) is counted on each public subclass, whose
    page shows its signature. A name exported by several modules is counted once, at its definition.
    """
    public = {}
    for _, obj in static_public_names():
        obj = obj.final_target if obj.is_alias else obj
        public[obj.path] = obj
    found: dict[str, tuple[griffe.Object, griffe.Object | None]] = {}
    for obj in public.values():
        if obj.is_function:
            found[obj.path] = (obj, None)
        elif obj.is_class:
            init = obj.all_members.get("__init__")
            init = init.final_target if init is not None and init.is_alias else init  # inherited: an alias
            if init is not None and init.is_function and (init.parent is obj or init.parent.path not in public):
                found[obj.path] = (init, obj)
            else:  # no __init__ of its own (or it is a public base's, counted there): the docstring only
                found[obj.path] = (obj, obj)
            for member_name, member in obj.members.items():
                if member_name.startswith("_") or member.is_alias:
                    continue
                if member.is_function or "property" in member.labels:
                    found[member.path] = (member, None)
    return found


def _sections(*objs: griffe.Object) -> dict[str, list]:
    sections = defaultdict(list)
    for obj in objs:
        if obj.docstring:
            for section in obj.docstring.parse("google", warnings=False):
                sections[section.kind.value].append(section)
    return sections


def _returns_value(fn: griffe.Function) -> bool:
    """Whether ``fn`` returns something: its return annotation is not None (nor a context manager's
    ``Iterator[None]``), or (unannotated) its own body has a ``return <value>`` or a ``yield``."""
    if fn.returns is not None:
        return str(fn.returns) not in ("None", "NoReturn", "Never", "Iterator[None]", "Generator[None, None, None]")
    return any(isinstance(node, ast.Yield | ast.YieldFrom) or isinstance(node, ast.Return) and node.value is not None
               for node in _own_body(fn))


def _own_body(fn: griffe.Function) -> list[ast.AST]:
    """The AST nodes of ``fn``'s own body, without nested functions and classes (none for a generated
    ``__init__``, such as a dataclass's)."""
    tree = ast.parse(textwrap.dedent(fn.source))
    nodes, todo = [], list(tree.body[0].body) if tree.body else []
    while todo:
        node = todo.pop()
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            nodes.append(node)
            todo.extend(ast.iter_child_nodes(node))
    return nodes


def _raised(fn: griffe.Function) -> set[str]:
    """The exception classes ``fn`` raises by name in its own body (``raise ValueError(...)``)."""
    names = set()
    for node in _own_body(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.id if isinstance(exc, ast.Name) else exc.attr if isinstance(exc, ast.Attribute) else ""
            if name[:1].isupper():
                names.add(name)
    return names


def docstring_problems(obj: griffe.Object, cls: griffe.Object | None) -> list[str]:
    """What ``obj``'s docstring lacks; ``cls`` is the class when ``obj`` is its constructor."""
    owner = cls or obj
    if not (owner.docstring or obj.docstring):
        return ["no docstring"]
    if not obj.is_function:  # a property (its docstring says what the value is) or a class without __init__
        return []
    sections = _sections(owner, obj) if cls else _sections(obj)
    kinds = ("parameters", "attributes") if cls else ("parameters",)  # a dataclass's fields are its arguments
    documented = {p.name.lstrip("*") for kind in kinds for section in sections[kind] for p in section.value}
    params = [p.name for p in obj.parameters]
    if obj.parent.is_class and "staticmethod" not in obj.labels and params[:1] in (["self"], ["cls"]):
        params = params[1:]
    problems = []
    if missing := [p for p in params if p not in documented]:
        problems.append(f"Args: lacks {missing}")
    if cls is None and "property" not in obj.labels and _returns_value(obj) and not (
            sections["returns"] or sections["yields"] or obj.docstring.value.lstrip().startswith(("Return", "Yield"))):
        problems.append("no Returns:")
    documented_raises = {str(e.annotation).rsplit(".", 1)[-1] for section in sections["raises"] for e in section.value}
    if missing := sorted(_raised(obj) - documented_raises):
        problems.append(f"Raises: lacks {missing}")
    return problems


def test_every_callable_documents_its_arguments_and_result():
    """Each function, constructor and method in the API reference has a Google-style docstring whose
    ``Args:`` names every parameter but ``self``/``cls`` (``*args``/``**kwargs`` as ``*args``/``**kwargs``;
    a dataclass's fields may be its ``Attributes:``), and, when it returns a value, a ``Returns:`` (or
    ``Yields:``) section, and a ``Raises:`` entry for each exception class it raises by name in its own
    body (``raise ValueError(...)``; errors raised by the helpers it calls are not required).

    No ``Returns:`` is needed, as in the Google style guide, when the function returns None (annotated
    ``-> None``, or unannotated with no ``return <value>``), for a property (its docstring describes the
    value) or a constructor, or when the docstring starts with "Return"/"Yield" and so already says what
    comes back. Names in ``Args:`` that are not parameters fail the strict docs build (a griffe warning).
    """
    found = reference_callables()
    assert len(found) > 250, f"only {len(found)} callables found: is the reference walk broken?"
    problems = {path: p for path, (obj, cls) in found.items() if (p := docstring_problems(obj, cls))}
    assert not problems, (f"{len(problems)} of {len(found)} documented callables lack docstring sections (Google "
                          "style, see docs/):\n" + "\n".join(f"  {k}: {'; '.join(v)}" for k, v in problems.items()))
