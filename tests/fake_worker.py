"""A worker for the bot's tests that needs no model (and no torch): the worker client's
protocol (`bot.worker_client.WorkerClient`), answered from a fixed table of real quatrains.

It keeps the worker's rules, so the bot's tests pass only where users would see the same:
every request is checked with the contract (`from_json`, as the in-process and HTTP workers
check it) and refused as they refuse it (`WorkerBadRequest` with the contract's code, its
parameters and message, or the model's own for a character it does not know or a text that
is no quatrain); every
reply is checked with `check_reply`, as the HTTP client checks a replica's. The same request
and seed always give the same poem; a subject's words are in the poem, an acrostic's heads
start its lines, a rewrite keeps the other three lines, a blend has the steps asked for, and
no poem repeats a character.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import asdict

import opencc

from bot.worker_client import WorkerBadRequest
from model.contract import (  # torch-free
    BlendRequest,
    EncodeReply,
    EncodeRequest,
    InputError,
    PoemsReply,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
    WrittenPoem,
    check_reply,
    parse_options,
    version,
)
from model.text import FORMS, HAN_LINE, LINES, PUNCTUATION

POEMS = {  # real quatrains, traditional and unpunctuated, none repeating a character
    5: (
        "白日依山盡黃河入海流欲窮千里目更上一層樓",
        "千山鳥飛絕萬徑人蹤滅孤舟蓑笠翁獨釣寒江雪",
        "紅豆生南國春來發幾枝願君多採擷此物最相思",
        "移舟泊煙渚日暮客愁新野曠天低樹江清月近人",
        "松下問童子言師採藥去只在此山中雲深不知處",
        "向晚意不適驅車登古原夕陽無限好只是近黃昏",
        "獨坐幽篁裏彈琴復長嘯深林人不知明月來相照",
        "北斗七星高哥舒夜帶刀至今窺牧馬不敢過臨洮",
        "功蓋三分國名成八陣圖江流石不轉遺恨失吞吳",
    ),
    7: (
        "朝辭白帝彩雲間千里江陵一日還兩岸猿聲啼不住輕舟已過萬重山",
        "月落烏啼霜滿天江楓漁火對愁眠姑蘇城外寒山寺夜半鐘聲到客船",
        "黃河遠上白雲間一片孤城萬仞山羌笛何須怨楊柳春風不度玉門關",
        "葡萄美酒夜光杯欲飲琵琶馬上催醉臥沙場君莫笑古來征戰幾人回",
        "故人西辭黃鶴樓煙花三月下揚州孤帆遠影碧空盡唯見長江天際流",
        "寒雨連江夜入吳平明送客楚山孤洛陽親友如相問一片冰心在玉壺",
        "千里鶯啼綠映紅水村山郭酒旗風南朝四百八十寺多少樓臺煙雨中",
        "遠上寒山石徑斜白雲生處有人家停車坐愛楓林晚霜葉紅於二月花",
    ),
}
# the characters it knows: the table's, and common ones a subject or an acrostic asks for
VOCABULARY = "".join(dict.fromkeys("".join(POEMS[5] + POEMS[7]) + "東西南北春夏秋冬風花雪月雁霜露柳梅竹松菊蘭鴻"))
MODEL = "fake-1"
LATENT = 16  # numbers in a poem's latent


def latent_of(text: str) -> list[float]:
    """A poem's latent: a point that depends on its text only."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    return [round(max(-4.0, min(4.0, rng.gauss(0.0, 1.0))), 6) for _ in range(LATENT)]


def _refused(message: str, code: str, **params) -> WorkerBadRequest:
    """The worker's refusal: the model's English words, its code and parameters (the contract's
    REFUSALS, checked by InputError), as a client raises it."""
    return WorkerBadRequest.of(InputError(message, code, **params))


def _loaded(form: int) -> int:
    """`form`, if the fake has a model of it (as the engine refuses a form it has not loaded)."""
    if form not in POEMS:
        raise _refused(f"form must be one of {sorted(POEMS)}", "form_not_loaded", forms=sorted(POEMS))
    return form


class FakeWorker:
    """The worker-client protocol from the table (see the module's docstring). `calls` lists
    the requests in the order they came."""

    def __init__(self):
        self.calls: list = []
        self._s2t = opencc.OpenCC("s2t")

    # -- the protocol ------------------------------------------------------------------
    async def sample(self, req: SampleRequest) -> PoemsReply:
        req = self._checked(req)
        _loaded(req.form)
        opts = parse_options(req.options)
        start = secrets.randbelow(2**31) if req.seed is None else req.seed
        words = [self._known(w, "subject") for w in req.subject or []]
        heads = self._known(req.acrostic, "acrostic") if req.acrostic else ""
        self._check_request(req, words, heads)
        poems = [
            self._poem(self._written(req.form, start + i, words, heads), req.form, start + i) for i in range(req.n)
        ]
        asked = {"subject": req.subject, "acrostic": req.acrostic} if req.subject or req.acrostic else None
        return self._replied(req, PoemsReply(poems, MODEL, asdict(opts), request=asked))

    async def blend(self, req: BlendRequest) -> PoemsReply:
        req = self._checked(req)
        _loaded(req.form)
        a, b = (self._end(end, req.form) for end in (req.a, req.b))
        rng = random.Random(f"blend:{a}:{b}:{req.seed}")
        order = rng.sample(range(len(a)), len(a))  # the order in which b's characters come in
        texts = []
        for i in range(req.steps):
            if i in (0, req.steps - 1):
                texts.append(a if i == 0 else b)
                continue
            taken = set(order[: round(len(a) * i / (req.steps - 1))])
            mixed = "".join(b[j] if j in taken else a[j] for j in range(len(a)))
            texts.append(self._no_repeats(mixed, rng))
        poems = [self._poem(t, req.form, None) for t in texts]
        reply = PoemsReply(poems, MODEL, asdict(parse_options(req.options)), seed=req.seed, method=req.method)
        reply.crossings = False if req.crossings is None else req.crossings
        return self._replied(req, reply)

    async def vary(self, req: VaryRequest) -> PoemsReply:
        req = self._checked(req)
        form = self._form(req.text, req.form)
        text = self._parse(req.text, form)
        seed = secrets.randbelow(2**31) if req.seed is None else req.seed
        rng = random.Random(f"vary:{text}:{req.towards}:{req.t}:{seed}")
        if req.towards is not None:  # the lines of `towards`, as many as t is far along
            towards = self._parse(req.towards, form)
            keep = LINES - round(LINES * req.t)
            text = text[: keep * form] + towards[keep * form :]
        changed = "".join(self._other(text, rng) if rng.random() < 0.4 else ch for ch in text)
        poem = self._poem(self._no_repeats(changed, rng), form, seed)
        return self._replied(req, PoemsReply([poem], MODEL, asdict(parse_options(req.options)), seed=seed))

    async def rewrite(self, req: RewriteRequest) -> PoemsReply:
        req = self._checked(req)
        form = self._form(req.text, req.form)
        text = self._parse(req.text, form)
        seed = secrets.randbelow(2**31) if req.seed is None else req.seed
        rng = random.Random(f"rewrite:{text}:{req.line}:{seed}")
        lo, hi = (req.line - 1) * form, req.line * form
        kept = text[:lo] + text[hi:]
        if len(set(kept)) < len(kept):
            raise _refused(
                f"line {req.line} has no other way to be written here that keeps the rules", "no_rewrite", line=req.line
            )
        new = ""
        for _ in range(form):
            new += self._other(text + new, rng)
        poem = self._poem(text[:lo] + new + text[hi:], form, seed)
        reply = PoemsReply([poem], MODEL, asdict(parse_options(req.options)), seed=seed, line=req.line)
        return self._replied(req, reply)

    async def encode(self, req: EncodeRequest) -> EncodeReply:
        req = self._checked(req)
        form = self._form(req.text, req.form)
        text = self._parse(req.text, form)
        return self._replied(req, EncodeReply(latent=latent_of(text), text=text, form=form, model=MODEL))

    async def health(self) -> dict:
        return {"status": "ok", "models": {str(f): MODEL for f in FORMS}, "contract": version()}

    async def close(self) -> None:
        pass

    # -- the worker's rules ------------------------------------------------------------
    def _checked(self, req):
        """The request as a worker reads it: the contract's one check (`from_json`)."""
        self.calls.append(req)
        try:
            return type(req).from_json(req.to_json())
        except InputError as e:
            raise WorkerBadRequest.of(e) from None

    @staticmethod
    def _replied(req, reply):
        check_reply(req, reply)  # the fake keeps the contract it stands in for
        return reply

    def _known(self, text: str, field: str) -> str:
        """`text` (`field`: a subject word, or the acrostic) in the characters the fake knows
        (simplified ones as traditional), or the model's refusal naming those it does not know
        (`Requests.characters` in model/requests.py)."""
        what = f"the subject {text}" if field == "subject" else f"the {field}"
        bad = [ch for ch in text if not HAN_LINE.match(ch)]
        if bad:
            raise _refused(
                f"{what} must be written in Chinese characters, and {', '.join(repr(c) for c in bad[:4])} "
                f"{'is' if len(bad) == 1 else 'are'} not",
                "not_chinese",
                field=field,
                text=text,
                found=bad[:4],
            )
        mapped = "".join(ch if ch in VOCABULARY else self._s2t.convert(ch) for ch in text)
        unknown = list(dict.fromkeys(ch for ch, m in zip(text, mapped) if m not in VOCABULARY))
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            raise _refused(
                f"the model does not know the character{s} {'、'.join(unknown)} ({what})",
                "unknown_characters",
                field=field,
                text=text,
                chars=unknown,
            )
        return mapped

    @staticmethod
    def _check_request(req: SampleRequest, words: list[str], heads: str) -> None:
        """What only the model judges of a subject or an acrostic (after `PoemGenerator.request_ids`)."""
        if words and heads:
            raise _refused("a poem takes a subject or an acrostic, not both", "subject_and_acrostic")
        flat = "".join(words)
        if len(set(flat)) < len(flat):
            raise _refused("the subject repeats a character, and a poem here never does", "subject_repeats")
        if len(flat) > 2 * req.form:
            raise _refused(
                f"the subject is too long for a {req.form}-character quatrain", "subject_too_long", form=req.form
            )
        if heads and len(heads) != LINES:
            raise _refused(
                f"an acrostic (藏頭) is {LINES} characters, one to start each line", "acrostic_length", lines=LINES
            )
        if len(set(heads)) < len(heads):
            raise _refused("the acrostic repeats a character, and a poem here never does", "acrostic_repeats")

    def _parse(self, text: str, form: int) -> str:
        """A typed poem as the model reads it, refused in the model's words (`PoemGenerator.parse`)."""
        if not text.strip():
            raise _refused("the poem is empty", "poem_empty")
        lines = [line for line in PUNCTUATION.split(text.strip()) if line]
        chars = "".join(lines)
        bad = list(dict.fromkeys(ch for ch in chars if not HAN_LINE.match(ch)))
        if bad:
            more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
            found = ", ".join(ascii(ch) if not ch.isprintable() else repr(ch) for ch in bad[:8])
            raise _refused(
                f"a poem is written in Chinese characters only; found {found}{more}",
                "poem_not_chinese",
                found=bad[:8],
                more=max(0, len(bad) - 8),
            )
        if len(chars) != LINES * form:
            raise _refused(
                f"a {form}-character quatrain has {LINES * form} characters ({LINES} lines of {form}); "
                f"this has {len(chars)}",
                "poem_length",
                form=form,
                lines=LINES,
                expected=LINES * form,
                got=len(chars),
            )
        if len(lines) > 1 and (len(lines) != LINES or any(len(line) != form for line in lines)):
            lengths = [len(line) for line in lines]
            raise _refused(
                f"a quatrain has 4 lines of {form} characters; got line lengths {lengths}",
                "poem_lines",
                form=form,
                lengths=lengths,
            )
        mapped = "".join(ch if ch in VOCABULARY else self._s2t.convert(ch) for ch in chars)
        unknown = sorted({ch for ch, m in zip(chars, mapped) if m not in VOCABULARY})
        if unknown:
            raise _refused(
                f"the model does not know these characters: {''.join(unknown)}",
                "poem_unknown_characters",
                chars=unknown,
            )
        return mapped

    @staticmethod
    def _form(text: str, form: int | None) -> int:
        """The form asked for, else the text's own (5 when it is neither)."""
        if form is None:
            n = sum(1 for ch in text if HAN_LINE.match(ch))
            form = next((f for f in FORMS if n == LINES * f), 5)
        return _loaded(form)

    def _end(self, end: str | list[float], form: int) -> str:
        """A blend's end: a typed poem as read, or the table's poem nearest a latent."""
        if isinstance(end, str):
            return self._parse(end, form)
        return min(POEMS[form], key=lambda p: sum((x - y) ** 2 for x, y in zip(latent_of(p), end)))

    # -- writing -------------------------------------------------------------------------
    def _written(self, form: int, seed: int, words: list[str], heads: str) -> str:
        """The seed's poem of the table, with the subject's words at the start of lines (or the
        acrostic's heads), the characters they would repeat written anew."""
        rng = random.Random(f"sample:{form}:{seed}")
        chars = list(POEMS[form][seed % len(POEMS[form])])
        forced: set[int] = set()
        first = rng.randrange(LINES)
        for j, word in enumerate(words):  # one word a line
            at = ((first + j) % LINES) * form
            chars[at : at + len(word)] = word
            forced |= set(range(at, at + len(word)))
        for line, head in enumerate(heads):
            chars[line * form] = head
            forced.add(line * form)
        return self._no_repeats("".join(chars), rng, forced)

    @staticmethod
    def _other(text: str, rng: random.Random) -> str:
        """A character of the vocabulary that `text` does not hold."""
        return rng.choice([ch for ch in VOCABULARY if ch not in text])

    def _no_repeats(self, text: str, rng: random.Random, forced: set[int] = frozenset()) -> str:
        """`text` with each character it repeats written anew where it was not asked for."""
        chars = list(text)
        for i, ch in enumerate(chars):
            if i not in forced and any(c == ch and (j in forced or j < i) for j, c in enumerate(chars) if j != i):
                chars[i] = self._other("".join(chars), rng)
        return "".join(chars)

    @staticmethod
    def _poem(text: str, form: int, seed: int | None) -> WrittenPoem:
        return WrittenPoem(text=text, form=form, seed=seed, latent=latent_of(text))
