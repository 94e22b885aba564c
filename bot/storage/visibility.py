"""Who sees a poem where: the `Viewer` (a user, in a server or in direct messages), the one
privacy rule `visible_to`, and `written_here`, the narrower pool of a place's lists and boards.
Every lookup of a poem for a user goes through these; no other module says who sees what."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Poem


@dataclass(frozen=True)
class Viewer:
    """Who asks for a poem, and where: a user in a server (`guild_id`), or in their direct
    messages with the bot (`guild_id` None)."""

    user_id: int
    guild_id: int | None


def visible_to(viewer: Viewer):
    """The one rule of who can see a poem, as a condition on `Poem`: a poem can be seen and
    used where it was written (its server; a poem written in direct messages, in its
    author's), and by its author anywhere. Everywhere else it does not exist: a lookup
    answers as for an id never used, so ids leak nothing."""
    if viewer.guild_id is None:  # direct messages: the author's own poems (those written there among them)
        return Poem.user_id == viewer.user_id
    return (Poem.guild_id == viewer.guild_id) | (Poem.user_id == viewer.user_id)


def written_here(viewer: Viewer):
    """The poems written where the viewer is, as a condition on `Poem`: those of the viewer's
    server, or in direct messages the viewer's own written there. What a place's leaderboard
    pools, so no poem reaches a board (or `!mine`) of another place (narrower than
    `visible_to`: an author's poems from elsewhere stay off it)."""
    if viewer.guild_id is not None:
        return Poem.guild_id == viewer.guild_id
    return (Poem.guild_id.is_(None)) & (Poem.user_id == viewer.user_id)
