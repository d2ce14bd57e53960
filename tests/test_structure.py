"""The package's shape: imports point down the layers, no cycle, no module past ~450 lines, a light `import nstlib`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "nstlib"
MAX_LINES = 450
# The package's rooms, lower first: a module may import its own room or lower ones. A room is a sub-package
# (every module in it), or the named top-level modules; `ls nstlib` shows the architecture.
ROOMS: list[tuple[str, set[str]]] = [
    ("base", {"_version", "errors", "paths", "files", "interrupts", "values", "images", "printsize"}),
    ("model", set()),  # nstlib/model/: VGG, layer names, device, tiles
    ("config", {"config", "controls", "videoconfig"}),
    ("losses", set()),
    ("record", set()),
    ("run", set()),
    ("sweep", set()),
    ("ui", set()),
    ("entry", {"__main__", ""}),  # "" is the package itself (nstlib/__init__.py)
]
PLAIN_VALUES = ("model", "losses")  # rooms that take plain values: they never import the Config


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path) -> set[str]:
    """nstlib modules that `path` imports (relative or absolute), by name within the package."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] + ([*node.module.split(".")] if node.module else [])
            elif node.module and node.module.startswith("nstlib"):
                base = node.module.split(".")[1:]
            else:
                continue
            prefix = ".".join(base)
            # `from . import images` imports the module images, not the package's __init__
            # `from nstlib import images` imports the module images; `from nstlib.x import name`, the module x
            targets = [module if (module := f"{prefix}.{a.name}".strip(".")) in known else prefix for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [
                a.name.split(".", 1)[1] if "." in a.name else "" for a in node.names if a.name.startswith("nstlib")
            ]
        found |= {t for t in targets if t in known}
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): internal_imports(p) for p in PACKAGE.rglob("*.py")}


def room(module: str) -> str | None:
    """The room of a module: its sub-package, or the room that names it."""
    head = module.split(".")[0]
    for name, members in ROOMS:
        if (not members and head == name) or module in members:
            return name
    return None


def test_every_module_is_in_a_room():
    homeless = {m for m in graph() if room(m) is None}
    assert not homeless, f"put these modules in a sub-package or a ROOMS entry: {homeless}"


def test_imports_point_down_the_rooms():
    rank = {name: i for i, (name, _) in enumerate(ROOMS)}
    upward = [
        f"{m} → {t}" for m, targets in graph().items() for t in targets if rank[room(t) or ""] > rank[room(m) or ""]
    ]
    assert not upward, upward


def test_the_model_and_the_losses_take_plain_values():
    uses = [f"{m} → {t}" for m, targets in graph().items() if room(m) in PLAIN_VALUES for t in targets if t == "config"]
    assert not uses, uses


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in g[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(t) :] + [m, t]))
            if t not in state:
                visit(t, stack + [m])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [])


def test_the_check_sees_a_cycle(tmp_path, monkeypatch):
    """The cycle check itself can fail: a two-module cycle is found."""
    monkeypatch.setattr(sys.modules[__name__], "graph", lambda: {"a": {"b"}, "b": {"a"}})
    try:
        test_no_import_cycle()
    except AssertionError as e:
        assert "a → b → a" in str(e) or "b → a → b" in str(e)
    else:
        raise AssertionError("cycle not detected")


def test_no_module_is_too_long():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_import_nstlib_is_light():
    code = (
        "import sys, nstlib; heavy = [m for m in ('nstlib.ui.cli', 'nstlib.ui.widgets', 'nstlib.ui.notebook', "
        "'papermill', 'dask', 'distributed', 'ipywidgets', 'matplotlib.pyplot') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_works_outside_a_source_checkout(tmp_path):
    """As from a non-editable install: no checkout around the package, so the default `runs` is ./runs and
    a bundled `collections/...` path fails in one line that says where the collection comes from."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "nstlib", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    probe = "import nstlib, nstlib.paths as p; print(nstlib.__file__, p.source_root(), p.resolve_output('runs'))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(site / "nstlib" / "__init__.py"), "None", "runs"]
    run = subprocess.run(
        [sys.executable, "-m", "nstlib", "run", "--image-size", "32"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "collections/content/chelsea.jpg': file not found; the bundled collections/ come with a source checkout" in (
        run.stderr
    )
    assert not (work / "runs").exists()


def test_every_sub_package_is_installed():
    """A non-editable install ships only the packages pyproject.toml lists: each sub-package must be there."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "nstlib" + (f".{module_name(p.parent)}" if p.parent != PACKAGE else "") for p in PACKAGE.rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
