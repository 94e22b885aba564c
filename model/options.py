"""What a request to the worker may ask for: the limits, the decoding options, the seed
range, and `InputError` with its refusal codes (REFUSALS), the one way a request is refused.
Part of the worker contract (`model/contract.py`); torch-free, the bot imports it."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace

from .text import (
    MAX_SEED,
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
