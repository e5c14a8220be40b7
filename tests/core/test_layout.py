"""The shape of the code: imports run one way (bnlab -> viz -> tinygrad_bn), downward inside tinygrad_bn
from graph.py, with one import circle at most (tensor <-> ops), and importing the library changes nothing
global."""

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of the project ``path`` (module ``name``) imports, at any level of the file: for
    ``from package import module`` the module, not the package's ``__init__``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module
            subs = {f"{target}.{a.name}" for a in node.names} & modules
            found |= subs if len(subs) == len(node.names) else subs | {target}
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def import_graph(packages: tuple[str, ...], collapse: tuple[str, ...] = ()) -> nx.DiGraph:
    """Modules of ``packages`` as nodes, an edge a -> b when a imports b; modules under a ``collapse`` package
    count as that package."""
    files = {_module(p): p for pkg in packages for p in (ROOT / pkg).rglob("*.py")}

    def node(m: str) -> str:
        return next((c for c in collapse if m == c or m.startswith(c + ".")), m)

    g = nx.DiGraph()
    for name, path in files.items():
        g.add_node(node(name))
        for target in _imports(path, name, set(files)):
            if target in files and node(target) != node(name):
                g.add_edge(node(name), node(target))
    return g


def test_tinygrad_bn_has_one_import_circle_at_most_tensor_and_ops():
    g = import_graph(("tinygrad_bn",), collapse=("tinygrad_bn.ops",))
    circles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert circles in ([], [["tinygrad_bn.ops", "tinygrad_bn.tensor"]]), circles


def test_the_graph_module_is_the_bottom():
    g = import_graph(("tinygrad_bn",))
    assert list(g.successors("tinygrad_bn.graph")) == []
    for low in ("tinygrad_bn.tape", "tinygrad_bn.backward", "tinygrad_bn.anomaly"):
        assert not any(s.startswith(("tinygrad_bn.tensor", "tinygrad_bn.ops", "tinygrad_bn.nn"))
                       for s in nx.descendants(g, low)), low
    # composites and losses sit below nn; nn.functional is only a re-export
    assert not any(s.startswith("tinygrad_bn.nn") for s in nx.descendants(g, "tinygrad_bn.ops.composites"))


def test_no_circle_in_viz_and_arrows_run_one_way():
    g = import_graph(("tinygrad_bn", "viz", "bnlab"), collapse=("tinygrad_bn",))
    viz_circles = [c for c in nx.strongly_connected_components(g.subgraph(n for n in g if n.startswith("viz")))
                   if len(c) > 1]
    assert viz_circles == []
    for a, b in g.edges:
        assert not (a == "tinygrad_bn" and b.startswith(("viz", "bnlab"))), (a, b)
        assert not (a.startswith("viz") and b.startswith("bnlab")), (a, b)


def test_importing_changes_no_global_state():
    """No allocator tuning, no default dtype, no anomaly mode, no warnings filter changed by the imports."""
    code = ("import warnings, numpy as np\n"
            "filters, err = list(warnings.filters), np.geterr()\n"
            "import tinygrad_bn, viz, bnlab\n"
            "assert warnings.filters == filters and np.geterr() == err, 'changed'\n"
            "assert not tinygrad_bn.is_anomaly_enabled() and tinygrad_bn.get_default_dtype() == np.float32\n"
            "print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.strip() == "ok", run.stderr[-2000:]
