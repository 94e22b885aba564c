"""A local Discord: the bot's real dispatch with the network cut out.

Messages and interactions are fed as gateway payloads to the bot's own
connection state (`parse_message_create`, `parse_interaction_create`), and
everything the bot sends comes back through its HTTP client and webhook
adapter, which are swapped for recorders that answer the way Discord's REST
API would. The console chat, the tests and the load benchmark all use it, so
they exercise the same cogs, checks, converters, views and error handler as
a connected bot.

This module holds the servers, their channels, roles and people, and what users
and admins do; the wire (the payloads Discord sends, the routes that answer what
the bot sends, the messages kept) is bot/local_api.py's `DiscordApi`.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import discord
from discord.utils import utcnow

from .local_api import APPLICATION_ID, BOT_USER_ID, EVERYONE, DiscordApi, Sent, role_payload, user_payload
from .local_api import LIMITS, check_limits  # noqa: F401  (Discord's limits, kept by the routes; read here too)

GUILD_ID = 900000000000000010
CHANNEL_ID = 900000000000000020


# the names discord.py 2.x gives the tasks its dispatch starts: event handlers (`Client._schedule_event`),
# the command tree's invoker, a view's or a dynamic item's callback
DISPATCH_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-view-dispatch-", "discord-ui-dynamic-item-")


def dispatch_task(task: asyncio.Task) -> bool:
    """Whether `task` is the handling of something dispatched (a message, an interaction, an
    event it raised): a command's own work, which ends when the command is answered."""
    return task.get_name().startswith(DISPATCH_TASKS)


OWNER_ID = 1  # every local server's owner: it has every permission, as a server's owner does


@dataclass(frozen=True)
class Picked:
    """A channel or a role picked for a slash command's option: Discord sends its id, and the
    object itself under the interaction's `resolved`."""

    kind: str  # "channel" or "role"
    id: int


@dataclass
class LocalDiscord(DiscordApi):
    """One guild with one text channel (or more servers: `guilds`), the bot in it, any number
    of users, and each user's direct messages with the bot."""

    bot: discord.Client
    guild_id: int = GUILD_ID
    channel_id: int = CHANNEL_ID
    sent: list[Sent] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _messages: dict[int, dict] = field(default_factory=dict)
    _interaction_messages: dict[str, int] = field(default_factory=dict)
    extra_channels: int = 0  # more text channels, ids channel_id + 1 ... (one per simulated user, say)
    commands: list[dict] = field(default_factory=list)  # the slash commands last synced
    keep: int = 1000  # messages remembered (older ones, and what was sent before them, are forgotten)
    _waiters: dict[int, asyncio.Future] = field(default_factory=dict)
    _deferred: dict[str, bool] = field(default_factory=dict)  # token -> the deferral's ephemerality, until answered
    locale: str = "en-US"  # the server's preferred locale (a typed command's replies are in its language)
    attach_files: bool = True  # the bot's Attach Files permission in the channel (without it Discord
    # refuses a whole message that carries a file: 403 Missing Permissions)
    guilds: int = 1  # servers: the first is `guild_id` (with `channel_id`), server i is guild_id + i
    _guild_of: dict[int, int | None] = field(default_factory=dict)  # channel -> its guild (None: a DM)
    _dms: dict[int, int] = field(default_factory=dict)  # user -> their DM channel with the bot
    _token_channel: dict[str, int] = field(default_factory=dict)  # interaction -> its channel
    _roles: dict[int, dict] = field(default_factory=dict)  # role id -> its payload (beside @everyone)
    _member_roles: dict[int, set[int]] = field(default_factory=dict)  # user -> their roles' ids
    _channels: dict[int, dict] = field(default_factory=dict)  # channels added by `add_channel`
    _deleted: set[int] = field(default_factory=set)  # channels deleted (Discord answers 404 there)

    def place(self, guild: int | None = 0, user_id: int = 1) -> tuple[int | None, int]:
        """(guild id, channel id) of where a user speaks: server `guild` (0, the first, ...: its
        first channel), or with `guild=None` their direct messages with the bot."""
        if guild is None:
            if user_id not in self._dms:
                self._dms[user_id] = self.snowflake()
                self._guild_of[self._dms[user_id]] = None
            return None, self._dms[user_id]
        if not 0 <= guild < self.guilds:
            raise ValueError(f"there are {self.guilds} local servers, not server {guild}")
        return self.guild_id + guild, self.channel_id if guild == 0 else self._guild_channel(guild)

    def _guild_channel(self, guild: int) -> int:
        return self.channel_id + (guild << 32)  # (past any extra channel of the first server)

    async def start(self) -> None:
        """Connect the bot to this local Discord instead of the real one. A sharded bot is
        only given a guild on one of its shards, as Discord does ((guild_id >> 22) % shards)."""
        count, mine = getattr(self.bot, "shard_count", None), getattr(self.bot, "shard_ids", None)
        for guild_id in range(self.guild_id, self.guild_id + self.guilds):
            if count and mine is not None and (guild_id >> 22) % count not in mine:
                raise ValueError(
                    f"guild {guild_id} is on shard {(guild_id >> 22) % count} of {count}; this bot runs shards {mine}"
                )
        state = self.bot._connection
        self.route_requests()
        state.application_id = APPLICATION_ID
        state.user = discord.ClientUser(state=state, data=user_payload(BOT_USER_ID, "poembot", bot=True))
        state._command_tree = getattr(self.bot, "tree", None)
        await self.bot._async_setup_hook()
        await self.bot.setup_hook()
        for i in range(self.guilds):
            state.parse_guild_create(self._guild_payload(i))
        self.bot.dispatch("ready")

    def _member(self, user_id: int, name: str, guild_id: int | None = None) -> dict:
        guild_id = guild_id or self.guild_id
        roles = [r for r in sorted(self._member_roles.get(user_id, ())) if self._roles[r]["guild_id"] == str(guild_id)]
        return {
            "user": user_payload(user_id, name),
            "roles": [str(r) for r in roles],
            "joined_at": utcnow().isoformat(),
            "deaf": False,
            "mute": False,
            "permissions": str(self.permissions(user_id, guild_id).value),
            "flags": 0,
        }

    def permissions(self, user_id: int, guild_id: int | None = None) -> discord.Permissions:
        """A member's permissions in a server as Discord works them out: its owner has all; else
        @everyone's and their roles' together, all of them with Administrator."""
        guild_id = guild_id or self.guild_id
        if user_id == OWNER_ID:
            return discord.Permissions.all()
        value = EVERYONE.value
        for role in self._member_roles.get(user_id, ()):
            if self._roles[role]["guild_id"] == str(guild_id):
                value |= int(self._roles[role]["permissions"])
        allowed = discord.Permissions(value)
        return discord.Permissions.all() if allowed.administrator else allowed

    # -- what admins do -----------------------------------------------------------------------------
    def add_role(self, name: str, permissions: discord.Permissions | None = None, guild: int = 0) -> int:
        """A new role in server `guild` (Discord tells the bot: GUILD_ROLE_CREATE); its id."""
        guild_id, role_id = self.guild_id + guild, self.snowflake()
        role = role_payload(guild_id, name, (permissions or discord.Permissions.none()).value, len(self._roles) + 1)
        self._roles[role_id] = {**role, "id": str(role_id)}
        if self.bot._connection._get_guild(guild_id) is not None:
            self.bot._connection.parse_guild_role_create({"guild_id": str(guild_id), "role": self._roles[role_id]})
        return role_id

    def give_role(self, user_id: int, role_id: int) -> None:
        self._member_roles.setdefault(user_id, set()).add(role_id)

    def delete_role(self, role_id: int) -> None:
        role = self._roles.pop(role_id)
        for roles in self._member_roles.values():
            roles.discard(role_id)
        self.bot._connection.parse_guild_role_delete({"guild_id": role["guild_id"], "role_id": str(role_id)})

    def add_channel(self, name: str, guild: int = 0, deny_bot: discord.Permissions | None = None) -> int:
        """A new text channel in server `guild` (Discord tells the bot: CHANNEL_CREATE), where the
        bot is denied `deny_bot` (an overwrite for its member); its id."""
        guild_id, channel_id = self.guild_id + guild, self.snowflake()
        overwrites = (
            [{"id": str(BOT_USER_ID), "type": 1, "allow": "0", "deny": str(deny_bot.value)}] if deny_bot else []
        )
        payload = {
            "id": str(channel_id),
            "type": 0,
            "name": name,
            "position": 100 + len(self._channels),
            "permission_overwrites": overwrites,
            "guild_id": str(guild_id),
        }
        self._channels[channel_id] = payload
        self._guild_of[channel_id] = guild_id
        if self.bot._connection._get_guild(guild_id) is not None:
            self.bot._connection.parse_channel_create(payload)
        return channel_id

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel (CHANNEL_DELETE); Discord answers a message sent there with 404."""
        guild_id = self._guild_of[channel_id]
        payload = self._channels.pop(channel_id, None) or {
            "id": str(channel_id),
            "type": 0,
            "name": "poems",
            "position": 0,
            "permission_overwrites": [],
            "guild_id": str(guild_id),
        }
        self._deleted.add(channel_id)
        self.bot._connection.parse_channel_delete(payload)

    # -- what users do --------------------------------------------------------------------------
    async def _settle(self, before: set[asyncio.Task]) -> None:
        """Wait for the work of what was dispatched: the tasks discord.py's dispatch starts
        (`dispatch_task`), and those they start in turn (an error handler, a completion event).
        Never for a task something else started meanwhile, which may run for good: a worker
        client's probe of a replica that is down, the in-process worker's batcher, a view's
        timeout timer. Cancelled (SIGTERM in the console), it cancels that work too."""
        me = asyncio.current_task()
        while True:
            new = [
                t for t in asyncio.all_tasks() if t not in before and t is not me and not t.done() and dispatch_task(t)
            ]
            if not new:
                return
            try:
                await asyncio.wait(new)
            except asyncio.CancelledError:
                for t in new:
                    t.cancel()
                await asyncio.gather(*new, return_exceptions=True)
                raise
            before |= set(new)

    async def wait_idle(self) -> None:
        """Wait until everything dispatched so far has been handled (see `_settle`)."""
        await self._settle(set())

    async def say(
        self, content: str, user_id: int = 1, name: str = "poet", guild: int | None = 0, channel: int | None = None
    ) -> list[Sent]:
        """A user posts a message in the channel (of server `guild`, or `channel` of it; None: in
        their direct messages with the bot); returns what the bot sent in response."""
        self._forget_old()
        mark = len(self.sent)
        before = set(asyncio.all_tasks())
        guild_id, channel_id = self.place(guild, user_id)
        channel_id = channel or channel_id
        msg = self._message(channel_id, {"content": content}, author=user_payload(user_id, name))
        if guild_id is not None:
            msg["member"] = {k: v for k, v in self._member(user_id, name, guild_id).items() if k != "user"}
        self.bot._connection.parse_message_create(msg)
        await self._settle(before)
        return self.sent[mark:]

    async def first_reply(self, content: str, user_id: int, channel_id: int, timeout: float = 30.0) -> Sent:
        """Post in one channel and wait for the bot's first message there (for many users at once,
        each in a channel of their own: `say` waits for all work, this for one reply)."""
        future = asyncio.get_running_loop().create_future()
        self._waiters[channel_id] = future
        msg = self._message(channel_id, {"content": content}, author=user_payload(user_id, f"user{user_id}"))
        msg["member"] = {k: v for k, v in self._member(user_id, f"user{user_id}").items() if k != "user"}
        self.bot._connection.parse_message_create(msg)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.pop(channel_id, None)

    def _interaction(
        self,
        kind: int,
        data: dict,
        user_id: int,
        name: str,
        message: dict | None = None,
        guild: int | None = 0,
        channel: int | None = None,
    ) -> dict:
        """An interaction payload, in server `guild` (its `channel`) or (None) the user's direct
        messages; one on a message is where that message is."""
        if message is not None:
            channel_id = int(message["channel_id"])
            guild_id = self._guild_of.get(channel_id, self.guild_id)
        else:
            guild_id, channel_id = self.place(guild, user_id)
            channel_id = channel or channel_id
        token = f"tok{self.snowflake()}"
        self._token_channel[token] = channel_id
        payload = {
            "id": str(self.snowflake()),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "data": data,
            "channel_id": str(channel_id),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(EVERYONE.value),
            "entitlements": [],
            "attachment_size_limit": 8388608,
        }
        if guild_id is None:  # a direct message: a user, not a member; the bot installed by the user
            user = user_payload(user_id, name)
            payload.update(
                channel={"id": str(channel_id), "type": 1, "recipients": [user]},
                user=user,
                authorizing_integration_owners={"1": str(user_id)},
                context=1,
            )
        else:
            payload.update(
                guild_id=str(guild_id),
                channel={"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "poems"},
                member=self._member(user_id, name, guild_id),
                guild_locale=self.locale,
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        if message is not None:
            payload["message"] = message
        return payload

    async def _dispatch_interaction(self, payload: dict) -> list[Sent]:
        self._forget_old()
        mark = len(self.sent)
        before = set(asyncio.all_tasks())
        self.bot._connection.parse_interaction_create(payload)
        await self._settle(before)
        return self.sent[mark:]

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        user_id: int = 1,
        name_of_user: str = "poet",
        locale: str = "en-US",
        guild: int | None = 0,
        channel: int | None = None,
    ) -> list[Sent]:
        """A user (whose client is set to `locale`) runs a slash command in server `guild` (its
        `channel`; None: in their direct messages). `name` may name a subcommand ("config
        channels add"); an option's value may be a channel or role (`Picked`), which Discord
        sends with the object itself under `resolved`."""
        types = {bool: 5, int: 4, float: 10, str: 3}
        resolved: dict[str, dict] = {}
        opts = []
        for key, value in (options or {}).items():
            if isinstance(value, Picked):
                opts.append({"name": key, "type": 7 if value.kind == "channel" else 8, "value": str(value.id)})
                if value.kind == "channel":
                    resolved.setdefault("channels", {})[str(value.id)] = self._resolved_channel(value.id)
                else:
                    resolved.setdefault("roles", {})[str(value.id)] = self._resolved_role(value.id, guild)
            else:
                opts.append({"name": key, "type": types[type(value)], "value": value})
        root, *path = name.split()
        for i, part in enumerate(reversed(path)):  # the innermost part holds the options
            opts = [{"name": part, "type": 1 if i == 0 else 2, "options": opts}]
        data = {"id": str(self.snowflake()), "name": root, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(2, data, user_id, name_of_user, guild=guild, channel=channel)
        payload["locale"] = locale
        return await self._dispatch_interaction(payload)

    def _resolved_channel(self, channel_id: int) -> dict:
        guild_id = self._guild_of.get(channel_id, self.guild_id)
        found = self._channels.get(channel_id, {"name": "poems", "type": 0})
        everyone = EVERYONE.value
        return {
            "id": str(channel_id),
            "name": found["name"],
            "type": found["type"],
            "permissions": str(everyone),
            "guild_id": str(guild_id),
        }

    def _resolved_role(self, role_id: int, guild: int | None) -> dict:
        if role_id in self._roles:
            return {k: v for k, v in self._roles[role_id].items() if k != "guild_id"}
        guild_id = self.guild_id + (guild or 0)
        return {k: v for k, v in role_payload(guild_id, "@everyone", EVERYONE.value, 0).items() if k != "guild_id"}

    async def click(
        self, message: dict, custom_id: str, user_id: int = 1, name: str = "poet", locale: str = "en-US"
    ) -> list[Sent]:
        """A user (whose client is set to `locale`) presses a button on a message (which may
        predate a restart), where it is."""
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self._interaction(3, data, user_id, name, message)
        payload["locale"] = locale
        return await self._dispatch_interaction(payload)

    async def choose(
        self,
        message: dict,
        custom_id: str,
        values: list[str],
        user_id: int = 1,
        name: str = "poet",
        locale: str = "en-US",
    ) -> list[Sent]:
        """A user (whose client is set to `locale`) picks from a select menu on a message."""
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        payload = self._interaction(3, data, user_id, name, message)
        payload["locale"] = locale
        return await self._dispatch_interaction(payload)
