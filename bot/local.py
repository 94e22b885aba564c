"""A local Discord: the bot's real dispatch with the network cut out.

Messages and interactions are fed as gateway payloads to the bot's own
connection state (`parse_message_create`, `parse_interaction_create`), and
everything the bot sends comes back through its HTTP client and webhook
adapter, which are swapped for recorders that answer the way Discord's REST
API would. The console chat, the tests and the load benchmark all use it, so
they exercise the same cogs, checks, converters, views and error handler as
a connected bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
from discord.utils import time_snowflake, utcnow
from discord.webhook import async_ as webhook_async

log = logging.getLogger("poembot.bot.local")

APPLICATION_ID = 900000000000000001
GUILD_ID = 900000000000000010
CHANNEL_ID = 900000000000000020
BOT_USER_ID = 900000000000000030


# the names discord.py 2.x gives the tasks its dispatch starts: event handlers (`Client._schedule_event`),
# the command tree's invoker, a view's or a dynamic item's callback
DISPATCH_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-view-dispatch-", "discord-ui-dynamic-item-")


def dispatch_task(task: asyncio.Task) -> bool:
    """Whether `task` is the handling of something dispatched (a message, an interaction, an
    event it raised): a command's own work, which ends when the command is answered."""
    return task.get_name().startswith(DISPATCH_TASKS)


@dataclass
class Sent:
    """One thing the bot sent: a message, an interaction reply, or an edit."""

    kind: str  # "message", "interaction", "followup", "edit", "defer"
    channel_id: int | None
    payload: dict
    message: dict | None = None  # the message as Discord would return it
    ephemeral: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # attachments: filename -> content

    @property
    def content(self) -> str:
        return (self.message or self.payload).get("content") or ""

    @property
    def embeds(self) -> list[dict]:
        return (self.message or self.payload).get("embeds") or []

    @property
    def components(self) -> list[dict]:
        return (self.message or self.payload).get("components") or []

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for row in self.components for c in row.get("components", []) if "custom_id" in c]

    @property
    def allowed_mentions(self) -> dict | None:
        return self.payload.get("allowed_mentions")

    def text(self) -> str:
        """The message as a reader sees it: content, then each embed's title, lines and fields."""
        parts = [self.content] if self.content else []
        for e in self.embeds:
            if e.get("title"):
                parts.append(e["title"])
            if e.get("description"):
                parts.append(e["description"])
            for f in e.get("fields", []):
                parts.append(f"{f['name']}\n{f['value']}")
            if e.get("footer", {}).get("text"):
                parts.append(f"({e['footer']['text']})")
        return "\n".join(parts)


# Discord's limits on what a bot sends (https://discord.com/developers/docs/resources/message)
LIMITS = {
    "content": 2000,
    "embeds": 10,
    "embed_total": 6000,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "rows": 5,
    "row_items": 5,
    "custom_id": 100,
    "label": 80,
    "options": 25,
    "option_label": 100,
    "option_description": 100,
}


def check_limits(payload: dict) -> None:
    """Refuse a message past Discord's limits the way Discord does: 400, Invalid Form Body."""
    problems = []
    if len(payload.get("content") or "") > LIMITS["content"]:
        problems.append(f"content is {len(payload['content'])} characters")
    embeds = payload.get("embeds") or []
    if len(embeds) > LIMITS["embeds"]:
        problems.append(f"{len(embeds)} embeds")
    total = 0
    for e in embeds:
        fields = e.get("fields") or []
        parts = {
            "title": e.get("title") or "",
            "description": e.get("description") or "",
            "footer": (e.get("footer") or {}).get("text") or "",
            "author": (e.get("author") or {}).get("name") or "",
        }
        problems += [f"embed {k} is {len(v)} characters" for k, v in parts.items() if len(v) > LIMITS[k]]
        if len(fields) > LIMITS["fields"]:
            problems.append(f"{len(fields)} embed fields")
        for f in fields:
            if len(f["name"]) > LIMITS["field_name"] or len(f["value"]) > LIMITS["field_value"]:
                problems.append(f"an embed field of {len(f['name'])} + {len(f['value'])} characters")
            total += len(f["name"]) + len(f["value"])
        total += sum(len(v) for v in parts.values())
    if total > LIMITS["embed_total"]:
        problems.append(f"embeds hold {total} characters")
    rows = payload.get("components") or []
    if len(rows) > LIMITS["rows"]:
        problems.append(f"{len(rows)} component rows")
    for row in rows:
        items = row.get("components") or []
        if len(items) > LIMITS["row_items"]:
            problems.append(f"{len(items)} components in a row")
        for c in items:
            if len(c.get("custom_id") or "") > LIMITS["custom_id"] or len(c.get("label") or "") > LIMITS["label"]:
                problems.append("a component's custom_id or label is too long")
            options = c.get("options") or []
            if len(options) > LIMITS["options"]:
                problems.append(f"a select menu with {len(options)} options")
            values = [o.get("value") for o in options]
            if len(set(values)) < len(values):  # Discord: SELECT_COMPONENT_OPTION_VALUE_DUPLICATED
                problems.append("a select menu's option values repeat")
            for o in options:
                if (
                    len(o.get("label") or "") > LIMITS["option_label"]
                    or len(o.get("description") or "") > LIMITS["option_description"]
                ):
                    problems.append("a select option's label or description is too long")
    if problems:
        raise discord.HTTPException(
            SimpleNamespace(status=400, reason="Bad Request"),
            {"code": 50035, "message": "Invalid Form Body: " + "; ".join(problems)},
        )


def _from_multipart(form: list[dict] | None) -> tuple[dict, dict[str, bytes]]:
    """A message sent with files (multipart): its JSON payload and its files."""
    payload, files = {}, {}
    for part in form or []:
        if part["name"] == "payload_json":
            payload = json.loads(part["value"])
        elif "filename" in part:
            value = part["value"]
            value.seek(0)
            files[part["filename"]] = value.read()
            value.seek(0)
    return payload, files


def _user(user_id: int, name: str, bot: bool = False) -> dict:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0", "avatar": None, "bot": bot}


@dataclass
class LocalDiscord:
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

    def _forget_old(self) -> None:
        """Bound memory in a long console session: keep the newest `keep` messages."""
        if len(self._messages) > 2 * self.keep:
            for mid in list(self._messages)[: -self.keep]:
                del self._messages[mid]
            live = set(self._messages)
            self._interaction_messages = {t: m for t, m in self._interaction_messages.items() if m in live}
            self._token_channel = dict(list(self._token_channel.items())[-self.keep :])
        if len(self.sent) > 2 * self.keep:
            del self.sent[: -self.keep]

    def snowflake(self) -> int:
        # unique and current: interactions older than 15 minutes count as expired
        return time_snowflake(utcnow()) + next(self._ids) % 4096

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
        self.bot.http.request = self._http_request  # type: ignore[method-assign]
        webhook_async.async_context.set(_Adapter(self))
        state.application_id = APPLICATION_ID
        state.user = discord.ClientUser(state=state, data=_user(BOT_USER_ID, "poembot", bot=True))
        state._command_tree = getattr(self.bot, "tree", None)
        await self.bot._async_setup_hook()
        await self.bot.setup_hook()
        for i in range(self.guilds):
            state.parse_guild_create(self._guild_payload(i))
        self.bot.dispatch("ready")

    def _guild_payload(self, index: int = 0) -> dict:
        guild_id = self.guild_id + index
        channels = (
            [self.channel_id + i for i in range(1 + self.extra_channels)]
            if index == 0
            else [self._guild_channel(index)]
        )
        self._guild_of.update(dict.fromkeys(channels, guild_id))
        return {
            "id": str(guild_id),
            "name": "poembot local" if index == 0 else f"poembot local {index}",
            "preferred_locale": self.locale,
            "owner_id": "1",
            "unavailable": False,
            "member_count": 1,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": str(guild_id),
                    "name": "@everyone",
                    "permissions": "2248473465835073",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                }
            ],
            "channels": [
                {
                    "id": str(channel),
                    "type": 0,
                    "name": f"poems-{i}",
                    "position": i,
                    "permission_overwrites": [],
                    "guild_id": str(guild_id),
                }
                for i, channel in enumerate(channels)
            ],
            "members": [
                {
                    "user": _user(BOT_USER_ID, "poembot", True),
                    "roles": [],
                    "joined_at": utcnow().isoformat(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _member(self, user_id: int, name: str) -> dict:
        return {
            "user": _user(user_id, name),
            "roles": [],
            "joined_at": utcnow().isoformat(),
            "deaf": False,
            "mute": False,
            "permissions": "2248473465835073",
            "flags": 0,
        }

    def _message(
        self,
        channel_id: int | None,
        payload: dict,
        author: dict | None = None,
        message_id: int | None = None,
        files: dict[str, bytes] | None = None,
    ) -> dict:
        mid = message_id or self.snowflake()
        channel_id = int(channel_id or self.channel_id)
        guild_id = self._guild_of.get(channel_id, self.guild_id)
        msg = {
            "id": str(mid),
            "channel_id": str(channel_id),
            **({"guild_id": str(guild_id)} if guild_id is not None else {}),
            "author": author or _user(BOT_USER_ID, "poembot", bot=True),
            "content": payload.get("content") or "",
            "timestamp": utcnow().isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "embeds": payload.get("embeds") or [],
            "attachments": [
                {
                    "id": str(self.snowflake()),
                    "filename": name,
                    "size": len(data),
                    "url": f"https://cdn.discordapp.test/{name}",
                    "proxy_url": f"https://cdn.discordapp.test/{name}",
                }
                for name, data in (files or {}).items()
            ],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": payload.get("flags", 0),
        }
        self._messages[mid] = msg
        return msg

    # -- what the bot sends ---------------------------------------------------------------------
    async def _http_request(self, route, *, files=None, form=None, **kwargs):
        method, path = route.method, route.path
        payload, attached = _from_multipart(form) if form else (kwargs.get("json") or {}, {})
        channel_id = getattr(route, "channel_id", None)
        if method in ("POST", "PATCH") and "/messages" in path:
            check_limits(payload)
        if method == "POST" and path == "/channels/{channel_id}/messages":
            if attached and not self.attach_files:
                raise discord.Forbidden(
                    SimpleNamespace(status=403, reason="Forbidden"), {"code": 50013, "message": "Missing Permissions"}
                )
            msg = self._message(channel_id, payload, files=attached)
            sent = Sent("message", channel_id, payload, msg, files=attached)
            self.sent.append(sent)
            waiter = self._waiters.pop(int(channel_id), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(sent)
            return msg
        if method == "PATCH" and path == "/channels/{channel_id}/messages/{message_id}":
            msg = self._messages.get(int(route.message_id)) or self._message(channel_id, {})
            msg.update({k: v for k, v in payload.items() if k in ("content", "embeds", "components")})
            self.sent.append(Sent("edit", channel_id, payload, msg))
            return msg
        if method == "POST" and path == "/channels/{channel_id}/typing":
            return None
        if method == "PUT" and "/commands" in path:  # tree.sync()
            self.commands = payload
            return [dict(c, id=str(self.snowflake()), application_id=str(APPLICATION_ID), version="1") for c in payload]
        log.debug("local discord ignores %s %s", method, path)
        return None

    async def _webhook_request(self, route, *, payload=None, multipart=None, params=None, **_):
        method, path = route.method, route.path
        attached: dict[str, bytes] = {}
        if multipart:
            payload, attached = _from_multipart(multipart)
        payload = payload or {}
        if path == "/interactions/{webhook_id}/{webhook_token}/callback":
            kind = payload.get("type")
            data = payload.get("data") or {}
            token = route.webhook_token
            ephemeral = bool(data.get("flags", 0) & 64)
            resource: dict[str, Any] = {"type": kind}
            channel_id = self._token_channel.get(token, self.channel_id)
            if kind in (4, 7):  # a message, or an update of the clicked one
                check_limits(data)
                msg = self._message(channel_id, data)
                self._interaction_messages[token] = int(msg["id"])
                resource["message"] = msg
                self.sent.append(Sent("interaction", channel_id, data, msg, ephemeral))
            else:  # 5: deferred ("thinking"), 6: deferred update
                if kind == 5:
                    self._deferred[token] = ephemeral
                self.sent.append(Sent("defer", channel_id, payload, ephemeral=ephemeral))
            return {
                "interaction": {
                    "id": str(route.webhook_id),
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": resource,
            }
        if method in ("POST", "PATCH"):
            check_limits(payload)
        channel_id = self._token_channel.get(route.webhook_token, self.channel_id)
        if method == "POST" and path == "/webhooks/{webhook_id}/{webhook_token}":
            ephemeral = bool(payload.get("flags", 0) & 64)
            if route.webhook_token in self._deferred:
                # Discord's rule: the first follow-up after a deferral fills in the "thinking"
                # message, which keeps the deferral's visibility whatever the follow-up asks
                ephemeral = self._deferred.pop(route.webhook_token)
            msg = self._message(channel_id, payload, files=attached)
            self.sent.append(Sent("followup", channel_id, payload, msg, ephemeral, files=attached))
            return msg
        if "/messages/@original" in path and method == "DELETE":
            self._deferred.pop(route.webhook_token, None)  # no "thinking" message left to fill in
            mid = self._interaction_messages.pop(route.webhook_token, None)
            self._messages.pop(mid, None)
            self.sent.append(Sent("delete", channel_id, {}))
            return None
        if "/messages/@original" in path:
            token = route.webhook_token
            self._deferred.pop(token, None)  # an edit of the original answers the deferral
            mid = self._interaction_messages.get(token)
            msg = self._messages.get(mid) if mid else None
            if msg is None:  # the original was a deferral: this is its first content
                msg = self._message(channel_id, payload)
                self._interaction_messages[token] = int(msg["id"])
            if method == "PATCH":
                msg.update({k: v for k, v in payload.items() if k in ("content", "embeds", "components")})
                self.sent.append(Sent("edit", channel_id, payload, msg))
            return msg
        log.debug("local discord ignores webhook %s %s", method, path)
        return None

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

    async def say(self, content: str, user_id: int = 1, name: str = "poet", guild: int | None = 0) -> list[Sent]:
        """A user posts a message in the channel (of server `guild`; None: in their direct
        messages with the bot); returns what the bot sent in response."""
        self._forget_old()
        mark = len(self.sent)
        before = set(asyncio.all_tasks())
        guild_id, channel_id = self.place(guild, user_id)
        msg = self._message(channel_id, {"content": content}, author=_user(user_id, name))
        if guild_id is not None:
            msg["member"] = {k: v for k, v in self._member(user_id, name).items() if k != "user"}
        self.bot._connection.parse_message_create(msg)
        await self._settle(before)
        return self.sent[mark:]

    async def first_reply(self, content: str, user_id: int, channel_id: int, timeout: float = 30.0) -> Sent:
        """Post in one channel and wait for the bot's first message there (for many users at once,
        each in a channel of their own: `say` waits for all work, this for one reply)."""
        future = asyncio.get_running_loop().create_future()
        self._waiters[channel_id] = future
        msg = self._message(channel_id, {"content": content}, author=_user(user_id, f"user{user_id}"))
        msg["member"] = {k: v for k, v in self._member(user_id, f"user{user_id}").items() if k != "user"}
        self.bot._connection.parse_message_create(msg)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.pop(channel_id, None)

    def _interaction(
        self, kind: int, data: dict, user_id: int, name: str, message: dict | None = None, guild: int | None = 0
    ) -> dict:
        """An interaction payload, in server `guild` or (None) the user's direct messages; one on
        a message is where that message is."""
        if message is not None:
            channel_id = int(message["channel_id"])
            guild_id = self._guild_of.get(channel_id, self.guild_id)
        else:
            guild_id, channel_id = self.place(guild, user_id)
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
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 8388608,
        }
        if guild_id is None:  # a direct message: a user, not a member; the bot installed by the user
            user = _user(user_id, name)
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
                member=self._member(user_id, name),
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
    ) -> list[Sent]:
        """A user (whose client is set to `locale`) runs a slash command in server `guild` (None:
        in their direct messages)."""
        types = {bool: 5, int: 4, float: 10, str: 3}
        opts = [{"name": k, "type": types[type(v)], "value": v} for k, v in (options or {}).items()]
        data = {"id": str(self.snowflake()), "name": name, "type": 1, "options": opts}
        payload = self._interaction(2, data, user_id, name_of_user, guild=guild)
        payload["locale"] = locale
        return await self._dispatch_interaction(payload)

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


class _Adapter(webhook_async.AsyncWebhookAdapter):
    def __init__(self, local: LocalDiscord):
        super().__init__()
        self.local = local

    async def request(self, route, session=None, **kwargs):  # type: ignore[override]
        return await self.local._webhook_request(route, **kwargs)
