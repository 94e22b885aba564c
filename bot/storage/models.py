"""The tables: poem, rating, favourite, user_preference."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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
    cards: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # poem cards on new poems
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Cooldown(Base):
    """A user's cooldown of one action (`poem`, `blend`): shared by every bot process. A row
    whose action is `job:<token>` marks a job of the user's in flight (`repo.start_job`):
    `!forgetme` deletes it with the rest, and the job then saves nothing."""

    __tablename__ = "cooldown"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    until_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # may not go again before this
