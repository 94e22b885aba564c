"""poem ids are never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT, SQLite hands the id of a deleted poem with the
highest id to the next poem, so an old message's rating button could rate
a new, unrelated poem. SQLite cannot add AUTOINCREMENT in place: the table
is rebuilt (Alembic batch mode). `bot.storage.db` runs every migration with
foreign keys off and checks them before committing, as SQLite's documented
procedure for a table rebuild requires; otherwise dropping the old table
would cascade to every rating and favourite. The sequence starts at the
highest id present; a top id deleted before this upgrade left no record and
can be handed out once more, never again after it.

PostgreSQL sequences never hand an id out twice: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:05:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    with op.batch_alter_table("poem", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
