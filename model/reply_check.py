"""Whether a worker's reply can be the answer to its request (`check_reply`): a replica's
reply is checked before the bot shows or saves it. Part of the worker contract
(`model/contract.py`); torch-free, the bot imports it."""

from __future__ import annotations

import functools
import math

from .text import (
    FORMS,
    HAN_CHAR,
    HAN_LINE,
    LINES,
    form_of,
    han_count,
    simplified,
)
from .options import MAX_LATENT
from .wire import (
    BlendRequest,
    EncodeReply,
    EncodeRequest,
    PoemsReply,
    ReplyError,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
    WrittenPoem,
)

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
