"""The tables: poem, rating, favourite, user_preference, cooldown; and each server's own rules
(server_setting, server_channel, server_role, daily_use, daily_post)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite autoincrements only INTEGER PRIMARY KEY (which is 64-bit there)
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


KINDS = ("written", "variation", "rewrite", "favourites", "blend")  # what a poem can be


class Poem(Base):
    __tablename__ = "poem"
    # never hand a deleted poem's id to a new one (an old rating button would rate it)
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    form: Mapped[int] = mapped_column(SmallInteger)  # characters a line
    text: Mapped[str] = mapped_column(String(64))  # unpunctuated, traditional
    # float32 little-endian: the poem's code under its model version, kept for analysis and export
    # (the bot blends and varies from the text, which any later model can encode)
    latent: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(16))  # what it is: one of KINDS
    seed: Mapped[int | None] = mapped_column(BigInteger)  # with its kind's inputs, what reproduces it
    options: Mapped[dict] = mapped_column(JSON)  # the decoding options used, and the kind's inputs
    model_version: Mapped[str] = mapped_column(String(80))
    parent_a_id: Mapped[int | None] = mapped_column(ForeignKey("poem.id", ondelete="SET NULL"))
    parent_b_id: Mapped[int | None] = mapped_column(ForeignKey("poem.id", ondelete="SET NULL"))
    blend_position: Mapped[float | None] = mapped_column(Float)  # 0 = parent a, 1 = parent b
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("poem_id", "user_id"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    poem_id: Mapped[int] = mapped_column(ForeignKey("poem.id", ondelete="CASCADE"))  # leads the unique index
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Favourite(Base):
    __tablename__ = "favourite"
    __table_args__ = (UniqueConstraint("user_id", "poem_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)  # leads the unique index
    poem_id: Mapped[int] = mapped_column(ForeignKey("poem.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserPreference(Base):
    __tablename__ = "user_preference"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    script: Mapped[str | None] = mapped_column(String(16))  # "traditional", "simplified"; None: not chosen
    cards: Mapped[bool | None] = mapped_column(Boolean)  # poem cards on new poems; None: the server's default
    language: Mapped[str | None] = mapped_column(String(8))  # "en", "zh-TW", "zh-CN"; None: not chosen
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Cooldown(Base):
    """A user's cooldown of one action (`poem`, `blend`): shared by every bot process. A row
    whose action is `job:<token>` marks a job of the user's in flight (`repo.start_job`):
    `!forgetme` deletes it with the rest, and the job then saves nothing."""

    __tablename__ = "cooldown"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # `poem`, `blend`; `poem:<server id>` where a server has a cooldown of its own; `job:<token>`
    action: Mapped[str] = mapped_column(String(40), primary_key=True)
    until_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # may not go again before this


class ServerSetting(Base):
    """A server's own rules for the bot, set with `/config` by its members with Manage Server;
    a server without a row, or a rule left None, has the bot's defaults. The channels and roles
    it allows are rows of server_channel and server_role."""

    __tablename__ = "server_setting"
    __table_args__ = (
        CheckConstraint("daily_hour BETWEEN 0 AND 23", name="daily_hour_range"),
        CheckConstraint("poem_cooldown_s >= 0 AND blend_cooldown_s >= 0", name="cooldowns_range"),
        CheckConstraint("daily_cap >= 1", name="daily_cap_range"),
    )

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    poem_cooldown_s: Mapped[float | None] = mapped_column(Float)  # None: the bot's (POEMBOT_POEM_COOLDOWN_S)
    blend_cooldown_s: Mapped[float | None] = mapped_column(Float)  # None: the bot's (POEMBOT_BLEND_COOLDOWN_S)
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # poems one member may ask for a day here; None: no cap
    cards: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # for members who never chose
    language: Mapped[str | None] = mapped_column(String(8))  # the default for members who never chose
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")  # an IANA name
    daily_channel_id: Mapped[int | None] = mapped_column(BigInteger)  # the poem of the day's; None: none
    daily_hour: Mapped[int] = mapped_column(SmallInteger, default=9, server_default="9")  # 0-23, in `timezone`
    daily_from: Mapped[date | None] = mapped_column(Date)  # the first day a poem of the day is due
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServerChannel(Base):
    """A channel the bot answers in, in a server that chose some; a server with none: all."""

    __tablename__ = "server_channel"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ServerRole(Base):
    """A role whose members may use the bot, in a server that chose some; a server with none:
    everyone (members with Manage Server may always)."""

    __tablename__ = "server_role"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class DailyUse(Base):
    """How many poems a member asked for in a server on one of its days (in the server's time
    zone): what its daily cap counts. Only kept where a server has a cap."""

    __tablename__ = "daily_use"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    poems: Mapped[int] = mapped_column(Integer)


class DailyPost(Base):
    """A server's poem of the day, one row a day: the row is claimed (inserted) before the poem
    is written and posted, so that of every bot process one posts it. A claim not posted
    (`posted_at` None) and older than a few minutes was left by a process that died: another
    may take it over."""

    __tablename__ = "daily_post"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the server's day, in its time zone
    claim: Mapped[str] = mapped_column(String(16))  # the claiming process's token
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # by the database's clock
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: not yet
    kind: Mapped[str | None] = mapped_column(String(16))  # "season", "best"; "failed": not posted, not retried
    poem_id: Mapped[int | None] = mapped_column(ForeignKey("poem.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
