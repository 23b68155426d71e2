"""The code's shape, read from its own imports with ``ast``: the kernel and every plugin are acyclic, and no module
imports another module's private (``_``) names.

Every ``import`` counts, at module level or inside a function, except those under ``if TYPE_CHECKING:`` (they
never run). Modules are named as Python names them; a private *module* (``torchon._component``) may be imported
within its own package, as pluggy's and pytest's are, but not from another distribution.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def packages() -> dict[str, Path]:
    """Top-level package name -> its folder: the kernel and each plugin's package."""
    found = {"torchon": REPO / "core" / "torchon"}
    for folder in sorted((REPO / "plugins").glob("*/src/*")):
        if (folder / "__init__.py").is_file():
            found[folder.name] = folder
    return found


def modules(package: str, root: Path) -> dict[str, Path]:
    out = {}
    for file in root.rglob("*.py"):
        if "extension_template" in file.parts:
            continue
        parts = [package, *file.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = file
    return out


ALL: dict[str, Path] = {}
for _name, _root in packages().items():
    ALL.update(modules(_name, _root))


def _imports(module: str, file: Path) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import that can run."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    type_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in node.body
        for n in ast.walk(sub)
    }
    is_package = file.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: None if is_package else -1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in ALL:
                    yield f"{base}.{alias.name}", None, node.lineno
                else:
                    yield base, alias.name, node.lineno


def _known(name: str) -> str | None:
    while name and name not in ALL:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in ALL}
    for module, file in ALL.items():
        for target, _, _ in _imports(module, file):
            known = _known(target)
            if known is not None and known != module:
                edges[module].add(known)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize("package", sorted(packages()))
def test_no_import_cycle(package: str) -> None:
    edges = graph()
    mine = [c for c in cycles(edges) if c[0].split(".")[0] == package]
    detail = "; ".join(
        " <-> ".join(c) + " (" + ", ".join(f"{m} -> {sorted(edges[m] & set(c))}" for m in c) + ")"
        for c in mine
    )
    assert not mine, f"import cycles in {package}: {detail}"


def test_no_private_name_is_imported_across_modules() -> None:
    violations = []
    for module, file in ALL.items():
        top = module.split(".")[0]
        for target, name, line in _imports(module, file):
            known = _known(target)
            where = f"{file.relative_to(REPO)}:{line}"
            if name and name.startswith("_") and not name.startswith("__") and known and known != module:
                violations.append(f"{where}: {module} imports {name} from {known}")
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split("."))
            if private_module and target.split(".")[0] != top:
                violations.append(f"{where}: {module} imports the private module {target}")
    assert not violations, "\n".join(violations)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The walker finds function-level imports and skips TYPE_CHECKING ones (so the tests above can fail)."""
    file = tmp_path / "m.py"
    file.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from torchon.config import Config\n"
        "def f():\n    from torchon.bundle.load import _node_class\n"
    )
    found = list(_imports("torchon.fake", file))
    assert ("torchon.bundle.load", "_node_class", 5) in found
    assert not any(t == "torchon.config" for t, _, _ in found)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def documented_layers() -> dict[str, int]:
    """Kernel module -> its layer, as the diagram in docs/architecture.md draws it."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```", 2)[1]
    layers: dict[str, int] = {}
    layer = None
    for line in diagram.splitlines():
        head = line[:4].strip()
        if head.isdigit():
            layer = int(head)
        if layer is None:
            continue
        for word in line[4:].replace("(", " ").replace(")", " ").split():
            name = "torchon." + word.replace("/", ".")
            if name in ALL:
                layers.setdefault(name, layer)
            elif word.endswith("/*") and f"torchon.{word[:-2]}" in ALL:  # a package: all its modules
                for module in ALL:
                    if module.startswith(f"torchon.{word[:-2]}."):
                        layers.setdefault(module, layer)
            elif word.startswith("__main__"):
                layers.setdefault("torchon.__main__", layer)
    return layers


def test_the_kernel_keeps_the_layers_docs_architecture_draws() -> None:
    layers = documented_layers()
    kernel = {m for m in ALL if m.startswith("torchon.")}
    packages_only = {m for m in kernel if ALL[m].name == "__init__.py" and m not in layers}
    missing = sorted(kernel - set(layers) - packages_only)
    assert not missing, f"docs/architecture.md does not place: {', '.join(missing)}"
    upward = [
        f"{module} (layer {layers[module]}) imports {target} (layer {layers[target]})"
        for module in sorted(layers)
        for target in sorted(graph()[module])
        if target in layers and layers[target] > layers[module]
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_plugins_import_the_kernel_only_through_its_faces() -> None:
    """A plugin's code imports ``torchon`` (the users' face) or ``torchon.api`` (the plugins' face), nothing deeper,
    so the kernel's modules can move without breaking a plugin. (Plugins' tests may reach further in.)"""
    faces = {"torchon", "torchon.api"}
    violations = []
    for module, file in ALL.items():
        if module.split(".")[0] == "torchon":
            continue
        for target, name, line in _imports(module, file):
            kernel = target == "torchon" or target.startswith("torchon.")
            if kernel and target not in faces and not (target == "torchon" and name is None):
                violations.append(f"{file.relative_to(REPO)}:{line}: {module} imports {target}")
            if target == "torchon" and name is not None and f"torchon.{name}" in ALL and name not in ("api",):
                violations.append(
                    f"{file.relative_to(REPO)}:{line}: {module} imports the module torchon.{name}"
                )
    assert not violations, "\n".join(violations)
