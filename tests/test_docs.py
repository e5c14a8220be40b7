"""The documentation site: a strict MkDocs build (any warning, broken link or missing reference fails it,
and so does an error in a notebook cell, since the notebooks are executed), an API reference that holds
every public name, and a docstring for each of them."""

import importlib.util
import os
import subprocess
import sys
import zlib
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


def test_every_public_name_has_a_docstring():
    packages = {root: griffe.load(root, search_paths=[str(ROOT)]) for root in hooks.ROOTS}
    undocumented = []
    for module in hooks.api_modules():
        root, *path = module.__name__.split(".")
        static = packages[root]
        for part in path:
            static = static[part]
        for name in hooks.public_names(module):
            if not static[name].docstring:
                undocumented.append(f"{module.__name__}.{name}")
    assert not undocumented, f"public names without a docstring (Google style, see docs/): {undocumented}"
