"""The shape of the `messages` package: its public surface and its place in the flow."""

from __future__ import annotations

import ast
from pathlib import Path

import messages

FORBIDDEN_ROOTS = {"ledger", "workers", "scheduler", "residuo"}


def test_every_public_name_is_exported_and_exists() -> None:
    """`__all__` lists only names the package really provides."""
    assert all(hasattr(messages, name) for name in messages.__all__)
    assert len(set(messages.__all__)) == len(messages.__all__)


def test_messages_imports_nothing_downstream() -> None:
    """Data flows messages → workers → ledger: the wire never imports what reads it."""
    imported: set[str] = set()
    for source in Path(messages.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                imported.add(node.module.split(".")[0])

    assert not imported & FORBIDDEN_ROOTS
