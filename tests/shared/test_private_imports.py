"""No package imports another package's private modules or names (CONTRIBUTING: ask the owner to
export one). ``disentkit._random`` and other top-level private modules are the library's own."""

from __future__ import annotations

import ast
from pathlib import Path

import disentkit

SRC = Path(disentkit.__file__).resolve().parent


def _imported(path: Path) -> list[list[str]]:
    rel = path.relative_to(SRC).parts
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["disentkit", *rel[:-1]][: len(rel) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            out += [module + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name.split(".") for a in node.names]
    return [p for p in out if p[0] == "disentkit"]


def _offence(path: Path, parts: list[str]) -> bool:
    importer = list(path.relative_to(SRC).parts[:-1])
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            owner = parts[1:i]  # the package that holds the private module or name
            return bool(owner) and importer[: len(owner)] != owner
    return False


def test_no_cross_package_private_imports():
    offences = [f"{p.relative_to(SRC)}: {'.'.join(parts)}" for p in SRC.rglob("*.py")
                for parts in _imported(p) if _offence(p, parts)]
    assert not offences, offences
