"""How ``residuo dead-letters list`` shows dead letters: a table, or one JSON document.

Each dead letter is shown under its one id (``dead_letter_id``: ``sha256:<hex>`` of an
event body, or a Dramatiq message id), the id ``event.rejected`` gives it and that
``replay``, ``drop`` and ``archive`` take; ``resolved_by`` names the event whose
arrival resolved it, if any.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from residuo.printable import shown
from workers.rabbitmq.dead_letter_queue import DeadLetter

__all__ = ["dead_letters_document", "dead_letters_table", "print_dead_letters"]


def dead_letters_document(
    letters: Sequence[DeadLetter], resolved: Mapping[str, str]
) -> dict[str, Any]:
    """Every dead letter with its headers, whether it is resolved (``resolved_by``, the
    dead-letter id → event id of ``resolutions``), and its body (as text; bytes that
    are not UTF-8 show as U+FFFD)."""
    return {
        "dead_letters": [
            {
                "dead_letter_id": each.dead_letter_id,
                "dead_letter_queue": each.dead_letter_queue,
                "event_id": each.event_id,
                "event_type": each.event_type,
                "reason": each.reason,
                "detail": each.detail,
                "queue": each.queue,
                "actor": each.actor,
                "retries": each.retries,
                "dead_lettered_at": each.dead_lettered_at,
                "resolved_by": resolved.get(each.dead_letter_id),
                "body": each.body.decode("utf-8", errors="replace"),
            }
            for each in letters
        ]
    }


def dead_letters_table(
    letters: Sequence[DeadLetter], resolved: Mapping[str, str]
) -> RenderableType:
    """One block per dead letter, oldest first: its id alone on a line, whole at any
    width (it is what ``replay``, ``drop`` and ``archive`` take: cut with an ellipsis it
    could not be copied), then its event id, queue, reason, detail, when, and the event
    that resolved it, wrapped to the width; ``--json`` has the bodies. Every value is
    escaped (``residuo.printable``): a dead letter is what went wrong upstream.

    Not a table of one row per letter: an ``sha256:`` id alone is 71 characters, and
    at a terminal's or a pipe's 80 columns it left the other columns no room."""
    count = sum(each.dead_letter_id in resolved for each in letters)
    blocks: list[RenderableType] = [Text(f"{len(letters)} dead letters, {count} resolved")]
    for each in letters:
        details = Table.grid(padding=(0, 2))
        details.add_column(no_wrap=True, style="dim", min_width=len("resolved by"))
        details.add_column(overflow="fold")
        details.add_row("event id", shown(each.event_id or "-"))
        details.add_row("queue", shown(each.queue or "-"))
        details.add_row("reason", shown(each.reason))
        details.add_row("detail", shown(each.detail or "-"))
        details.add_row("when (UTC)", shown((each.dead_lettered_at or "-")[:19]))
        if each.dead_letter_id in resolved:
            details.add_row("resolved by", shown(resolved[each.dead_letter_id]))
        dead_letter_id = shown(each.dead_letter_id)
        dead_letter_id.stylize("bold")
        blocks += [
            Text(""),
            Text.assemble(dead_letter_id, no_wrap=True, overflow="ignore"),
            Padding(details, (0, 0, 0, 2)),
        ]
    blocks += [
        Text(""),
        Text(
            "residuo dead-letters replay|drop|archive ID… (drop and archive need --reason); "
            "drop|archive --resolved clears the resolved ones"
        ),
    ]
    return Group(*blocks)


def print_dead_letters(
    console: Console, letters: Sequence[DeadLetter], resolved: Mapping[str, str]
) -> None:
    """Print `dead_letters_table` on ``console`` without cropping: on a terminal
    narrower than an id, the id runs on and the terminal wraps it, whole, rather
    than being cut at the edge."""
    console.print(dead_letters_table(letters, resolved), crop=False)
