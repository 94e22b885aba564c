"""each server's own rules, its poem of the day, and each member's language

Server owners asked to choose where the bot answers, who may use it, its
cooldowns and a daily cap, cards by default, a default language and a poem of
the day (issue 34). A server's rules are one row of server_setting; the channels
and roles it allows are rows of their own (two admins adding one each at once
lose neither). daily_use counts a member's poems a day where a server has a cap;
daily_post holds one row per server and day, claimed before the poem of the day
is posted, so of every bot process exactly one posts it.

A member's language is stored beside their script. Their cards setting becomes
None while they have not chosen, so that the server's default applies: existing
rows said True whether or not the member ever chose, and become None (those who
turned cards off keep False). A cooldown's action grows to 40 characters, for
the per-server actions (`poem:<server id>`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_setting",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("poem_cooldown_s", sa.Float(), nullable=True),
        sa.Column("blend_cooldown_s", sa.Float(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("cards", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("daily_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("daily_hour", sa.SmallInteger(), server_default="9", nullable=False),
        sa.Column("daily_from", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("daily_hour BETWEEN 0 AND 23", name=op.f("ck_server_setting_daily_hour_range")),
        sa.CheckConstraint(
            "poem_cooldown_s >= 0 AND blend_cooldown_s >= 0", name=op.f("ck_server_setting_cooldowns_range")
        ),
        sa.CheckConstraint("daily_cap >= 1", name=op.f("ck_server_setting_daily_cap_range")),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_server_setting")),
    )
    op.create_table(
        "server_channel",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_server_channel")),
    )
    op.create_table(
        "server_role",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("role_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "role_id", name=op.f("pk_server_role")),
    )
    op.create_table(
        "daily_use",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("poems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "guild_id", "day", name=op.f("pk_daily_use")),
    )
    op.create_table(
        "daily_post",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claim", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("poem_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["poem_id"], ["poem.id"], name=op.f("fk_daily_post_poem_id_poem"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("guild_id", "day", name=op.f("pk_daily_post")),
    )
    with op.batch_alter_table("user_preference") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch.alter_column("cards", existing_type=sa.Boolean(), nullable=True, server_default=None)
    op.execute(sa.text("UPDATE user_preference SET cards = NULL WHERE cards = :on").bindparams(on=True))
    with op.batch_alter_table("cooldown") as batch:
        batch.alter_column("action", existing_type=sa.String(length=16), type_=sa.String(length=40))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM cooldown WHERE length(action) > 16"))
    with op.batch_alter_table("cooldown") as batch:
        batch.alter_column("action", existing_type=sa.String(length=40), type_=sa.String(length=16))
    op.execute(sa.text("UPDATE user_preference SET cards = :on WHERE cards IS NULL").bindparams(on=True))
    with op.batch_alter_table("user_preference") as batch:
        batch.alter_column("cards", existing_type=sa.Boolean(), nullable=False, server_default=sa.true())
        batch.drop_column("language")
    op.drop_table("daily_post")
    op.drop_table("daily_use")
    op.drop_table("server_role")
    op.drop_table("server_channel")
    op.drop_table("server_setting")
