"""The structure rules of DESIGN.md, checked on the source: sizes, import direction, no cycles.

No module over 400 lines, no class over 250, no function over 60; the engine (the notes'
modules) imports numpy and the standard library only; no import cycle between modules.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mlpkit"
MODULES = sorted(PACKAGE.rglob("*.py"))
ENGINE = (
    "activations",
    "losses",
    "initializers",
    "layers",
    "network",
    "parameters",
    "summary",
    "optimizers",
    "schedules",
    "gradcheck",
    "regularization",
    "embeddings",
    "sparse",
)
LIMITS = {"module": 400, "class": 250, "function": 60}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names (``from a.b import c`` gives a.b and a.b.c).

    Imports under ``if TYPE_CHECKING:`` are for annotations only and never run, so they are
    left out; mlpkit uses absolute imports only, so relative ones need no resolving here.
    """
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_module_class_and_function_sizes():
    too_long = []
    for path in MODULES:
        source = path.read_text()
        if len(source.splitlines()) > LIMITS["module"]:
            too_long.append(f"{module_name(path)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            kind = {ast.ClassDef: "class", ast.FunctionDef: "function", ast.AsyncFunctionDef: "function"}
            if type(node) in kind and node.end_lineno - node.lineno + 1 > LIMITS[kind[type(node)]]:
                too_long.append(f"{module_name(path)}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "over the limits: " + "; ".join(too_long)


@pytest.mark.parametrize("name", ENGINE)
def test_the_engine_imports_numpy_and_the_standard_library_only(name):
    path = PACKAGE / f"{name}.py"
    if not path.exists():
        pytest.skip(f"mlpkit.{name} is not part of this version")
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    engine = {f"mlpkit.{module}" for module in ENGINE}
    for imported in imported_modules(path):
        top = imported.split(".")[0]
        if top == "mlpkit":
            assert imported in engine or imported.rpartition(".")[0] in engine, f"{name} imports {imported}"
        else:
            assert top in allowed, f"{name} imports {imported}"


def test_no_import_cycle():
    known = {module_name(path) for path in MODULES}
    graph = {
        module_name(path): {name for name in imported_modules(path) if name in known} - {module_name(path)}
        for path in MODULES
    }
    # a package imports its own modules to export their names; that is not a cycle
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (t.startswith(name + ".") or name.startswith(t + "."))}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, target]))
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
