"""The contract between the bot and the inference worker, in one torch-free module both
sides import: the decoding options, the limits, every request and reply with its JSON
form, and `InputError`, the one way a request is refused.

A request's `from_json` is its only validation of shape, types and ranges; the worker
runs it on what arrives (over HTTP, or in the same process), so both transports refuse
one bad request with the same message. What only the loaded model can judge (a character
it does not know, a form it has not loaded) is refused by the engine, also as InputError.

    POST /v1/sample   SampleRequest  -> PoemsReply
    POST /v1/blend    BlendRequest   -> PoemsReply (seed, method, crossings)
    POST /v1/vary     VaryRequest    -> PoemsReply (seed)
    POST /v1/rewrite  RewriteRequest -> PoemsReply (seed, line)
    POST /v1/encode   EncodeRequest  -> EncodeReply
    GET  /healthz                    -> {"status": "ok", "models": {form: version}, "contract": version()}
A refusal is HTTP 400 {"error": "bad_request", "code": ..., "params": {...}, "message": ...,
"contract": version()}: a code of REFUSALS and its parameters, which the bot words in its
reader's language, and the message in English for API users. Both sides must speak one
contract: the bot's client keeps a replica whose /healthz reports another `version()` out of
rotation, and takes only a refusal that names its own for the user's mistake.

A reply is not trusted: `check_reply(request, reply)` says whether it can be the answer to
its request (the bot's client refuses one that is not, as a broken replica's).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from .text import (
    FORMS,
    HAN_CHAR,
    HAN_LINE,
    LINES,
    MAX_SEED,
    form_of,
    han_count,
    punctuated,
    simplified,
    split_lines,
)

# -- limits -----------------------------------------------------------------------------------
MAX_N = 64  # poems in one sample request
MAX_STEPS = 32  # poems on one blend's path, both ends included
MAX_LATENT = 100.0  # a latent's largest value (poems' codes and the prior's draws stay within about 10)
MAX_SUBJECT_WORDS = 3  # words in a subject
MAX_WORD = 4  # characters in a subject word
MAX_TEXT = 200  # characters of a poem's text in a request
MAX_BODY = 16 * 1024  # bytes of JSON a request may send


@functools.cache
def version() -> str:
    """poembot's version: the installed distribution's, else (code run from a checkout or
    an image without installing it) the one in pyproject.toml. It is the contract's version
    too: a bot and a worker of different versions do not talk (see the module's docstring)."""
    from importlib import metadata

    try:
        return metadata.version("poembot")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return found.group(1) if found else "unknown"


# -- refusals --------------------------------------------------------------------------------
# What a refused request is refused for: a code and the parameters that code carries (JSON
# values), which the bot words in its reader's language (bot/replies.py); the English message
# beside them is for API users and logs. A worker of this contract refuses with these codes only.
REFUSALS: dict[str, frozenset[str]] = {
    code: frozenset(params.split())
    for code, params in {
        "invalid_request": "",  # the request's shape, types or ranges (the message names what)
        "form_not_loaded": "forms",  # a form this worker has no model of; forms: those it has
        "subject_and_acrostic": "",
        "subject_words": "max",  # more subject words than `max`
        "subject_word_length": "max word",  # a subject word longer than `max` characters
        "not_chinese": "field text found",  # field: subject or acrostic; text: the word or the heads;
        "unknown_characters": "field text chars",  # found, chars: lists of the characters in question
        "empty": "field text",
        "subject_repeats": "",  # the subject's words share a character (and repeats are forbidden)
        "subject_too_long": "form",  # more characters than half the poem
        "subject_word_too_long": "form",  # a word longer than a line
        "subject_does_not_fit": "form",  # no places in the poem for all the words
        "acrostic_length": "lines",  # an acrostic is one head a line
        "acrostic_repeats": "",
        "poem_empty": "",  # a poem given as text (blend, vary, rewrite, encode) ...
        "poem_too_long": "",
        "poem_not_chinese": "found more",  # found: up to 8 characters that are not Chinese; more: how many else
        "poem_length": "form lines expected got",  # characters: expected (lines x form), got
        "poem_lines": "form lengths",  # lengths: each line's, when they are not 4 of `form`
        "poem_unknown_characters": "chars",
        "line_range": "lines",  # a rewrite's line is 1 to `lines`
        "no_rewrite": "line",  # no other line keeps the rules there
    }.items()
}


class InputError(ValueError):
    """A request that cannot be turned into a poem. `code` (one of REFUSALS) names what is wrong
    and `params` carry its particulars, for the bot to word in its reader's language; the message
    says it in English, for API users and logs."""

    def __init__(self, message: str, code: str = "invalid_request", **params):
        if REFUSALS.get(code) != set(params):
            raise ValueError(f"refusal {code!r} with parameters {sorted(params)}: see contract.REFUSALS")
        super().__init__(message)
        self.code, self.params = code, params

    def to_json(self) -> dict:
        """The worker's HTTP 400 body: names this contract, so a bot of it takes the refusal for
        its user's mistake (and words it from the code)."""
        return {
            "error": "bad_request",
            "code": self.code,
            "params": self.params,
            "message": str(self),
            "contract": version(),
        }

    @classmethod
    def from_json(cls, body) -> InputError | None:
        """A 400 body as the refusal it is, or None when it is not this contract's refusal (another
        version's, another service's). A code or parameters it does not know read as
        `invalid_request`, with the message."""
        if not (
            isinstance(body, dict)
            and body.get("error") == "bad_request"
            and isinstance(body.get("message"), str)
            and body.get("contract") == version()
        ):
            return None
        code, params = body.get("code"), body.get("params")
        if not (isinstance(params, dict) and REFUSALS.get(code) == set(params)):
            code, params = "invalid_request", {}
        return cls(body["message"][:500], code, **params)


@dataclass(frozen=True)
class Options:
    """How to decode. Every constraint can be turned off."""

    # the one-level sampler measured best (docs/figures-one-level.md, "Choosing the sampler");
    # a checkpoint's card holds its own (`calibrate`), which is what it samples with
    temperature: float = 0.9  # 0 = argmax
    top_k: int = 0  # sample among the k likeliest allowed characters (0 = all)
    top_p: float = 0.9  # and among the likeliest that hold this share of the probability (1 = all)
    min_p: float = 0.0  # and among those at least this share as likely as the likeliest (0 = all; Nguyen et al. 2024)
    calibration: float = 0.0  # how much of the checkpoint's unigram calibration to add (0 = none; see `calibrate`)
    no_repeat: bool = True  # no character twice in a poem
    rhyme: bool = True  # lines 2 and 4 end in the same level-tone rhyme group
    rhyme_first: bool = False  # line 1 rhymes with them too
    first_rhyme: float | None = None  # otherwise the share of poems whose line 1 rhymes, the rest ending it
    # oblique (None = the share real poems of the form have: model/endings.py's FIRST_RHYME)
    tone: bool = True  # prefer the regulated level/oblique pattern at key positions
    tone_penalty: float = 4.0  # nats taken from a character off the tone pattern
    parallel: bool = False  # read every character off the latent at once (the parallel head), not in order
    candidates: int = 1  # poems drawn per seed; the one the model's own language model finds likeliest is kept
    unigram_discount: float = 0.0  # ranking candidates: less this share of the poem's log-probability under
    # its characters' shares of the training poems (an anti-language-model, Li et al. 2016), so the poem
    # whose context explains its characters wins over the blandest (0 = likelihood alone)
    guidance: float = 0.0  # how much the latent steers the writing head: log p = w log p(.|z) + (1-w) log p(.)
    # (1 = the latent alone; below 1 mixes in the head's latent-free language model, where it has one)
    topic: float = 1.5  # a subject poem: nats per unit of association added to the characters poems on the
    # subject use more than others (the subject index's PMI; 0 = the subject's latent and words alone)
    continuity: float = 0.0  # blends: nats added to the character a neighbouring step has at the same place,
    # so a step changes where its latent wants a change, not everywhere (0 = each step on its own);
    # a poem between favourites: to each favourite's character, times its nearness
    detail: float = 1.0  # a two-level code: the share of a given latent's detail code z_d read (0 = its
    # low-rate z_g alone, the poem's drift; 1 = all, the poem itself). A drawn latent has no detail.
    simplified: bool = False  # print in simplified characters

    def check(self) -> Options:
        if not (self.temperature == 0.0 or 0.01 <= self.temperature <= 5.0):  # (NaN fails both)
            raise InputError("temperature must be 0 (the likeliest character) or between 0.01 and 5")
        if not (0 <= self.top_k <= 10000):
            raise InputError("top_k must be between 0 and 10000")
        if not (0.0 < self.top_p <= 1.0):
            raise InputError("top_p must be above 0 and at most 1")
        if not (0.0 <= self.min_p < 1.0):
            raise InputError("min_p must be at least 0 and below 1")
        if not (0.0 <= self.calibration <= 2.0):
            raise InputError("calibration must be between 0 and 2")
        if not (0.0 <= self.tone_penalty <= 100.0):
            raise InputError("tone_penalty must be between 0 and 100")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or not 1 <= self.candidates <= 16:
            raise InputError("candidates must be a whole number from 1 to 16")
        if not (0.0 <= self.unigram_discount <= 2.0) or math.isnan(self.unigram_discount):
            raise InputError("unigram_discount must be between 0 and 2")
        if not (0.0 <= self.guidance <= 4.0):
            raise InputError("guidance must be between 0 and 4")
        if not (0.0 <= self.topic <= 10.0) or math.isnan(self.topic):
            raise InputError("topic must be between 0 and 10")
        if not (0.0 <= self.continuity <= 20.0) or math.isnan(self.continuity):
            raise InputError("continuity must be between 0 and 20")
        if not (0.0 <= self.detail <= 1.0) or math.isnan(self.detail):
            raise InputError("detail must be between 0 and 1")
        if self.first_rhyme is not None and not (0.0 <= self.first_rhyme <= 1.0):  # (NaN fails)
            raise InputError("first_rhyme must be between 0 and 1")
        return self


def parse_options(raw, base: Options = Options()) -> Options:
    """Decoding options from a request: `base` with the given fields changed, checked."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise InputError("options must be an object")
    unknown = sorted(set(raw) - {f.name for f in fields(Options)})
    if unknown:
        raise InputError(f"unknown options: {', '.join(unknown)}"[:200])
    for key, value in raw.items():
        want_bool = type(Options.__dataclass_fields__[key].default) is bool  # not `in (True, False)`: 0.0 == False
        if want_bool and not isinstance(value, bool):
            raise InputError(f"option {key} must be true or false")
        if not want_bool and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"option {key} must be a number")
    opts = replace(base, **raw)
    if not isinstance(opts.top_k, int):
        raise InputError("option top_k must be a whole number")
    return opts.check()


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not (0 <= seed <= MAX_SEED):
        raise InputError(f"a seed is a whole number from 0 to {MAX_SEED}")
    return seed


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


# -- checking a reply against its request -----------------------------------------------------
# A replica's reply is checked before the bot shows or saves it (bot/worker_client.py): one that
# fails is the replica's fault (a broken or mismatched worker), never shown. The checks are
# lenient about script only: a request's characters may be simplified and the model writes
# traditional ones, so two characters match when they are one character in either script.
MAX_LATENT_LEN = 4096  # numbers in a latent (as `_end` allows a blend's end)


@functools.cache
def _opencc(config: str):
    import opencc

    return opencc.OpenCC(config)


def _same_char(a: str, b: str) -> bool:
    """The same character, in either script."""
    if a == b:
        return True
    t2s, s2t = _opencc("t2s").convert, _opencc("s2t").convert
    return t2s(a) == t2s(b) or s2t(a) == b or s2t(b) == a


def _same_text(a: str, b: str) -> bool:
    return len(a) == len(b) and all(_same_char(x, y) for x, y in zip(a, b))


def _no_repeat(request, reply: PoemsReply) -> bool:
    """Whether the request's options (else the options the worker says it used) forbid a
    character twice in a poem."""
    asked = (request.options or {}).get("no_repeat")
    used = reply.options.get("no_repeat", True)
    return asked if isinstance(asked, bool) else used is not False


def _check_latent(latent, what: str) -> None:
    if not isinstance(latent, list) or not 1 <= len(latent) <= MAX_LATENT_LEN:
        raise ReplyError(f"{what}'s latent is not a list of 1 to {MAX_LATENT_LEN} numbers")
    for v in latent:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ReplyError(f"{what}'s latent holds {v!r}, not a number"[:200])
        if not math.isfinite(v) or abs(v) > MAX_LATENT:
            raise ReplyError(f"{what}'s latent holds {v!r}, not a finite number within ±{MAX_LATENT:g}")


def _check_text(text, form: int, what: str) -> None:
    """A quatrain's unpunctuated text: LINES lines of `form` Chinese characters."""
    if not isinstance(text, str) or len(text) != LINES * form:
        size = len(text) if isinstance(text, str) else type(text).__name__
        raise ReplyError(f"{what} has {size} characters, not {LINES * form} ({LINES} lines of {form})")
    if not HAN_LINE.match(text):
        bad = list(dict.fromkeys(ch for ch in text if not HAN_LINE.match(ch)))
        raise ReplyError(f"{what} holds characters a poem may not: {', '.join(ascii(c) for c in bad[:4])}")


def _check_poem(poem: WrittenPoem, form: int, no_repeat: bool, what: str) -> None:
    if poem.form != form:
        raise ReplyError(f"{what} is a {poem.form}-character poem, not {form}")
    _check_text(poem.text, form, what)
    if poem.display and poem.display not in (poem.text, simplified(poem.text)):
        _check_text(poem.display, form, f"{what}'s display")
        if not _same_text(poem.display, poem.text):
            raise ReplyError(f"{what} is shown as another poem")
    if no_repeat and len(set(poem.text)) < len(poem.text):
        twice = [ch for ch in dict.fromkeys(poem.text) if poem.text.count(ch) > 1]
        raise ReplyError(f"{what} has {'、'.join(twice)} twice, and the request forbids repeats")
    _check_latent(poem.latent, what)


def _han(text: str) -> str:
    return "".join(HAN_CHAR.findall(text))


def _asked_form(text: str, form: int | None) -> int | None:
    """The form a request on a typed poem gets: its own, else the text's (None: the model's
    choice, when the text is neither 20 nor 28 characters)."""
    if form is not None:
        return form
    return form_of(text) if han_count(text) in {LINES * f for f in FORMS} else None


def _check_poems(request, reply, count: int, form: int | None, no_repeat_for=None) -> None:
    """`count` poems of one form (the request's, else any form, the same for all), every one
    a checked quatrain with a latent of one length."""
    if not isinstance(reply, PoemsReply):
        raise ReplyError(f"a {type(reply).__name__}, not poems")
    if len(reply.poems) != count:
        raise ReplyError(f"{len(reply.poems)} poems where {count} were asked for")
    form = reply.poems[0].form if form is None else form
    if form not in FORMS:
        raise ReplyError(f"a {form}-character poem; the forms are {FORMS}")
    no_repeat = _no_repeat(request, reply)
    for i, poem in enumerate(reply.poems):
        skip = no_repeat_for is not None and not no_repeat_for(i)
        _check_poem(poem, form, no_repeat and not skip, f"poem {i + 1}")
    if len({len(p.latent) for p in reply.poems}) > 1:
        raise ReplyError("poems' latents of different lengths")


def _check_seed(got, want: int | None, what: str) -> None:
    if want is not None and got != want:
        raise ReplyError(f"{what} has seed {got!r}, not {want}"[:200])


def _check_sample(req: SampleRequest, reply) -> None:
    _check_poems(req, reply, req.n, req.form)
    first = req.seed if req.seed is not None else reply.poems[0].seed
    if isinstance(first, bool) or not isinstance(first, int):
        raise ReplyError("poem 1 has no seed")
    for i, poem in enumerate(reply.poems):
        _check_seed(poem.seed, first + i, f"poem {i + 1}")
        if req.subject:
            for word in req.subject:
                if not any(_same_text(word, poem.text[j : j + len(word)]) for j in range(len(poem.text))):
                    raise ReplyError(f"poem {i + 1} lacks the subject {word}")
        if req.acrostic:
            heads = poem.text[:: req.form]
            if not _same_text(req.acrostic, heads):
                raise ReplyError(f"poem {i + 1}'s lines start {heads}, not the acrostic {req.acrostic}")


def _check_blend(req: BlendRequest, reply) -> None:
    ends = (req.a, req.b)
    # an end given as text is that poem, as typed (and may repeat a character)
    _check_poems(
        req, reply, req.steps, req.form, lambda i: not (i in (0, req.steps - 1) and isinstance(ends[i > 0], str))
    )
    for end, poem, name in zip(ends, (reply.poems[0], reply.poems[-1]), "ab"):
        # (an end given as text is not always that poem: a one-level code decodes its latent)
        if isinstance(end, list) and len(poem.latent) != len(end):
            raise ReplyError(f"latents of {len(poem.latent)} numbers for {name}'s of {len(end)}")
    _check_seed(reply.seed, req.seed, "the blend")
    if reply.method != req.method:
        raise ReplyError(f"a {reply.method} blend, not {req.method}"[:200])
    if req.crossings is not None and reply.crossings != req.crossings:
        raise ReplyError("a blend with crossings other than asked")


def _check_vary(req: VaryRequest, reply) -> None:
    _check_poems(req, reply, 1, _asked_form(req.text, req.form))
    _check_seed(reply.seed, req.seed, "the variation")
    _check_seed(reply.poems[0].seed, reply.seed, "the variation")


def _check_rewrite(req: RewriteRequest, reply) -> None:
    form = _asked_form(req.text, req.form)
    _check_poems(req, reply, 1, form, lambda i: False)  # the kept lines may repeat (checked below)
    poem = reply.poems[0]
    _check_seed(reply.seed, req.seed, "the rewrite")
    if reply.line != req.line:
        raise ReplyError(f"line {reply.line!r} rewritten, not {req.line}"[:200])
    form, given = poem.form, _han(req.text)
    lo, hi = (req.line - 1) * form, req.line * form
    if len(given) == len(poem.text) and not _same_text(given[:lo] + given[hi:], poem.text[:lo] + poem.text[hi:]):
        raise ReplyError(f"the rewrite of line {req.line} changed the other lines")
    new, kept = poem.text[lo:hi], poem.text[:lo] + poem.text[hi:]
    if _no_repeat(req, reply) and (len(set(new)) < len(new) or set(new) & set(kept)):
        raise ReplyError(f"the new line {new} repeats a character, and the request forbids repeats")


def _check_encode(req: EncodeRequest, reply) -> None:
    if not isinstance(reply, EncodeReply):
        raise ReplyError(f"a {type(reply).__name__}, not a latent")
    form = _asked_form(req.text, req.form)
    if reply.form not in FORMS or (form is not None and reply.form != form):
        raise ReplyError(f"a {reply.form}-character reading of the poem")
    _check_text(reply.text, reply.form, "the poem read")
    if len(_han(req.text)) == len(reply.text) and not _same_text(_han(req.text), reply.text):
        raise ReplyError(f"the poem read as {reply.text}, not {_han(req.text)}")
    _check_latent(reply.latent, "the poem")


_CHECKS = {
    SampleRequest: _check_sample,
    BlendRequest: _check_blend,
    VaryRequest: _check_vary,
    RewriteRequest: _check_rewrite,
    EncodeRequest: _check_encode,
}


def check_reply(request, reply) -> None:
    """Raise ReplyError, naming the fault, when `reply` cannot be a worker's answer to
    `request`: its shape (the poems asked for, their form and seeds, the blend's steps), each
    poem (4 lines of its form, Chinese characters only, none twice when repeats are forbidden,
    a latent of finite numbers, one length in a reply), and what the request asked (every
    subject word in the poem, the acrostic's heads, a rewrite's other lines kept, a blend's
    latents as long as its ends')."""
    _CHECKS[type(request)](request, reply)
