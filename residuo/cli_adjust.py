"""``residuo adjust``: corrections booked by hand, with an operator and a reason.

An event later than the allowed lateness is reported (``event.late``) with what it
would have changed; these verbs book that by hand. Each is kept with the books and
applied like an event at its business time (``--at``, by default the latest business
time the books have seen), so the books derived again later keep it. Amounts are
decimal strings in the configured currency. Registered on the app by ``residuo.cli``.
"""

import json
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from pydantic import ValidationError

from ledger.errors import AdjustmentRefusedError
from messages import InvalidEvent
from messages.adjustments import Adjustment
from residuo.bootstrap import wall_clock
from residuo.cli_support import AsJson, Customer, fail, load_settings, open_runtime, parse_as_of

__all__ = ["adjust_app"]

adjust_app = typer.Typer(
    help="Correct the books by hand: reinstate, extend, void, goodwill.", no_args_is_help=True
)

CreditArgument = Annotated[str, typer.Argument(metavar="CREDIT_ID", help="The credit (CR-…).")]
Amount = Annotated[str, typer.Option("--amount", help="Decimal amount, e.g. 20.00.")]
Until = Annotated[str, typer.Option("--until", help="Expiry, ISO 8601 with an offset.")]
MaybeUntil = Annotated[
    str | None, typer.Option("--until", help="A new expiry, ISO 8601 with an offset.")
]
Operator = Annotated[str, typer.Option("--operator", help="Who books it.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (a ticket, a case).")]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Business time it takes effect, ISO 8601 with an offset. Default: the latest "
        "business time the books have seen.",
        show_default=False,
    ),
]
CustomerOption = Annotated[
    str, typer.Option("--customer", help="The customer_id owning the credit.")
]


@adjust_app.command()
def reinstate(
    credit_id: CreditArgument,
    *,
    customer: CustomerOption,
    amount: Amount,
    operator: Operator,
    reason: Reason,
    until: MaybeUntil = None,
    at: At = None,
    as_json: AsJson = False,
) -> None:
    """Make AMOUNT of a credit's forfeited remainder usable again (breakage → available);
    --until gives it a new expiry, needed when the old one has passed."""
    _book(
        "reinstate",
        at,
        as_json,
        customer_id=customer,
        credit_id=credit_id,
        amount=amount,
        until=until,
        operator=operator,
        reason=reason,
    )


@adjust_app.command()
def extend(
    credit_id: CreditArgument,
    *,
    customer: CustomerOption,
    until: Until,
    operator: Operator,
    reason: Reason,
    at: At = None,
    as_json: AsJson = False,
) -> None:
    """Move a credit's expiry later (no money moves)."""
    _book(
        "extend",
        at,
        as_json,
        customer_id=customer,
        credit_id=credit_id,
        until=until,
        operator=operator,
        reason=reason,
    )


@adjust_app.command()
def void(
    credit_id: CreditArgument,
    *,
    customer: CustomerOption,
    amount: Amount,
    operator: Operator,
    reason: Reason,
    at: At = None,
    as_json: AsJson = False,
) -> None:
    """Take AMOUNT of a credit's usable remainder back (available → breakage)."""
    _book(
        "void",
        at,
        as_json,
        customer_id=customer,
        credit_id=credit_id,
        amount=amount,
        operator=operator,
        reason=reason,
    )


@adjust_app.command()
def goodwill(
    customer: Customer,
    *,
    amount: Amount,
    until: Until,
    operator: Operator,
    reason: Reason,
    at: At = None,
    as_json: AsJson = False,
) -> None:
    """Grant CUSTOMER a new credit of AMOUNT, expiring --until (funded by goodwill)."""
    _book(
        "goodwill",
        at,
        as_json,
        customer_id=customer,
        amount=amount,
        until=until,
        operator=operator,
        reason=reason,
    )


def _book(kind: str, at: str | None, as_json: bool, **data: str | None) -> None:
    """Book the adjustment ``kind`` with ``data`` (its fields, as typed) at ``at``."""
    amount = data.get("amount")
    if amount is not None:
        try:
            Decimal(amount)
        except InvalidOperation:
            fail(f"--amount {amount!r} is not a decimal amount")
    until = data.get("until")
    if until is not None:
        data["until"] = parse_as_of(until, option="--until").isoformat()
    settings = load_settings()
    with open_runtime(settings) as runtime:
        ledger = runtime.ledger
        when = parse_as_of(at, option="--at") if at else ledger.watermark() or wall_clock()
        adjustment = _adjustment(kind, when, data)
        try:
            # The window every inbound instant must fit: the settings guarantee that
            # every date the books derive from an instant inside it exists.
            settings.inbound_bounds.check_times(adjustment)
        except InvalidEvent as outside:
            fail(
                f"refused, nothing booked: {outside.detail} "
                "(RESIDUO_EVENT_TIME_EARLIEST, RESIDUO_EVENT_TIME_LATEST)"
            )
        try:
            recording = ledger.adjust(adjustment)
        except AdjustmentRefusedError as refused:
            fail(f"refused, nothing booked: {refused}")
    document = {
        "adjustment_id": adjustment.id,
        "type": adjustment.type,
        "at": when.isoformat(),
        "outcome": recording.outcome.value,
    }
    typer.echo(json.dumps(document, indent=2) if as_json else f"booked {adjustment.id}: {kind}")


def _adjustment(kind: str, when: datetime, data: dict[str, str | None]) -> Adjustment:
    body = {
        "id": f"adj-{uuid.uuid4().hex[:16]}",
        "type": f"adjustment.{kind}",
        "time": when.isoformat(),
        "data": data,
    }
    try:
        return Adjustment.model_validate_json(json.dumps(body))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in each['loc'])}: {each['msg']}"
            for each in error.errors(include_url=False)
        )
        fail(f"invalid adjustment: {problems}")
