"""``residuo demo``: the bundled scenario through the whole embedded pipeline, narrated.

A fresh SQLite database in a temporary directory, the in-memory broker, the real
actors and middleware, the outbox relay, and a simulated clock that follows the
scenario's business time. The policy is the default one (SPEC §1): the story is
written against it, whatever the environment configures.
"""

from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from tempfile import TemporaryDirectory

from rich.console import Console
from rich.table import Table

from ledger.policy import Policy
from ledger.queries import balance
from ledger.rules import spid_deadline
from messages import (
    ActivationCompletedEvent,
    InboundEvent,
    InvalidEvent,
    PaymentReceivedEvent,
    parse_inbound,
)
from residuo.bootstrap import bootstrap, ensure_schema
from residuo.narration import describe_event, describe_notification, local_time
from residuo.render import balance_table
from residuo.replay import EventLine, LineOutcome, parse_line, replaying, split_lines
from residuo.settings import Settings
from workers.broker import MEMORY_BROKER_URL
from workers.relay import MemoryPublisher, PublishedNotification

__all__ = ["SimulatedClock", "run_demo"]


class SimulatedClock:
    """A clock that reads what it was last moved to, and only ever moves forward."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance_to(self, instant: datetime) -> None:
        """Move to ``instant``, unless that would go back in time."""
        self._now = max(self._now, instant)


@dataclass
class _Story:
    """The timeline as it is told, and who appeared in it."""

    policy: Policy
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    applied_ids: set[str] = field(default_factory=set)
    rejected_ids: set[str] = field(default_factory=set)
    published: int = 0
    sweep_totals: int = 0
    dead_lettered: int = 0

    def tell(
        self, when: datetime, outcome: LineOutcome, notes: list[PublishedNotification]
    ) -> None:
        did = [
            text
            for note in notes
            if (text := describe_notification(note.body, self.policy)) is not None
        ]
        happened, quiet = self._happened(outcome)
        did.extend(
            "Message dead-lettered, never retried"
            if each.status == "rejected"
            else f"Failed after retries, dead-lettered: {each.detail}"
            for each in outcome.problems
        )
        self.rows.append((local_time(when, self.policy), happened, _bullets(did or [quiet])))
        self.published += len(notes)
        self.sweep_totals += sum(note.routing_key == "sweep.completed" for note in notes)
        self.dead_lettered += len(outcome.problems)

    def _happened(self, outcome: LineOutcome) -> tuple[str, str]:
        """What the line says, and what to say when residuo had nothing to tell."""
        line = outcome.line
        if not isinstance(line, EventLine):
            kinds = "Daily sweeps" if line.kind == "all" else f"Sweep: {line.kind}"
            return f"{kinds} run", "Nothing due"
        try:
            event = parse_inbound(line.body, currency=self.policy.currency)
        except InvalidEvent as invalid:
            if invalid.event_id is not None:
                self.rejected_ids.add(invalid.event_id)
            reason = invalid.reason.replace("_", " ")
            return f"Event {invalid.event_id} ({invalid.event_type}) arrives: {reason}", ""
        customer = getattr(event.data, "customer_id", None)
        if customer is not None and customer not in self.customers:
            self.customers.append(customer)
        happened = describe_event(event, self.policy)
        if event.id in self.applied_ids:
            return f"{happened} (delivered again)", f"Nothing: {event.id} was already applied"
        self.applied_ids.add(event.id)
        if event.id in self.rejected_ids:
            happened += f" ({event.id} sent again, corrected)"
        return happened, self._quiet(event)

    def _quiet(self, event: InboundEvent) -> str:
        """What an applied event that notified nobody did."""
        if isinstance(event, PaymentReceivedEvent):
            if event.data.service.lower() != self.policy.spid_service:
                return "Order recorded, awaiting activation"
            deadline = spid_deadline(event.data.paid_at, self.policy)
            return f"SPID order recorded: to be activated by {local_time(deadline, self.policy)}"
        if isinstance(event, ActivationCompletedEvent):
            return "Service live: the payment is earned, no credit arises"
        return "Recorded; nothing to notify"


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)


def run_demo(console: Console, environment: Settings) -> None:
    """Run the bundled scenario and print its timeline and the final balances.

    Only logging is taken from ``environment``: quiet (errors only) unless
    ``RESIDUO_LOG_LEVEL`` was set, so the story is not interleaved with log lines.
    """
    policy = Policy()
    scenario = files("residuo").joinpath("scenarios/demo.jsonl").read_bytes()
    lines = [(number, parse_line(raw)) for number, raw in split_lines(scenario)]
    first = next(line.time for _, line in lines if isinstance(line, EventLine) and line.time)
    clock = SimulatedClock(first)
    story = _Story(policy)
    publisher = MemoryPublisher()
    with TemporaryDirectory(prefix="residuo-demo-") as directory:
        settings = Settings(
            database_url=f"sqlite:///{directory}/demo.sqlite3",
            broker_url=MEMORY_BROKER_URL,
            policy=policy,
            log_level=environment.log_level
            if "log_level" in environment.model_fields_set
            else "ERROR",
            log_format=environment.log_format,
        )
        with bootstrap(settings, clock=clock) as runtime:
            ensure_schema(runtime.engine)
            with replaying(runtime, publisher) as replayer:
                for number, line in lines:
                    instant = line.time if isinstance(line, EventLine) else line.as_of
                    if instant is not None:
                        clock.advance_to(instant)
                    already = len(publisher.published)
                    outcome = replayer.feed(number, line)
                    story.tell(clock(), outcome, publisher.published[already:])
            balances = [balance(runtime.engine, customer, clock()) for customer in story.customers]
    console.print(
        f"[bold]residuo demo[/bold]: {len(lines)} events and sweeps from "
        f"{local_time(first, policy)[:7]} to {local_time(clock(), policy)[:7]}, through the "
        "real actors on the in-memory broker, a temporary SQLite database and a simulated "
        "clock.\n"
    )
    console.print(_timeline(story))
    console.print(
        f"{story.published} notifications published ({story.sweep_totals} of them sweep "
        f"totals for ops, not shown); dead-lettered messages: {story.dead_lettered}.\n"
    )
    console.print(f"[bold]Final balances[/bold] at {local_time(clock(), policy)}\n")
    for each in balances:
        console.print(balance_table(each, policy))
        console.print()


def _timeline(story: _Story) -> Table:
    table = Table(title="Timeline", title_justify="left", show_lines=True, expand=True)
    table.add_column(f"When\n({story.policy.business_timezone})", no_wrap=True)
    table.add_column("What happened", ratio=5)
    table.add_column("What residuo did", ratio=7)
    for row in story.rows:
        table.add_row(*row)
    return table
