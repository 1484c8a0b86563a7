"""appointments: bookings checked in at the kiosk

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:10:00

A booking for a slot of a day (zone, optional matter, "HH:MM" start and end in the hall's
time zone) with a numeric code the citizen types on the kiosk; checked in, it becomes a ticket
of the appointment class. No personal data is kept here.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hall_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('matter_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot_start', sa.String(length=5), nullable=False),
    sa.Column('slot_end', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('ticket_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hall_id'], ['halls.id'], name=op.f('fk_appointments_hall_id_halls')),
    sa.ForeignKeyConstraint(['matter_id'], ['matters.id'], name=op.f('fk_appointments_matter_id_matters')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_appointments_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_appointments_zone_id_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('hall_id', 'code', name='uq_appointments_hall_code')
    )
    op.create_index('ix_appointments_day', 'appointments', ['hall_id', 'day', 'slot_start'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_appointments_day', table_name='appointments')
    op.drop_table('appointments')
