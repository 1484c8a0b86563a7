"""PostgreSQL: ix_tickets_status_day becomes ix_tickets_status_queue, in queue order after (status, day)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:30:00

PostgreSQL estimates `status = 'waiting' AND business_date = <today>` at one row: the two
conditions are rare over the whole table and it takes them for independent, while every ticket
waiting is today's; its statistics, besides, date from the last VACUUM/ANALYZE, taken when nobody
waited. So it reads call-next's seeks (a zone, a rank, the first tickets in queue-key order;
the tickets transferred to a window) through `ix_tickets_status_day (status, business_date)`,
each one reading every ticket waiting today and sorting them: ~4,500 tuples per call with 32
windows on six zones. `ix_tickets_status_queue` has the queue order after (status, business_date),
and the target window last (compared on the index entries): each of those reads is a seek, and
the sweep reads it as it read the old one. PostgreSQL only: SQLite
plans those seeks on the partial indexes of waiting tickets (0004), and would not with this one.
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index('ix_tickets_status_queue', 'tickets',
                    ['status', 'business_date', 'queue_zone_id', 'rank', 'queue_key', 'id', 'target_window_id'],
                    unique=False)
    op.drop_index('ix_tickets_status_day', table_name='tickets')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index('ix_tickets_status_day', 'tickets', ['status', 'business_date'], unique=False)
    op.drop_index('ix_tickets_status_queue', table_name='tickets')
