"""The user docs stay complete: every hook and registry method is documented, and links between pages resolve.

As in datasette's ``test_docs.py``: adding a hook spec or a registry method without documenting it fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from torchon import hookspecs, registry

DOCS = Path(__file__).resolve().parent.parent / "docs"
PLUGINS_MD = DOCS / "plugins.md"
SPEC_MARKER = f"{hookspecs.PROJECT}_spec"  # the attribute pluggy's HookspecMarker sets on a spec function

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _hook_specs() -> dict[str, Callable[..., object]]:
    """Every hook spec: functions carrying pluggy's spec marker, and names ``__all__`` exports as hooks."""
    specs = {
        name: func
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, SPEC_MARKER)
    }
    for name in hookspecs.__all__:
        if name.startswith(f"{hookspecs.PROJECT}_"):
            specs.setdefault(name, getattr(hookspecs, name))
    return specs


def _without_code_blocks(text: str) -> str:
    """``text`` with fenced code blocks blanked to spaces (same length, so positions still match)."""
    return _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _headings(text: str) -> list[tuple[int, str, str]]:
    """(level, heading, body) for each heading outside code blocks; the body runs to the next heading of the same
    or a higher level and keeps its code blocks (examples count as documentation)."""
    found = list(_HEADING.finditer(_without_code_blocks(text)))
    out = []
    for i, match in enumerate(found):
        level = len(match.group(1))
        end = next((m.start() for m in found[i + 1 :] if len(m.group(1)) <= level), len(text))
        out.append((level, match.group(2).strip(), text[match.end() : end]))
    return out


def _sections(text: str) -> dict[str, str]:
    return {heading: body for _, heading, body in _headings(text)}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"`([^`]*)`", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _registry_class(annotation: object) -> type | None:
    """The torchon.registry class a hook parameter is annotated with (a string, under postponed annotations)."""
    if isinstance(annotation, str):
        annotation = getattr(registry, annotation.strip("'\""), None)
    if isinstance(annotation, type) and annotation.__module__ == registry.__name__:
        return annotation
    return None


def _hook_registries() -> list[tuple[str, str, type, str]]:
    """(hook, parameter, registry class, method) for every ``add*`` method of the registry each hook receives."""
    rows = []
    for hook, func in sorted(_hook_specs().items()):
        for param in inspect.signature(func).parameters.values():
            cls = _registry_class(param.annotation)
            if cls is None:
                continue
            for method, _ in inspect.getmembers(cls, inspect.isfunction):
                if method.startswith("add"):
                    rows.append((hook, param.name, cls, method))
    return rows


def test_there_are_hooks_to_check() -> None:
    specs = _hook_specs()
    assert specs, "found no hook specs in torchon.hookspecs"
    assert set(specs) >= {n for n in hookspecs.__all__ if n.startswith("torchon_")}
    assert _hook_registries(), "found no registry methods handed to hooks"


@pytest.mark.parametrize("hook", sorted(_hook_specs()))
def test_every_hook_has_a_section_in_plugins_md(hook: str) -> None:
    levels = {heading: level for level, heading, _ in _headings(PLUGINS_MD.read_text(encoding="utf-8"))}
    assert levels.get(hook) == 3, f"docs/plugins.md has no `### {hook}` heading; document the hook there"


@pytest.mark.parametrize(
    ("hook", "param", "method"),
    [(hook, param, method) for hook, param, _, method in _hook_registries()],
)
def test_every_registry_method_is_documented_under_its_hook(hook: str, param: str, method: str) -> None:
    section = _sections(PLUGINS_MD.read_text(encoding="utf-8")).get(hook, "")
    call = f"{param}.{method}("
    assert call in section, f"docs/plugins.md's `### {hook}` section does not document `{call}...)`"


def test_every_registry_class_handed_to_hooks_is_covered() -> None:
    """A registry class with ``add*`` methods that no hook receives would escape the check above.

    ``Table`` is left out on purpose: it is the storage beneath the registries, never handed to a hook.
    """
    covered = {cls for _, _, cls, _ in _hook_registries()}
    facades = {
        cls
        for name, cls in inspect.getmembers(registry, inspect.isclass)
        if cls.__module__ == registry.__name__
        and name.endswith("Registry")
        and any(m.startswith("add") for m, _ in inspect.getmembers(cls, inspect.isfunction))
    }
    assert facades <= covered, f"registries no hook receives: {sorted(c.__name__ for c in facades - covered)}"


def _doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    text = _without_code_blocks(page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for match in _LINK.finditer(text):
        href = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I) or href.startswith("//"):
            continue  # http:, https:, mailto:
        path, _, anchor = href.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{href} (no file {target})")
            continue
        if anchor and target.suffix == ".md":
            slugs = {_slug(h) for h in _sections(target.read_text(encoding="utf-8"))}
            if anchor not in slugs:
                broken.append(f"{href} (no heading with anchor #{anchor} in {target.name})")
    assert not broken, f"broken links in docs/{page.name}: " + "; ".join(broken)


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {m.group(1).partition("#")[0] for m in _LINK.finditer(index)}
    missing = [p.name for p in _doc_pages() if p.name != "index.md" and p.name not in linked]
    assert not missing, f"docs/index.md does not link to {', '.join(missing)}"
