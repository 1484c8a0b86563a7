"""waiting indexes: the queue indexes hold waiting tickets only

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:30:00

`ix_tickets_queue (queue_zone_id, status, rank, queue_key)` and `ix_tickets_target
(target_window_id, status)` held every ticket ever issued: with a million past ones, each status
change and each new ticket wrote into a random leaf of a big index (the queue key is seconds
since local midnight). They become partial indexes of waiting tickets, which call-next reads by
index seeks: `ix_tickets_waiting (queue_zone_id, business_date, rank, queue_key, id)` and
`ix_tickets_waiting_target (target_window_id, business_date)`, both WHERE status = 'waiting'.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

WAITING = "status = 'waiting'"


def upgrade() -> None:
    op.create_index('ix_tickets_waiting', 'tickets', ['queue_zone_id', 'business_date', 'rank', 'queue_key', 'id'],
                    unique=False, sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.create_index('ix_tickets_waiting_target', 'tickets', ['target_window_id', 'business_date'],
                    unique=False, sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.drop_index('ix_tickets_queue', table_name='tickets')
    op.drop_index('ix_tickets_target', table_name='tickets')


def downgrade() -> None:
    op.create_index('ix_tickets_queue', 'tickets', ['queue_zone_id', 'status', 'rank', 'queue_key'], unique=False)
    op.create_index('ix_tickets_target', 'tickets', ['target_window_id', 'status'], unique=False)
    op.drop_index('ix_tickets_waiting_target', table_name='tickets')
    op.drop_index('ix_tickets_waiting', table_name='tickets')
