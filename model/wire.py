"""The worker contract's messages: every request with its one validation (`from_json`,
run on what arrives, over HTTP or in the same process), `Overloaded`, every reply with its
JSON form, and ENDPOINTS, which names each endpoint's request and reply. Part of the
contract (`model/contract.py`); torch-free, the bot imports it."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .options import (
    MAX_N,
    MAX_STEPS,
    MAX_SUBJECT_WORDS,
    MAX_TEXT,
    InputError,
    check_seed,
    parse_options,
)
from .text import (
    MAX_SEED,
    punctuated,
    split_lines,
)


# -- reading a JSON body ----------------------------------------------------------------------
def _whole(body: dict, key: str, lo: int, hi: int, default: Any = None) -> Any:
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"{key} must be a whole number from {lo} to {hi}")
    return value


def _text(body: dict, key: str, what: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InputError(f"{key} must be {what}")
    return value


def _end(body: dict, key: str) -> str | list[float]:
    """A blend end: a poem's text, or its latent (a list of numbers, checked by the model)."""
    value = body.get(key)
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    if isinstance(value, list) and len(value) <= 4096:
        return value
    raise InputError(f"{key} must be a poem's text or its latent")


def _seed(body: dict) -> int | None:
    seed = body.get("seed")
    return None if seed is None else check_seed(seed)


def _form(body: dict, default: int | None = 5) -> int | None:
    form = body.get("form", default)
    if form is None:
        return None
    if isinstance(form, bool) or not isinstance(form, int):
        raise InputError("form must be 5 or 7")
    return form


def _options(body: dict) -> dict | None:
    raw = body.get("options")
    parse_options(raw)  # shape and ranges; the engine applies them to the model's own defaults
    return raw


# JSON's \u escapes can spell half a surrogate pair alone ("\ud800"): a str that no UTF-8
# holds, so a refusal quoting it could not be sent (the worker answered 500)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_unicode(body) -> None:
    """Refuse a body holding a string (a value or a key, at any depth) that is not valid Unicode."""
    stack = [body]
    while stack:  # (a loop: a body nested as deep as json.loads allows would overflow a recursion)
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InputError("the request holds text that is not valid Unicode (a lone surrogate)")
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


class _Request:
    """A request: `from_json` (the one check of what arrives), `to_json` (what is sent)."""

    KEYS: ClassVar[frozenset[str]]
    PATH: ClassVar[str]

    @classmethod
    def _body(cls, body) -> dict:
        if not isinstance(body, dict):
            raise InputError("the request body must be a JSON object")
        _check_unicode(body)
        unknown = sorted(str(k) for k in set(body) - cls.KEYS)
        if unknown:
            raise InputError(f"unknown fields: {', '.join(unknown)}"[:200])
        return body

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class SampleRequest(_Request):
    """Poems drawn from the prior: `n` consecutive seeds from `seed` (None: a fresh one);
    on a subject (1-3 words written into the poem) or as an acrostic (4 line heads)."""

    KEYS = frozenset({"n", "seed", "form", "options", "subject", "acrostic"})
    PATH = "/v1/sample"
    n: int = 1
    seed: int | None = None
    form: int = 5
    options: dict | None = None
    subject: list[str] | None = None
    acrostic: str | None = None

    @classmethod
    def from_json(cls, body) -> SampleRequest:
        body = cls._body(body)
        n, seed = _whole(body, "n", 1, MAX_N, 1), _seed(body)
        if seed is not None and seed + n - 1 > MAX_SEED:
            raise InputError("seed + n is too large")
        subject = body.get("subject")
        if subject is not None and (
            not isinstance(subject, list)
            or not all(isinstance(w, str) for w in subject)
            or not 1 <= len(subject) <= MAX_SUBJECT_WORDS
        ):
            raise InputError(f"subject is a list of words (1 to {MAX_SUBJECT_WORDS})")
        acrostic = _text(body, "acrostic", "a string of characters", required=False)
        return cls(n=n, seed=seed, form=_form(body), options=_options(body), subject=subject, acrostic=acrostic)


@dataclass(frozen=True)
class BlendRequest(_Request):
    """The poems on the path from a to b (texts or latents), both ends included."""

    KEYS = frozenset({"a", "b", "steps", "method", "form", "seed", "options", "crossings"})
    PATH = "/v1/blend"
    a: str | list[float]
    b: str | list[float]
    steps: int = 5
    method: str = "lerp"
    form: int = 5
    seed: int = 0
    options: dict | None = None
    crossings: bool | None = None  # None: the model's way

    @classmethod
    def from_json(cls, body) -> BlendRequest:
        body = cls._body(body)
        method = body.get("method", "lerp")
        if method not in ("lerp", "slerp"):
            raise InputError("method is slerp or lerp")
        crossings = body.get("crossings")
        if crossings is not None and not isinstance(crossings, bool):
            raise InputError("crossings is true (steps between the ends cross their half-lines) or false")
        return cls(
            a=_end(body, "a"),
            b=_end(body, "b"),
            steps=_whole(body, "steps", 2, MAX_STEPS, 5),
            method=method,
            form=_form(body),
            seed=check_seed(body.get("seed", 0)),
            options=_options(body),
            crossings=crossings,
        )


@dataclass(frozen=True)
class VaryRequest(_Request):
    """A poem near `text` (its latent, a few characters changed); with `towards`, near the
    point a share `t` of the way from `text` to that poem."""

    KEYS = frozenset({"text", "form", "seed", "options", "towards", "t"})
    PATH = "/v1/vary"
    text: str
    form: int | None = None  # None: the text's own
    seed: int | None = None
    options: dict | None = None
    towards: str | None = None
    t: float = 0.5

    @classmethod
    def from_json(cls, body) -> VaryRequest:
        body = cls._body(body)
        t = body.get("t", 0.5)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise InputError("t must be a number from 0 to 1")
        return cls(
            text=_text(body, "text", "a poem"),
            form=_form(body, None),
            seed=_seed(body),
            options=_options(body),
            towards=_text(body, "towards", "a poem's text", required=False),
            t=float(t),
        )


@dataclass(frozen=True)
class RewriteRequest(_Request):
    """`text` with line `line` (1-4) written anew, the other lines kept."""

    KEYS = frozenset({"text", "form", "line", "seed", "options"})
    PATH = "/v1/rewrite"
    text: str
    line: int
    form: int | None = None
    seed: int | None = None
    options: dict | None = None

    @classmethod
    def from_json(cls, body) -> RewriteRequest:
        body = cls._body(body)
        return cls(
            text=_text(body, "text", "a poem"),
            line=_whole(body, "line", 1, 4, 0),
            form=_form(body, None),
            seed=_seed(body),
            options=_options(body),
        )


@dataclass(frozen=True)
class EncodeRequest(_Request):
    """A poem's latent (the mean of its code)."""

    KEYS = frozenset({"text", "form"})
    PATH = "/v1/encode"
    text: str
    form: int | None = None

    @classmethod
    def from_json(cls, body) -> EncodeRequest:
        body = cls._body(body)
        return cls(text=_text(body, "text", "a poem"), form=_form(body, None))


class Overloaded(Exception):
    """The worker has more work waiting than its bound: try again in `retry_after` seconds
    (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after: float):
        super().__init__(f"the worker is busy; try again in {math.ceil(retry_after)} s")
        self.retry_after = retry_after


# -- replies ----------------------------------------------------------------------------------
class ReplyError(ValueError):
    """A reply that is not the worker's (a WORKER_URL that reaches some other service)."""


@dataclass
class WrittenPoem:
    """A poem as the model writes it (the bot stores it as `bot.storage.models.Poem` and shows
    it as `bot.service.ShownPoem`)."""

    text: str  # unpunctuated, traditional (as the model writes it)
    form: int  # characters a line
    seed: int | None  # what reproduces it (None for a decoded latent)
    latent: list[float] = field(repr=False)
    display: str = ""  # the text as shown: simplified if asked for

    @property
    def lines(self) -> list[str]:
        return split_lines(self.display or self.text, self.form)

    def punctuated_lines(self) -> list[str]:
        return punctuated(self.lines)

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "form": self.form,
            "seed": self.seed,
            "latent": self.latent,
            "display": self.display,
            "lines": self.lines,
        }

    @classmethod
    def from_json(cls, data) -> WrittenPoem:
        if not (
            isinstance(data, dict)
            and isinstance(data.get("text"), str)
            and data["text"]
            and isinstance(data.get("form"), int)
            and isinstance(data.get("latent"), list)
        ):
            raise ReplyError("a poem without its text, form or latent")
        seed = data.get("seed")
        return cls(
            text=data["text"],
            form=data["form"],
            seed=seed if isinstance(seed, int) else None,
            latent=data["latent"],
            display=data.get("display") or "",
        )


@dataclass
class PoemsReply:
    """Poems the worker wrote, the model and the options that wrote them, and what the
    request left to the worker (a seed drawn for it, the blend's method, ...)."""

    poems: list[WrittenPoem]
    model: str
    options: dict
    seed: int | None = None  # vary, rewrite, blend: the seed used
    method: str | None = None  # blend
    crossings: bool | None = None  # blend
    line: int | None = None  # rewrite
    request: dict | None = None  # sample on a subject or acrostic: what was asked

    def to_json(self) -> dict:
        out = {"poems": [p.to_json() for p in self.poems], "model": self.model, "options": self.options}
        for key in ("seed", "method", "crossings", "line", "request"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data) -> PoemsReply:
        if not (
            isinstance(data, dict)
            and isinstance(data.get("poems"), list)
            and data["poems"]
            and isinstance(data.get("model"), str)
            and isinstance(data.get("options"), dict)
        ):
            raise ReplyError("no poems, model and options in the reply")
        return cls(
            poems=[WrittenPoem.from_json(p) for p in data["poems"]],
            model=data["model"],
            options=data["options"],
            **{k: data.get(k) for k in ("seed", "method", "crossings", "line", "request")},
        )


@dataclass
class EncodeReply:
    latent: list[float]
    text: str  # as the model reads it
    form: int
    model: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> EncodeReply:
        if not (
            isinstance(data, dict)
            and isinstance(data.get("latent"), list)
            and isinstance(data.get("text"), str)
            and isinstance(data.get("form"), int)
            and isinstance(data.get("model"), str)
        ):
            raise ReplyError("no latent, text, form and model in the reply")
        return cls(latent=data["latent"], text=data["text"], form=data["form"], model=data["model"])


ENDPOINTS: dict[str, tuple[type[_Request], type]] = {  # name -> (request, reply)
    "sample": (SampleRequest, PoemsReply),
    "blend": (BlendRequest, PoemsReply),
    "vary": (VaryRequest, PoemsReply),
    "rewrite": (RewriteRequest, PoemsReply),
    "encode": (EncodeRequest, EncodeReply),
}
