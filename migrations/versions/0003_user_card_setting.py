"""a user's poem-card setting; a script is only stored once chosen

`cards` (on by default) lets a user turn poem cards off for the poems they ask
for. `script` may now be empty: a user who turned cards off but never chose a
script keeps getting the one their client's language suggests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user_preference', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cards', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.alter_column('script', existing_type=sa.String(length=16), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE user_preference SET script = 'traditional' WHERE script IS NULL")
    with op.batch_alter_table('user_preference', schema=None) as batch_op:
        batch_op.alter_column('script', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column('cards')
