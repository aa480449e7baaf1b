"""The repository's structure holds as it grows: every crate reads bottom-up (no two files import
each other, directly or around a loop), and no comment or document points at a file that does
not exist. These read the sources; they need no runtime."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRATES = ["engine/src", "host/src", "guest-shim/src", "python/src", "tests/evil-guest/src", "tests/fuzz/src"]
SOURCES = [p for p in ROOT.rglob("*") if p.suffix in {".rs", ".py", ".pyi", ".md", ".toml"}
           and not {"target", ".venv", ".git"} & set(p.relative_to(ROOT).parts)]


def modules(src: pathlib.Path) -> dict[str, pathlib.Path]:
    """Each file of a crate by its module path (`engine::pending`); `mod.rs`/`lib.rs` name their folder."""
    found = {}
    for path in src.rglob("*.rs"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] in {"mod", "lib", "main"}:
            parts = parts[:-1]
        found["::".join(parts)] = path
    return found


def imports(module: str, path: pathlib.Path, known: dict[str, pathlib.Path]) -> set[str]:
    """The crate's files `module` names, outside its tests (children a folder declares excluded:
    they are its parts, not what it builds on)."""
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", path.read_text())[0]
    chains = re.findall(r"crate::([a-z0-9_:]+)", text)
    for group in re.findall(r"use crate::\{([^;]*)\};", text, re.S):
        chains += re.findall(r"[a-z0-9_]+(?:::[a-z0-9_]+)*", group)
    here = module.split("::") if path.name == "mod.rs" else module.split("::")[:-1]
    chains += ["::".join(here + [name]) for name in re.findall(r"super::([a-z0-9_]+)", text)] if here else []
    found = set()
    for chain in chains:
        parts = chain.split("::")
        for end in range(len(parts), 0, -1):
            if "::".join(parts[:end]) in known:
                found.add("::".join(parts[:end]))
                break
    return found - {module, ""}


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one file."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_two_files_of_a_crate_import_each_other():
    for crate in CRATES:
        known = modules(ROOT / crate)
        graph = {module: imports(module, path, known) for module, path in known.items()}
        assert not loops(graph), f"{crate}: files that import each other: {loops(graph)}"


def test_the_loop_finder_finds_a_loop():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_code_and_documents_point_only_at_files_that_exist():
    names = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()
             and not {"target", ".venv", ".git"} & set(p.relative_to(ROOT).parts)}
    basenames = {name.rsplit("/", 1)[-1] for name in names}
    missing = []
    for source in SOURCES:
        text = source.read_text(errors="ignore")
        for ref in set(re.findall(r"`([\w./-]+\.(?:rs|py|pyi|md))`", text)):
            exists = any(name.endswith(ref) for name in names) if "/" in ref else ref in basenames
            if not exists:
                missing.append(f"{source.relative_to(ROOT)} points at {ref}")
    assert not missing, "\n".join(missing)
