"""cooldowns in the database, shared by every bot process

A user's cooldown was kept in one process's memory: with several bot processes
(shards) a user could ask each in turn, and a restart forgot them. One row per
user and action; starting one is a single upsert that only replaces an expired
row, so two processes never both start it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cooldown',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('until_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'action', name=op.f('pk_cooldown'))
    )


def downgrade() -> None:
    op.drop_table('cooldown')
