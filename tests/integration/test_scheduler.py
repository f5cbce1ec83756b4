"""The scheduler on PostgreSQL: each daily sweep runs exactly once per business date and
kind, whatever the number of replicas, reruns, outages or DST nights, because the run
keys live in the database.

Scheduler replicas send into a list; ``Deployment.deliver`` settles what they sent as
workers would (start the run, settle its chunks), so every step is explicit and no
test waits on a clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any, TypeVar

import pytest
from dramatiq import Worker
from scenarios.kit import (
    CUSTOMER,
    OTHER_CUSTOMER,
    ROME,
    Books,
    assert_books_balance,
    fail,
    journal_of,
    pay,
    refund,
    rome,
    transfer,
)
from servers import PostgresServer
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from ledger.policy import Policy
from ledger.service import Ledger
from ledger.store import schema
from ledger.store.database import create_database_engine
from ledger.store.migrate import upgrade
from ledger.sweeps import SWEEPS
from messages import InboundEvent
from residuo.bootstrap import bootstrap
from residuo.settings import Settings
from scheduler.plan import DueRun, Schedule
from scheduler.process import run_scheduler
from scheduler.runs import last_runs
from scheduler.service import Action, Scheduler, Tick
from scheduler.settings import SchedulerSettings

KINDS = tuple(SWEEPS)
SCHEDULE = Schedule(run_at=time(4, 30), zone=ROME, kinds=KINDS, latest_only=("reminders",))
POLL = timedelta(seconds=10)
RESEND_AFTER = timedelta(minutes=15)

T = TypeVar("T")


@dataclass
class Clock:
    """The test's clock, read by the ledger when it records."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Deployment:
    """One database, a ledger on the test's clock, scheduler replicas, and the messages
    they sent, settled on demand as workers would."""

    url: str
    replicas: int = 1
    clock: Clock = field(default_factory=lambda: Clock(rome(2026, 1, 1)))
    sent: list[DueRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = create_database_engine(self.url, pool_size=8)
        upgrade(self.engine)
        self.books = Books(self.engine)
        self.ledger = Ledger(self.engine, Policy(), clock=self.clock, sweep_chunk_size=2)
        self._lock = threading.Lock()
        self._delivered = 0
        self._engines = [create_database_engine(self.url) for _ in range(self.replicas)]
        self.schedulers = [
            Scheduler(engine, SCHEDULE, self._send, poll_every=POLL, resend_after=RESEND_AFTER)
            for engine in self._engines
        ]

    def _send(self, run: DueRun) -> None:
        with self._lock:
            self.sent.append(run)

    def tick(self, now: datetime) -> list[Tick]:
        """Every replica ticks at ``now``, all at the same instant."""
        self.clock.now = now
        return together(*(lambda each=each: each.tick(now) for each in self.schedulers))

    def deliver(self) -> None:
        """Settle every message sent since the last delivery: start the run, settle its
        chunks (a worker per chunk would do the same, in any order)."""
        while self._delivered < len(self.sent):
            run = self.sent[self._delivered]
            self._delivered += 1
            for chunk in self.ledger.start_sweep_run(run.kind, run.business_date, run.as_of):
                self.ledger.settle_sweep_chunk(run.kind, run.business_date, chunk)

    def run_until_idle(self, now: datetime) -> None:
        """Tick and deliver until every replica has nothing left to send at ``now``."""
        for _ in range(100):
            ticks = self.tick(now)
            self.deliver()
            if all(tick.action is Action.IDLE for tick in ticks):
                return
        raise AssertionError("the scheduler never became idle")

    def close(self) -> None:
        assert_books_balance(self.engine)
        for engine in [self.engine, *self._engines]:
            engine.dispose()

    def notifications(self) -> list[dict[str, Any]]:
        """Every outbox envelope, oldest first."""
        with self.engine.connect() as connection:
            payloads = connection.execute(
                select(schema.outbox.c.payload).order_by(schema.outbox.c.position)
            ).scalars()
            return [json.loads(payload) for payload in payloads]

    def summaries(self) -> list[dict[str, Any]]:
        return [note["data"] for note in self.notifications() if note["type"] == "sweep.completed"]


def together(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released at the same instant; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def deployment(postgres_url: str) -> Iterator[Deployment]:
    """One scheduler replica; its books must balance when the test ends."""
    made = Deployment(postgres_url)
    yield made
    made.close()


@pytest.fixture
def two_replicas(postgres_url: str) -> Iterator[Deployment]:
    """Two scheduler replicas on one database."""
    made = Deployment(postgres_url, replicas=2)
    yield made
    made.close()


def grant(books: Books, order: str, paid_at: datetime, customer: str = CUSTOMER) -> None:
    """A 100.00 payment whose activation fails a day later: credit until paid_at + 12 months."""
    books.record(pay(order, customer, "100.00", paid_at), fail(order, paid_at + timedelta(days=1)))


def seed_a_busy_week(books: Books) -> None:
    """Credits expiring on 2, 3 and 4 May 2026, a SPID deadline on 3 May, a hold lapsing
    on 2 May and a credit whose 30-day reminder falls due on 2 May."""
    grant(books, "MI0001", rome(2025, 5, 2, 10))
    grant(books, "MI0002", rome(2025, 5, 3, 10))
    grant(books, "MI0003", rome(2025, 5, 4, 3))
    grant(books, "MI0004", rome(2025, 6, 1, 10))
    books.record(pay("SP0001", CUSTOMER, "49.90", rome(2026, 2, 2, 9), service="spid"))
    grant(books, "MI0005", rome(2025, 5, 20, 10), customer=OTHER_CUSTOMER)
    books.record(transfer("R1", OTHER_CUSTOMER, "MI0100", "150.00", rome(2026, 4, 2, 10)))


def test_two_schedulers_at_once_send_each_run_once(two_replicas: Deployment) -> None:
    """Two replicas ticking at the same instant: one claims the run and sends it, the
    other waits; a day ends with one run per kind and one sweep.completed each."""
    grant(two_replicas.books, "MI0001", rome(2025, 5, 2, 10))

    first = two_replicas.tick(rome(2026, 5, 4, 4, 30))

    assert sorted(tick.action for tick in first) == [Action.SENT, Action.WAITING]
    assert [run.kind for run in two_replicas.sent] == ["spid_timeout"]

    two_replicas.run_until_idle(rome(2026, 5, 4, 4, 30))

    assert [run.kind for run in two_replicas.sent] == list(KINDS)
    runs = last_runs(two_replicas.engine)
    assert {(run.kind, run.status, run.send_count) for run in runs} == {
        (kind, "completed", 1) for kind in KINDS
    }
    assert [summary["kind"] for summary in two_replicas.summaries()] == list(KINDS)
    assert len(two_replicas.books.data("credit.expired")) == 1


def test_residuo_scheduler_sends_the_days_runs_once_and_workers_settle_them(
    deployment: Deployment,
) -> None:
    """``residuo scheduler`` as it runs (``run_scheduler``: the serve loop over
    ``build_scheduler``), on the books' database and the in-memory broker, its clock
    stopped at 4 May 05:00, with a worker consuming the sweeps queue: the day's four
    runs are each sent once, in order, and settle; the expired credit is forfeited and
    each run's sweep.completed is in the outbox. The loop stops when told to.

    Its log tells the story: started at 05:00, after the day's run time, it says the
    next run is the day's, late (04:30; attack10's written reproduction: it said
    tomorrow's), sends each run as a catch-up, reports each run completed with its
    counts, then the next run time once the day is done."""
    grant(deployment.books, "MI0001", rome(2025, 5, 4, 3))
    now = rome(2026, 5, 4, 5)
    settings = Settings(database_url=deployment.url, broker_url="memory")
    stop = threading.Event()
    with bootstrap(settings, clock=lambda: now) as runtime, capture_logs() as logs:
        worker = Worker(runtime.broker, worker_threads=1, worker_timeout=50)
        worker.start()
        loop = threading.Thread(
            target=run_scheduler,
            args=(runtime, SchedulerSettings(poll_seconds=1)),
            kwargs={"stop": stop},
        )
        loop.start()
        try:
            wait_for(
                lambda: [line for line in logs if line["event"] == "sweep runs done"],
                until=bool,
            )
        finally:
            stop.set()
            loop.join(timeout=30)
            worker.stop()
    assert not loop.is_alive()

    completed = [run for run in last_runs(deployment.engine) if run.completed]
    assert {(run.business_date, run.kind, run.send_count) for run in completed} == {
        (date(2026, 5, 4), kind, 1) for kind in KINDS
    }
    expired = deployment.books.only("credit.expired")
    assert expired["expired_at"] == "2026-05-04T03:00:00+02:00"
    assert [summary["kind"] for summary in deployment.summaries()] == list(KINDS)
    told = {"scheduler started", "sweep run sent (catch-up)", "sweep run completed"}
    said = [line for line in logs if line["event"] in told | {"sweep runs done"}]
    started, *runs, done = said
    assert started["event"] == "scheduler started"
    assert started["next_run_at"] == "2026-05-04T04:30:00+02:00"
    assert [(line["event"], line["kind"]) for line in runs] == [
        (event, kind)
        for kind in KINDS
        for event in ("sweep run sent (catch-up)", "sweep run completed")
    ]
    expiry = next(line for line in runs if line["kind"] == "expiry" and "counts" in line)
    assert expiry["counts"] == {"forfeited": 1}
    assert done["event"] == "sweep runs done"
    assert done["next_run_at"] == "2026-05-05T04:30:00+02:00"


def wait_for(read: Callable[[], T], *, until: Callable[[T], bool], timeout: float = 60) -> T:
    """Read until the value satisfies ``until``, polling with a deadline, never sleeping blind."""
    deadline = monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        threading.Event().wait(0.1)


def test_a_rerun_adds_no_effect(deployment: Deployment) -> None:
    """Every run and chunk message delivered again, the schedulers ticking again and the
    same sweeps run by hand change no book and add no customer notification."""
    seed_a_busy_week(deployment.books)
    deployment.run_until_idle(rome(2026, 5, 4, 5))
    journal, notes = journal_of(deployment.engine), deployment.notifications()

    for run in last_runs(deployment.engine):
        deployment.ledger.start_sweep_run(run.kind, run.business_date, run.as_of)
        for chunk in range(run.chunks_total):
            settled = deployment.ledger.settle_sweep_chunk(run.kind, run.business_date, chunk)
            assert not settled.settled
    deployment.run_until_idle(rome(2026, 5, 4, 9))
    assert journal_of(deployment.engine) == journal
    assert deployment.notifications() == notes

    deployment.ledger.sweep("all", rome(2026, 5, 4, 4, 30))
    assert journal_of(deployment.engine) == journal
    hand_made = deployment.notifications()[len(notes) :]
    assert {note["type"] for note in hand_made} == {"sweep.completed"}
    assert all(note["data"]["counts"] == {} for note in hand_made)


def test_a_run_whose_message_was_lost_is_sent_again(deployment: Deployment) -> None:
    """Claimed and sent, but never settled: after the silence allowed it is sent again,
    once, and completes; a run that keeps advancing is never re-sent."""
    grant(deployment.books, "MI0001", rome(2025, 5, 2, 10))
    deployment.tick(rome(2026, 5, 4, 4, 30))
    deployment.sent.clear()  # the message is lost on the way

    assert deployment.tick(rome(2026, 5, 4, 4, 40))[0].action is Action.WAITING
    resent = deployment.tick(rome(2026, 5, 4, 4, 46))[0]

    assert (resent.action, resent.run and resent.run.kind) == (Action.RESENT, "spid_timeout")
    assert deployment.tick(rome(2026, 5, 4, 4, 47))[0].action is Action.WAITING
    deployment.run_until_idle(rome(2026, 5, 4, 4, 47))
    runs = {run.kind: run for run in last_runs(deployment.engine)}
    assert runs["spid_timeout"].send_count == 2
    assert {run.send_count for kind, run in runs.items() if kind != "spid_timeout"} == {1}
    assert len(deployment.books.data("credit.expired")) == 1


REMINDERS = {"credit.expiring_soon", "spid.deadline_approaching"}


def seed_late_events(books: Books) -> None:
    """Orders paid a year before 10 and 11 May 2026, whose activations will fail (on 3
    May 12:00 and 4 May 04:45) a week before their credit expires."""
    books.record(
        pay("MI0006", CUSTOMER, "60.00", rome(2025, 5, 10, 10)),
        pay("MI0007", CUSTOMER, "70.00", rome(2025, 5, 11, 10)),
    )


def late_events() -> list[tuple[datetime, InboundEvent]]:
    """What arrives after 1 May: a refund request (refused, no documents) that releases
    the lapsed hold on MI0005's credit, and the two failed activations."""
    return [
        (
            rome(2026, 5, 2, 12),
            refund("R2", OTHER_CUSTOMER, rome(2026, 5, 2, 12), channel="documents"),
        ),
        (rome(2026, 5, 3, 12), fail("MI0006", rome(2026, 5, 3, 12))),
        (rome(2026, 5, 4, 4, 45), fail("MI0007", rome(2026, 5, 4, 4, 45))),
    ]


def by_id(notes: list[dict[str, Any]], *, reminders: bool) -> dict[str, dict[str, Any]]:
    """The reminders (or every other notification, reminder runs' summaries aside) by id.

    ``event.late`` reports are left out of both: they name the event by its id, which
    the two deployments' seeds draw from one counter."""
    return {
        note["id"]: note
        for note in notes
        if note["type"] != "event.late"
        and (note["type"] in REMINDERS or note["data"].get("kind") == "reminders") is reminders
    }


def test_a_run_is_sent_again_at_the_as_of_it_was_claimed_with(deployment: Deployment) -> None:
    """Claimed at 04:30, its message lost, then the run time moved to 05:00: the run is
    sent again at 04:30, the as_of its claim fixed and the worker checks."""
    deployment.tick(rome(2026, 5, 4, 4, 30))
    deployment.sent.clear()
    later = Schedule(run_at=time(5), zone=ROME, kinds=KINDS, latest_only=("reminders",))
    moved = Scheduler(
        deployment.engine, later, deployment.sent.append, poll_every=POLL, resend_after=RESEND_AFTER
    )

    resent = moved.tick(rome(2026, 5, 4, 5, 16))

    assert resent.action is Action.RESENT
    assert [(run.kind, run.as_of) for run in deployment.sent] == [
        ("spid_timeout", rome(2026, 5, 4, 4, 30))
    ]


def test_a_three_day_outage_catches_up_as_punctual_runs_would(
    deployment: Deployment, postgres_server: PostgresServer
) -> None:
    """Down from 1 May after its run until 4 May 05:00, while events arrive: the next
    ticks run 2, 3 and 4 May in order, each at its own as_of, and the books and every
    notification but the reminders are exactly those of a scheduler that never went
    down; every effect is dated when it fell due. Reminders run for 4 May only, judged
    at its as_of: each credit a punctual scheduler reminded during the outage is
    reminded once, dated 4 May 04:30, and none is reminded before it was granted or
    while it was held."""
    control_url = postgres_server.create_database()
    punctual = Deployment(control_url)
    try:
        for books in (deployment.books, punctual.books):
            seed_a_busy_week(books)
            seed_late_events(books)
        events = late_events()
        for day in (1, 2, 3, 4):
            punctual.run_until_idle(rome(2026, 5, day, 4, 30))
            punctual.books.record(*(event for at, event in events if at.day == day))

        deployment.run_until_idle(rome(2026, 5, 1, 4, 30))
        for at, event in events:
            deployment.clock.now = at
            deployment.books.record(event)
        deployment.run_until_idle(rome(2026, 5, 4, 5))

        assert [(run.business_date.day, run.kind) for run in deployment.sent] == [
            (1, kind) for kind in KINDS
        ] + [(day, kind) for day in (2, 3) for kind in KINDS if kind != "reminders"] + [
            (4, kind) for kind in KINDS
        ]
        assert journal_of(deployment.engine) == journal_of(punctual.engine)
        caught_up, on_time = deployment.notifications(), punctual.notifications()
        assert by_id(caught_up, reminders=False) == by_id(on_time, reminders=False)
        late = [
            [note["data"]["business_time"] for note in notes if note["type"] == "event.late"]
            for notes in (caught_up, on_time)
        ]
        assert late[0] == late[1]
        assert [each for each in totals(deployment.engine) if each[0] != "reminders"] == [
            each for each in totals(punctual.engine) if each[0] != "reminders"
        ]
        reminded_late = {
            (note["data"]["credit_id"], note["time"], note["data"]["days_left"])
            for note in caught_up
            if note["type"] == "credit.expiring_soon" and note["time"] > "2026-05-02"
        }
        assert reminded_late == {
            ("CR-MI0004", "2026-05-04T04:30:00+02:00", 28),
            ("CR-MI0005", "2026-05-04T04:30:00+02:00", 16),
            ("CR-MI0006", "2026-05-04T04:30:00+02:00", 6),
        }
        assert {credit for credit, _, _ in reminded_late} == {
            note["data"]["credit_id"]
            for note in on_time
            if note["type"] == "credit.expiring_soon" and note["time"] > "2026-05-02"
        }
        forfeits = [
            entry for entry in journal_of(deployment.engine) if entry[0] == "credit_forfeited"
        ]
        assert [entry[2] for entry in forfeits] == [
            rome(2026, 5, 2, 10),
            rome(2026, 5, 3, 10),
            rome(2026, 5, 4, 3),
        ]
        cancelled = deployment.books.only("spid.order_cancelled")
        assert cancelled["cancelled_at"] == "2026-05-03T09:00:00+02:00"
        released = deployment.books.only("hold.released")
        assert released["order_id"] == "MI0100"
    finally:
        punctual.close()
        postgres_server.drop_database(control_url)


def totals(engine: Engine) -> list[tuple[str, date, str, dict[str, int], dict[str, int]]]:
    """Each run's key, status and sweep.completed totals."""
    return sorted(
        (run.kind, run.business_date, run.status, run.counts, run.cents)
        for run in last_runs(engine, limit=100)
    )


@pytest.mark.parametrize(
    ("night", "length", "expired_at"),
    [
        (date(2026, 3, 29), timedelta(hours=23), "2026-03-29T03:30:00+02:00"),
        (date(2026, 10, 25), timedelta(hours=25), "2026-10-25T02:30:00+02:00"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_the_dst_nights_of_2026_run_once_each_day(
    deployment: Deployment, night: date, length: timedelta, expired_at: str
) -> None:
    """Ticking every half hour from the day before to the day after a DST night: one run
    per kind and date, each at 04:30 local time, the night's run 23 or 25 hours after the
    previous one. A credit paid a year earlier at 02:30 expires at 02:30 that night, a
    time that does not exist in spring (it expires at 03:30 CEST) and comes twice in
    autumn (it expires at the first, 02:30 CEST): the night's own run forfeits it, once,
    dated then."""
    paid_at = datetime.combine(night.replace(year=2025), time(2, 30), ROME)
    grant(deployment.books, "MI0001", paid_at)
    days = [night - timedelta(days=1), night, night + timedelta(days=1)]
    now = datetime.combine(days[0], time(5), ROME).astimezone(UTC)
    while now <= datetime.combine(days[-1], time(12), ROME):
        deployment.run_until_idle(now)
        now += timedelta(minutes=30)

    runs = last_runs(deployment.engine, limit=100)
    assert sorted((run.business_date, run.kind) for run in runs) == sorted(
        (day, kind) for day in days for kind in KINDS
    )
    assert len(deployment.sent) == len(runs)
    as_of = {run.business_date: run.as_of for run in runs}
    assert [as_of[day].astimezone(ROME).time() for day in days] == [time(4, 30)] * 3
    assert as_of[night] - as_of[days[0]] == length
    expired = deployment.books.only("credit.expired")
    assert expired["expired_at"] == expired_at
    forfeited = {run.business_date: run.counts for run in runs if run.kind == "expiry"}
    assert forfeited == {days[0]: {}, night: {"forfeited": 1}, days[2]: {}}
