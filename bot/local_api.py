"""The local Discord's side of the wire (bot/local.py): the objects Discord sends the bot, as
its gateway spells them (a guild, a message, a user, a role), and what the bot sends,
answered the way Discord's REST API and interaction webhooks would, with Discord's rules
kept (a message past its limits is refused, 400 Invalid Form Body; a follow-up after a
deferral takes the deferral's visibility; a deleted channel answers 404; a file without
Attach Files, 403); and the messages kept (`Sent`: one per thing the bot sent).

`DiscordApi` holds the routes, the payloads and the message store; `LocalDiscord`
(bot/local.py), which holds the servers, their people and what they do, is one. The fields
are LocalDiscord's, declared there with the rest of its state.
"""

from __future__ import annotations

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
BOT_USER_ID = 900000000000000030


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


EVERYONE = discord.Permissions(2248473465835073)  # @everyone's: Discord's defaults (no Manage Server)


def role_payload(guild_id: int, name: str, permissions: int, position: int) -> dict:
    role_id = guild_id if name == "@everyone" else None
    return {
        "id": str(role_id or time_snowflake(utcnow()) + position),
        "guild_id": str(guild_id),  # (kept here; Discord's role objects do not carry it)
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
    }


def user_payload(user_id: int, name: str, bot: bool = False) -> dict:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0", "avatar": None, "bot": bot}


class DiscordApi:
    """The routes the bot's HTTP client and webhook adapter are sent to (`route_requests`),
    and the messages they keep."""

    def route_requests(self) -> None:
        """Send what the bot's HTTP client and interaction webhooks send here, not to Discord."""
        self.bot.http.request = self._http_request  # type: ignore[method-assign]
        webhook_async.async_context.set(_Adapter(self))

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

    # -- what Discord sends the bot -----------------------------------------------------------
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
            "author": author or user_payload(BOT_USER_ID, "poembot", bot=True),
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
            "roles": [role_payload(guild_id, "@everyone", EVERYONE.value, 0)]
            + [r for r in self._roles.values() if r["guild_id"] == str(guild_id)],
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
            ]
            + [c for c in self._channels.values() if c["guild_id"] == str(guild_id)],
            "members": [
                {
                    "user": user_payload(BOT_USER_ID, "poembot", True),
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

    # -- what the bot sends ---------------------------------------------------------------------
    async def _http_request(self, route, *, files=None, form=None, **kwargs):
        method, path = route.method, route.path
        payload, attached = _from_multipart(form) if form else (kwargs.get("json") or {}, {})
        channel_id = getattr(route, "channel_id", None)
        if method in ("POST", "PATCH") and "/messages" in path:
            check_limits(payload)
        if method == "POST" and path == "/channels/{channel_id}/messages":
            if int(channel_id) in self._deleted:
                raise discord.NotFound(
                    SimpleNamespace(status=404, reason="Not Found"), {"code": 10003, "message": "Unknown Channel"}
                )
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
        """What the bot sends through an interaction's webhook: its response (`_callback`), a
        follow-up, or the original response fetched, edited or deleted (`_original`)."""
        method, path = route.method, route.path
        attached: dict[str, bytes] = {}
        if multipart:
            payload, attached = _from_multipart(multipart)
        payload = payload or {}
        if path == "/interactions/{webhook_id}/{webhook_token}/callback":
            return self._callback(route, payload)
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
        if "/messages/@original" in path:
            return self._original(route.webhook_token, method, channel_id, payload)
        log.debug("local discord ignores webhook %s %s", method, path)
        return None

    def _callback(self, route, payload: dict) -> dict:
        """An interaction's response: a message (4), an update of the clicked one (7), or a
        deferral (5: "thinking", 6: an update to come)."""
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

    def _original(self, token: str, method: str, channel_id: int, payload: dict) -> dict | None:
        """An interaction's original response deleted, fetched or edited (PATCH); a deferral's
        is written by its first edit."""
        if method == "DELETE":
            self._deferred.pop(token, None)  # no "thinking" message left to fill in
            mid = self._interaction_messages.pop(token, None)
            self._messages.pop(mid, None)
            self.sent.append(Sent("delete", channel_id, {}))
            return None
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


class _Adapter(webhook_async.AsyncWebhookAdapter):
    def __init__(self, local: DiscordApi):
        super().__init__()
        self.local = local

    async def request(self, route, session=None, **kwargs):  # type: ignore[override]
        return await self.local._webhook_request(route, **kwargs)
