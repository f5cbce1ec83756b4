"""Escape codes from upstream never reach a terminal: ``balance`` and ``statement`` print
what the books hold escaped, even books written before identifiers were checked."""

import sqlite3
from pathlib import Path

import pytest
from e2e.stack import Stack
from e2e.test_cli import run, write_replay_file
from sqlalchemy import update

from ledger.store import schema

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

CUSTOMER = "1234567@aruba.it"
HOSTILE_ID = "CR-\x1b]0;pwned\x07MI0001"
HOSTILE_MEMO = "\x1b[2J\nforged"


@pytest.fixture
def hostile_books(tmp_path: Path) -> Path:
    """The replayed story, then a credit id and a memo carrying escape sequences and a
    newline, written straight into the books (as data from before the checks)."""
    run(tmp_path, "replay", str(write_replay_file(tmp_path)))
    with sqlite3.connect(tmp_path / "books.sqlite3") as books:
        books.execute("PRAGMA foreign_keys = OFF")
        for table in ("credits", "postings", "journal_entries"):
            books.execute(
                f"UPDATE {table} SET credit_id = ? WHERE credit_id = 'CR-MI0001'", (HOSTILE_ID,)
            )
        books.execute("UPDATE journal_entries SET memo = ?", (HOSTILE_MEMO,))
    return tmp_path


BORDERS = frozenset("│┃┏┓┗┛━─┡┩└┘┌┐├┤┼╇┳┴")


def squeezed(table: str) -> str:
    """A rich table's text without its borders and the breaks of wrapped cells."""
    return "".join(each for each in table if not each.isspace() and each not in BORDERS)


@pytest.mark.parametrize(
    ("verb", "escaped"),
    [
        ("balance", "CR-\\x1b]0;pwned\\x07MI0001"),
        ("statement", "\\x1b[2J\\nforged"),
    ],
)
def test_escape_codes_in_the_books_are_shown_escaped(
    hostile_books: Path, verb: str, escaped: str
) -> None:
    """No ESC or BEL reaches stdout, and the id or memo is shown with its escapes,
    its newline included (a cell wraps; it never breaks into a row of its own)."""
    arguments = [verb, CUSTOMER]
    if verb == "balance":
        arguments += ["--as-of", "2027-01-09T00:00:00+01:00"]

    result = run(hostile_books, *arguments)

    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert escaped in squeezed(result.stdout)


@pytest.mark.parametrize(
    ("verb", "escaped"),
    [
        ("balance", "CR-\\x1b]0;pwned\\x07MI0001"),
        ("statement", "\\x1b[2J\\nforged"),
    ],
)
def test_escape_codes_in_postgresql_books_are_shown_escaped(
    stack: Stack, tmp_path: Path, verb: str, escaped: str
) -> None:
    """The same on PostgreSQL, the production database: the story replayed into it,
    then hostile values written straight into its tables."""
    replayed = stack.run("replay", str(write_replay_file(tmp_path)))
    assert replayed.returncode == 0, replayed.stderr
    with stack.engine.begin() as connection:
        for table in (schema.credits, schema.postings, schema.journal_entries):
            connection.execute(
                update(table).where(table.c.credit_id == "CR-MI0001").values(credit_id=HOSTILE_ID)
            )
        connection.execute(update(schema.journal_entries).values(memo=HOSTILE_MEMO))
    arguments = [verb, CUSTOMER]
    if verb == "balance":
        arguments += ["--as-of", "2027-01-09T00:00:00+01:00"]

    result = stack.run(*arguments)

    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert escaped in squeezed(result.stdout)
