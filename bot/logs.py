"""The bot's log: plain text (the default) or one JSON object a line (`LOG_FORMAT=json`,
for log collectors), and one line per command, button press or menu choice: what it was,
whose (the user id hashed: a log shows who came back, not who they are), the outcome and
the time it took."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone

log = logging.getLogger("poembot.bot.commands")
FIELDS = ("command", "user", "outcome", "ms")  # a command line's fields, kept apart in JSON


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601 in UTC, with its offset: `2025-01-31T09:00:00.123+00:00`),
    level, logger, message, a command line's fields, and the traceback (as one string) when there is one."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")


def user_hash(user_id: int) -> str:
    return hashlib.blake2b(str(user_id).encode(), digest_size=6, person=b"poembot-user").hexdigest()


def command_done(command: str, user_id: int | None, outcome: str, seconds: float) -> None:
    """The one log line of a command (or press): `poem ok 183 ms user 3f2a...`."""
    user = user_hash(user_id) if user_id is not None else "-"
    ms = round(seconds * 1000)
    log.info(
        "%s %s %d ms user %s",
        command,
        outcome,
        ms,
        user,
        extra={"command": command, "user": user, "outcome": outcome, "ms": ms},
    )
