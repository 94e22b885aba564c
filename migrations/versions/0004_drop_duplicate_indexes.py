"""drop two indexes that repeat the leading column of a unique constraint

uq_rating_poem_id (poem_id, user_id) already serves lookups by poem_id, and
uq_favourite_user_id (user_id, poem_id) lookups by user_id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:50:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_poem_id'))
    with op.batch_alter_table('favourite', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_favourite_user_id'))


def downgrade() -> None:
    with op.batch_alter_table('favourite', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_favourite_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_poem_id'), ['poem_id'], unique=False)
