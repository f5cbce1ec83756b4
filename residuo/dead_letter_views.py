"""How ``residuo dead-letters list`` shows dead letters: a table, or one JSON document."""

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from residuo.printable import shown
from workers.rabbitmq.dead_letter_queue import DeadLetter

__all__ = ["dead_letters_document", "dead_letters_table"]


def dead_letters_document(letters: Sequence[DeadLetter]) -> dict[str, Any]:
    """Every dead letter with its headers and its body (as text; bytes that are not
    UTF-8 show as U+FFFD)."""
    return {
        "dead_letters": [
            {
                "dead_letter_queue": each.dead_letter_queue,
                "message_id": each.message_id,
                "event_id": each.event_id,
                "event_type": each.event_type,
                "reason": each.reason,
                "detail": each.detail,
                "queue": each.queue,
                "actor": each.actor,
                "retries": each.retries,
                "dead_lettered_at": each.dead_lettered_at,
                "body": each.body.decode("utf-8", errors="replace"),
            }
            for each in letters
        ]
    }


def dead_letters_table(letters: Sequence[DeadLetter]) -> Table:
    """One row per dead letter, oldest first; ``--json`` has the bodies. Every cell is
    escaped (``residuo.printable``): a dead letter is what went wrong upstream."""
    table = Table(
        title=f"{len(letters)} dead letters",
        caption="replay with: residuo dead-letters replay ID… (an event or message id)",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Event or message id", no_wrap=True)
    table.add_column("Queue", no_wrap=True)
    table.add_column("Reason", no_wrap=True)
    table.add_column("Detail")
    table.add_column("When (UTC)", no_wrap=True)
    for each in letters:
        table.add_row(
            shown(each.event_id or each.message_id or "-"),
            shown(each.queue or "-"),
            shown(each.reason),
            shown(each.detail or "-"),
            shown((each.dead_lettered_at or "-")[:19]),
        )
    return table
