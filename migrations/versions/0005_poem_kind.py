"""a poem says what it is (`kind`), its one seed is the one that reproduces it, and the
temperature column (a copy of options.temperature) goes

`kind` is written / variation / rewrite / favourites / blend. Before, it was inferred
from which fields were set, and a variation whose parent was deleted (parent link set
NULL) read as "blend of a text and a text". Existing rows get their kind from what
they hold (the seeds a variation, rewrite, blend or poem from favourites kept in its
options say which it is), and `seed` takes that kind's seed (before: NULL for all but
written poems). SQLite rebuilds the table: its AUTOINCREMENT sequence is carried over,
so no deleted poem's id is ever handed out again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SEED_KEYS = {"variation": "vary_seed", "rewrite": "rewrite_seed", "favourites": "favourites_seed",
             "blend": "blend_seed"}


def kind_of(seed, options: dict, blend_position, parent_a_id) -> str:
    """What a poem saved before this revision is, from what it holds."""
    if "rewritten_line" in options:
        return "rewrite"
    if seed is not None:
        return "written"
    if "favourites_seed" in options:
        return "favourites"
    if "vary_seed" in options or (blend_position is None and parent_a_id is not None):
        return "variation"
    return "blend"


def _poem(*columns: str) -> sa.TableClause:
    return sa.table("poem", sa.column("id", sa.Integer), sa.column("options", sa.JSON),
                    *(sa.column(c) for c in columns))


def _sequence(conn) -> int | None:
    if conn.dialect.name != "sqlite":
        return None
    return conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'poem'").scalar()


def _restore(conn, seq: int | None) -> None:
    """After a rebuild, the sequence is the table's highest id: put back the one before,
    which remembers ids of deleted poems above it."""
    if seq is not None:
        conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'poem'", (seq,))


def upgrade() -> None:
    conn = op.get_bind()
    seq = _sequence(conn)
    with op.batch_alter_table("poem", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="written"))
    poem = _poem("seed", "blend_position", "parent_a_id", "kind")
    rows = conn.execute(sa.select(poem.c.id, poem.c.seed, poem.c.options, poem.c.blend_position,
                                  poem.c.parent_a_id)).all()
    for row in rows:
        options = row.options or {}
        kind = kind_of(row.seed, options, row.blend_position, row.parent_a_id)
        seed = row.seed if kind == "written" else options.get(SEED_KEYS[kind])
        if kind != "written" or seed != row.seed:
            conn.execute(sa.update(poem).where(poem.c.id == row.id).values(kind=kind, seed=seed))
    with op.batch_alter_table("poem", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=16), server_default=None)
        batch_op.drop_column("temperature")
    _restore(conn, seq)


def downgrade() -> None:
    conn = op.get_bind()
    seq = _sequence(conn)
    with op.batch_alter_table("poem", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("temperature", sa.Float(), nullable=False, server_default="0"))
    poem = _poem("seed", "kind", "temperature")
    for row in conn.execute(sa.select(poem.c.id, poem.c.options, poem.c.kind, poem.c.seed)).all():
        options = row.options or {}
        values = {"temperature": float(options.get("temperature", 0.0))}
        if row.kind != "written":  # the seed goes back where the code before this revision reads it
            values["seed"] = None
            values["options"] = {**options, SEED_KEYS[row.kind]: row.seed}
        conn.execute(sa.update(poem).where(poem.c.id == row.id).values(**values))
    with op.batch_alter_table("poem", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("temperature", existing_type=sa.Float(), server_default=None)
        batch_op.drop_column("kind")
    _restore(conn, seq)
