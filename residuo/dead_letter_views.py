"""How ``residuo dead-letters list`` shows dead letters: a table, or one JSON document.

Each dead letter is shown under its one id (``dead_letter_id``: ``sha256:<hex>`` of an
event body, or a Dramatiq message id), the id ``event.rejected`` gives it and that
``replay``, ``drop`` and ``archive`` take; ``resolved_by`` names the event whose
arrival resolved it, if any.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from residuo.printable import shown
from workers.rabbitmq.dead_letter_queue import DeadLetter

__all__ = ["dead_letters_document", "dead_letters_table"]


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


def dead_letters_table(letters: Sequence[DeadLetter], resolved: Mapping[str, str]) -> Table:
    """One row per dead letter, oldest first; ``--json`` has the bodies. Every cell is
    escaped (``residuo.printable``): a dead letter is what went wrong upstream. The
    "Resolved by" column is there when some dead letter is resolved."""
    count = sum(each.dead_letter_id in resolved for each in letters)
    table = Table(
        title=f"{len(letters)} dead letters, {count} resolved",
        caption=(
            "residuo dead-letters replay|drop|archive ID… (drop and archive need --reason); "
            "drop|archive --resolved clears the resolved ones"
        ),
        title_justify="left",
        caption_justify="left",
    )
    # The id and the event id share a column, one above the other: the id is long.
    table.add_column("Dead-letter id\nevent id", no_wrap=True)
    table.add_column("Queue", no_wrap=True)
    table.add_column("Reason", no_wrap=True)
    table.add_column("Detail")
    table.add_column("When (UTC)", no_wrap=True)
    if count:
        table.add_column("Resolved by", no_wrap=True)
    for each in letters:
        cells = [
            Text("\n").join([shown(each.dead_letter_id), shown(each.event_id or "-")]),
            shown(each.queue or "-"),
            shown(each.reason),
            shown(each.detail or "-"),
            shown((each.dead_lettered_at or "-")[:19]),
        ]
        if count:
            cells.append(shown(resolved.get(each.dead_letter_id, "-")))
        table.add_row(*cells)
    return table
