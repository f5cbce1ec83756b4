"""Wake the relay when notifications are queued: ``NOTIFY residuo_outbox`` on insert.

PostgreSQL only. A statement-level trigger on ``outbox`` calls
``pg_notify('residuo_outbox', '')`` after every insert statement, so a relay that
``LISTEN``s on the channel (``workers.outbox_wakeup``) learns of new rows when the
transaction that wrote them commits, instead of at its next poll. A notification is
delivered only on commit and identical ones within a transaction are folded into
one, so a batch of rows wakes the relay once; a rolled-back insert wakes nobody. No
ledger code changes: every path that writes the outbox is covered by the trigger.
SQLite has no ``NOTIFY``: its relay keeps polling, and this revision does nothing
there.

Revision ID: 0005_perf
Revises: 0005_ops_contract
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_perf"
down_revision: str | None = "0005_ops_contract"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION residuo_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('residuo_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION residuo_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS residuo_outbox_notify()")
