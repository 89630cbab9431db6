"""The package's imports go one way: base -> data -> core -> parsers -> api -> application.

Every ``import`` statement counts, at module level or inside a function, so a cycle cannot
hide behind a function-local import. The layers and what each owns are described in
docs/architecture.md; ``python -m tests.test_layers`` prints the graph listed there.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: checkout folder -> installed package name (setup.cfg's package_dir)
SOURCES = {"treenn": "treenn", "data": "treenn.data", "parsers": "treenn.parsers"}

#: (layer, module prefixes), lowest first; a module belongs to the layer of its longest
#: matching prefix. ``treenn`` itself (the package's lazy public names) is the top.
LAYERS = [
    ("base", ("treenn.errors", "treenn.options")),
    ("data", ("treenn.data",)),
    ("core", ("treenn.cells", "treenn.engines", "treenn.encoders", "treenn.models",
              "treenn.datasets", "treenn.evaluation", "treenn.latent", "treenn.induced",
              "treenn.training", "treenn.metrics", "treenn.runs", "treenn.loop",
              "treenn.randomness", "treenn.optimisation", "treenn.distributed",
              "treenn.checkpoints", "treenn.latent_fast", "treenn.latent_train",
              "treenn.latent_carry")),
    ("parsers", ("treenn.parsers",)),
    ("api", ("treenn.api",)),
    ("application", ("treenn.cli", "treenn.arguments", "treenn.demo", "treenn.show",
                     "treenn.report", "treenn.experiments", "treenn.bench", "treenn.launch")),
    ("facade", ("treenn",)),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def modules() -> dict[str, Path]:
    """Installed module name -> source file, for every module of the package."""
    found = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> str:
    best, best_len = None, -1
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = name, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS")
    return best


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {m: imports(m, p, set(found)) for m, p in found.items()}


def test_every_module_has_a_layer():
    for module in modules():
        layer(module)


def test_no_import_goes_up_a_layer():
    upward = [f"{m} ({layer(m)}) imports {t} ({layer(t)})"
              for m, targets in graph().items() for t in sorted(targets)
              if RANK[layer(t)] > RANK[layer(m)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(g[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from treenn import cli\n\nfrom . import runs\n")
    assert imports("treenn.models", source, {"treenn.cli", "treenn.runs", "treenn"}) == {
        "treenn.cli", "treenn.runs"}


if __name__ == "__main__":  # the listing in docs/architecture.md
    g = graph()
    for name, _ in LAYERS:
        members = sorted(m for m in g if layer(m) == name)
        print(f"## {name}\n")
        for m in members:
            deps = ", ".join(sorted(t for t in g[m]))
            print(f"- `{m}`" + (f": {deps}" if deps else ""))
        print()
    sys.exit(0)
