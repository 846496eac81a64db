"""The import rules of docs/architecture.md, checked on the code as it is (import-linter's
contracts in pyproject.toml say the same; CI runs `lint-imports` too)."""

import ast
import tomllib
from pathlib import Path

import grimp
import pytest

PACKAGES = (
    "relman",
    "teams",
    "lifecycles",
    "processes",
    "releases",
    "notifications",
    "insights",
    "variables",
    "targets",
)
# Insights only reads: it has no services.
WRITING_APPS = ("teams", "lifecycles", "processes", "releases", "notifications", "variables", "targets")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


def test_no_module_reaches_itself_through_its_imports(graph):
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(graph.find_shortest_chain(importer=imported, imported=module) + (imported,))
    assert not cycles, f"import cycles: {cycles}"


def test_the_engine_never_calls_a_service_a_task_or_a_surface(graph):
    services = {m for m in graph.modules if m.endswith(".services")}
    assert services == {f"{app}.services" for app in WRITING_APPS}
    for below in (*sorted(services), "releases.tasks", "releases.views", "releases.api"):
        assert not graph.chain_exists(importer="releases.engine", imported=below, as_packages=True), below


def test_no_module_imports_inside_a_function_to_dodge_a_cycle():
    """Only AppConfig.ready imports in a function (to register an app's tasks by name)."""
    root = Path(__file__).resolve().parents[1]
    found = []
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts or path.name == "apps.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for inner in ast.walk(node):
                        if (
                            isinstance(inner, ast.ImportFrom)
                            and (inner.module or "").split(".")[0] in PACKAGES
                        ):
                            found.append(f"{path.relative_to(root)}:{inner.lineno} {inner.module}")
    assert not found, found


def test_every_relman_module_has_its_place_in_the_layers(graph):
    """The layers contract lists relman's modules one by one (its composition sits above
    the apps, its infrastructure below them): a new module must be placed, or the
    contract would not check it."""
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if "containers" not in c)
    placed = {name.strip() for layer in contract["layers"] for name in layer.split(":")}
    modules = set(graph.find_children("relman"))
    assert modules - placed == set()
