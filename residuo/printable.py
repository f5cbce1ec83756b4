"""Text from the books, the broker or upstream, made safe to print on a terminal.

Ids, memos, reasons and details were written by someone else: an escape sequence in
one would move the cursor, recolour the screen or retitle the window, and a newline
would forge a row of a table. Every human-facing output (``balance``, ``statement``,
``status``, ``dead-letters list``, ``replay``'s report) prints them through here:
what is not printable (control and format characters, line and paragraph
separators, lone surrogates) is written as its Python escape (``\\x1b``, ``\\u2028``),
and rich never reads them as markup (``[bold]`` stays as typed). JSON output needs
none of this: ``json.dumps`` escapes control characters itself.
"""

from __future__ import annotations

from rich.text import Text

__all__ = ["first_line", "printable", "shown"]


def printable(value: object) -> str:
    """``str(value)`` with every character that is not printable escaped (a space is)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        each if each.isprintable() or each == " " else each.encode("unicode_escape").decode()
        for each in text
    )


def shown(value: object) -> Text:
    """``printable(value)`` as a rich ``Text``: a table cell or title that is never
    parsed as markup."""
    return Text(printable(value))


def first_line(error: BaseException | None) -> str:
    """The first line of ``error``'s message (its ``repr`` when it has none): what a
    one-line report of it shows."""
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
