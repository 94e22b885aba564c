"""Every answer in the reader's language (issue 31 item 16, issue 34 "Language"): one
catalogue of messages (bot/i18n.py, bot/locale/*.po) with a zh-TW and a zh-CN text for each,
the model's refusals worded from their codes, mainland terms for zh-CN, and poems in
simplified characters that every font can show."""

from __future__ import annotations

import re

import opencc
import pytest

from bot import catalogue
from bot.i18n import LANGUAGES, fields, render, t, tn
from bot.replies import refusal
from bot.worker_client import WorkerBadRequest
from model.contract import REFUSALS, InputError, version
from model.text import simplified
from tests.fake_worker import FakeWorker
from tests.test_fake_worker import BAD


def _translations(language: str) -> dict:
    """(context, msgid) -> (msgid, plural msgid or None, translation) of `language`'s catalogue."""
    out = {}
    for m in catalogue.read(language):
        if m.id:
            msgid, plural = (m.id[0], m.id[1]) if isinstance(m.id, tuple) else (m.id, None)
            out[(m.context, msgid)] = (msgid, plural, catalogue._text(m))
    return out


# -- the catalogue -----------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["zh-TW", "zh-CN"])
def test_every_message_of_the_code_has_a_translation_with_the_same_values(language):
    wanted = catalogue.code_messages()
    have = _translations(language)
    assert not set(wanted) - set(have), f"not in the {language} catalogue: run `python -m bot.catalogue`"
    assert not set(have) - set(wanted), f"no longer in the code: run `python -m bot.catalogue` ({language})"
    for key, (msgid, plural, text) in have.items():
        assert text, f"{language} has no translation of {msgid!r}"
        assert fields(text) == fields(msgid), (language, msgid, text)
        if plural is not None:
            assert fields(plural) == fields(msgid), plural


def test_the_catalogue_files_are_as_the_tool_writes_them():
    assert catalogue.main(["--check"]) == 0, "run `python -m bot.catalogue`"


def test_zh_cn_is_in_simplified_characters_and_mainland_terms_and_zh_tw_in_traditional():
    t2s = opencc.OpenCC("t2s")
    for language, wrong in (
        ("zh-CN", ("伺服器", "伺服器", "私讯", "私訊", "沿著", "贝氏", "貝氏", "潜向量", "潛向量", "进程")),
        ("zh-TW", ("简体", "贝氏", "貝氏", "潜向量", "潛向量", "5言", "7言絕句")),
    ):
        for msgid, _, text in _translations(language).values():
            prose = re.sub(r"`[^`]*`", "", text)  # (commands may be typed in either script)
            prose = "".join(ch for ch in prose if ch not in msgid)  # (nor what the English quotes: 詩)
            assert not [w for w in wrong if w in prose], (language, text)
            if language == "zh-CN":
                assert t2s.convert(prose) == prose, f"traditional characters in {text!r}"
    for language in ("zh-TW", "zh-CN"):
        help_blend = next(
            text
            for (context, msgid), (_, _, text) in _translations(language).items()
            if context == "help" and msgid.startswith("Walk")
        )
        assert "融合走" not in help_blend and "潛空間" not in help_blend and "潜空间" not in help_blend


def test_a_message_is_worded_when_it_is_sent_and_its_english_is_the_code_s():
    typed = t("You wrote “{typed}”.", typed="abc")
    assert str(typed) == "You wrote “abc”."
    assert render(typed, "zh-TW") == "你寫的是「abc」。" and render(typed, "zh-CN") == "你写的是「abc」。"
    both = t("You have no favourites yet.") + typed
    assert str(both) == "You have no favourites yet. You wrote “abc”."
    assert render(both, "zh-TW") == "你還沒有收藏。你寫的是「abc」。", "Chinese sentences meet without a space"
    one, two = (
        tn(
            "You need {n} favourite for that and have {have}.",
            "You need {n} favourites for that and have {have}.",
            n,
            have=0,
        )
        for n in (1, 2)
    )
    assert (str(one), str(two)) == (
        "You need 1 favourite for that and have 0.",
        "You need 2 favourites for that and have 0.",
    )
    assert render(two, "zh-TW") == "這要 2 首收藏，你有 0 首。"
    nested = t("I cannot write that poem: {why}", why=t("the poem is empty"))
    assert render(nested, "zh-CN") == "这首诗写不出来：这首诗是空的。", "a value that is a message is worded too"
    assert render("床前明月光", "zh-CN") == "床前明月光", "what is not a message (a poem) is never converted"
    assert set(LANGUAGES) == {"en", "zh-TW", "zh-CN"}


# -- the model's refusals: codes the bot words -------------------------------------------------
SAMPLES = {  # a code's parameters as a worker sends them
    "invalid_request": {},
    "form_not_loaded": {"forms": [5]},
    "subject_and_acrostic": {},
    "subject_words": {"max": 3},
    "subject_word_length": {"max": 4, "word": "一二三四五"},
    "not_chinese": {"field": "subject", "text": "m月", "found": ["m"]},
    "unknown_characters": {"field": "acrostic", "text": "𠀀花秋月", "chars": ["𠀀"]},
    "empty": {"field": "subject", "text": ""},
    "subject_repeats": {},
    "subject_too_long": {"form": 5},
    "subject_word_too_long": {"form": 5},
    "subject_does_not_fit": {"form": 7},
    "acrostic_length": {"lines": 4},
    "acrostic_repeats": {},
    "poem_empty": {},
    "poem_too_long": {},
    "poem_not_chinese": {"found": ["h", "e"], "more": 0},
    "poem_length": {"form": 5, "lines": 4, "expected": 20, "got": 5},
    "poem_lines": {"form": 5, "lengths": [5, 4]},
    "poem_unknown_characters": {"chars": ["𠀀"]},
    "line_range": {"lines": 4},
    "no_rewrite": {"line": 2},
}


def test_every_refusal_code_is_worded_in_each_language():
    assert set(SAMPLES) == set(REFUSALS)
    fallback = str(refusal("no such code", {}))
    for code, params in SAMPLES.items():
        assert set(params) == REFUSALS[code], code
        words = refusal(code, params)
        assert str(words) != fallback or code == "invalid_request", code
        for language in ("zh-TW", "zh-CN"):
            assert not ENGLISH.search(_prose(render(words, language))), (code, render(words, language))


@pytest.mark.parametrize("method, req", BAD)
async def test_the_bot_words_a_refusal_in_english_as_the_model_does(method, req):
    """The bot's English for a refusal (from its code) is the model's own message."""
    with pytest.raises(WorkerBadRequest) as refused:
        await getattr(FakeWorker(), method)(req)
    error = refused.value
    if error.code != "invalid_request":  # (a request's shape: API callers read the message)
        assert str(refusal(error.code, error.params)) == str(error)


def test_a_refusal_crosses_http_with_its_code_and_a_foreign_one_does_not():
    sent = InputError(
        "the model does not know the character 𠀀 (the acrostic)",
        "unknown_characters",
        field="acrostic",
        text="𠀀花秋月",
        chars=["𠀀"],
    )
    got = InputError.from_json(sent.to_json())
    assert (str(got), got.code, got.params) == (str(sent), sent.code, sent.params)
    assert InputError.from_json({**sent.to_json(), "contract": "0.0.0"}) is None, "another contract's 400 is not ours"
    odd = InputError.from_json({"error": "bad_request", "message": "n must be", "contract": version(), "code": "what"})
    assert (odd.code, odd.params, str(odd)) == ("invalid_request", {}, "n must be")
    with pytest.raises(ValueError):
        InputError("a typo'd code", "unknown_character", chars=["x"])


# -- poems in simplified characters ------------------------------------------------------------
def test_a_simplified_poem_keeps_a_traditional_character_that_t2s_would_put_outside_the_bmp():
    assert opencc.OpenCC("t2s").convert("巘鑪") == "\U0002aa58\U0002cb3b"  # (what plain t2s gives)
    assert simplified("巘鑪風月") == "巘鑪风月"
    assert all(ord(ch) <= 0xFFFF for ch in simplified("層巘鑪煙白髮"))
    assert simplified("𠀀月") == "𠀀月", "a character already outside the BMP stays as it is"


# -- replies in the local Discord: no English sentence in a zh reply ---------------------------
# two or more English words in a row (`!poem` commands, #ids and code spans are taken out first)
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:'’-]+[A-Za-z]{2,})+\b")


def _prose(text: str) -> str:
    """A reply without what may stay in English: code spans, commands, ids, model versions."""
    text = re.sub(r"`[^`\n]*`", " ", text.replace("```", "\n"))  # (a help page is a code block: its prose counts)
    text = re.sub(r"[!/][a-z]+(?: [a-z]+)?", " ", text)  # !poem, /help command
    return re.sub(r"\b(?:fake-\d+|simplified|traditional|on|off)\b", " ", text)


def _texts(sent) -> list[str]:
    """Everything a reader reads in what the bot sent: its content, each embed's title, fields
    and footer, each button's label, each menu's placeholder and options."""
    texts = [sent.content]
    for embed in sent.embeds:
        texts += [embed.get("title", ""), embed.get("footer", {}).get("text", "")]
        texts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    for row in sent.components:
        for item in row.get("components", []):
            texts += [item.get("label", ""), item.get("placeholder", "")]
            texts += [o.get("label", "") + " " + o.get("description", "") for o in item.get("options", [])]
    return [text for text in texts if text]


def _english(sent_list) -> list[str]:
    return [text for sent in sent_list for text in _texts(sent) if ENGLISH.search(_prose(text))]


TYPED = [  # (user, what they type), in a Chinese server: every command, its mistakes, the model's refusals
    (1, "!poem 42"),
    (1, "!poem 月 3"),
    (1, "!poem 藏頭 春花秋月 5"),
    (1, "!poem 藏頭 春 花 秋 42"),
    (1, "!poem 𠀀"),
    (1, "!poem moon"),
    (1, "!poem 99999999999999999999"),
    (1, "!poem 42 6"),
    (1, "!poem 秋 雁 月 風"),
    (1, "!rewrite 1 2"),
    (1, "!rewrite 1 9"),
    (1, "!vary 1"),
    (1, "!vary 99"),
    (1, "!fav 1"),
    (1, "!fav 1"),
    (1, "!unfav 3"),
    (1, "!fav 2"),
    (1, "!favs"),
    (3, "!favs"),
    (3, "!poem fav"),
    (1, "!poem fav 7言"),
    (1, "!poem fav 9"),
    (1, "!blend 1 2 4"),
    (1, "!blend 1"),
    (1, "!blend 1 2 50"),
    (1, "!blend hello world"),
    (1, "!rate 1 5"),
    (1, "!rate 1 9"),
    (1, "!rate"),
    (1, "!rate abc 3"),
    (1, "!show 1"),
    (1, "!show 999"),
    (1, "!top"),
    (3, "!top 0"),
    (1, "!script klingon"),
    (1, "!cards maybe"),
    (1, "!cards off"),
    (1, "!cards on"),
    (2, "!sync"),
    (1, "!help"),
    (1, "!help poem"),
    (1, "!help blend"),
    (1, "!help Poems"),
    (1, "!help nothing"),
    (1, "!script traditional"),
    (1, "!script simplified"),
    (4, "!forgetme"),
]


@pytest.mark.parametrize("locale", ["zh-TW", "zh-CN"])
async def test_a_chinese_reader_reads_no_english_sentence_in_any_reply(sqlite_url, locale):
    """Typed commands in a zh-TW (zh-CN) server, slash commands, buttons and menus from a zh-TW
    (zh-CN) client: no reply, embed, footer, button or menu holds two English words in a row
    (commands, ids and code spans aside)."""
    from tests.helpers import running_bot

    async with running_bot(sqlite_url, FakeWorker(), locale=locale) as local:
        sent = []
        for user, typed in TYPED:
            replies = await local.say(typed, user_id=user)
            assert replies, typed
            sent += replies
        poem = next(s for s in sent if s.embeds and s.custom_ids and s.custom_ids[0].startswith("poem:rate:1:"))
        blend = next(s for s in sent if s.custom_ids == ["poem:steps"])
        forget = next(s for s in sent if any(c.startswith("forget:") for c in s.custom_ids))
        press = {"locale": locale}
        for custom_id in poem.custom_ids[:-1]:  # stars, ♥, ✎, ↻
            sent += await local.click(poem.message, custom_id, **press)
        sent += await local.choose(poem.message, "poem:rewrite:1", ["3"], **press)
        sent += await local.choose(
            blend.message, "poem:steps", [blend.components[0]["components"][0]["options"][1]["value"]], **press
        )
        sent += await local.click(forget.message, forget.custom_ids[0], user_id=5, **press)
        for name, options in (
            ("help", {}),
            ("help", {"command": "blend"}),
            ("help", {"command": "nothing"}),
            ("poem", {"seed": "3", "subject": "雁"}),
            ("poem", {"acrostic": "春花"}),
            ("show", {"poem_id": "1"}),
            ("rate", {"poem_id": "999", "stars": "5"}),
            ("top", {"n": 3}),
        ):
            sent += await local.slash(name, options, user_id=6, locale=locale)
        sent += await local.click(forget.message, forget.custom_ids[0], user_id=4, **press)
        assert not _english(sent), _english(sent)
        chinese = "".join(text for s in sent for text in _texts(s))
        assert ("五言絕句" if locale == "zh-TW" else "五言绝句") in chinese
        assert ("題目 月，種子 3" if locale == "zh-TW" else "题目 月，种子 3") in chinese, "the subject's footer"
        assert "模型不認得的字：𠀀" in chinese if locale == "zh-TW" else "模型不认得的字：𠀀" in chinese
        assert ("重寫第 2 句" if locale == "zh-TW" else "重写第 2 句") in chinese, "the rewrite's footer"


@pytest.mark.parametrize("locale", ["zh-TW", "zh-CN"])
async def test_busy_workers_and_cooldowns_are_said_in_the_readers_language(sqlite_url, locale):
    from tests.helpers import running_bot

    async with running_bot(sqlite_url, FakeWorker(), locale=locale, poem_cooldown_s=60) as local:
        (written,) = await local.say("!poem 1")
        (wait,) = await local.say("!poem 2")
        local.bot.service.settings.max_in_flight = 0
        busy = await local.slash("poem", {"seed": "3"}, user_id=2, locale=locale)
    assert written.embeds and not _english([wait, *busy]), _english([wait, *busy])
    assert wait.text().startswith("詩人別急" if locale == "zh-TW" else "诗人别急")


async def test_the_console_chats_in_the_language_it_is_given(sqlite_url):
    """`python -m bot --console --locale zh-TW`: its server's language and its user's client's,
    typed commands, slash commands and buttons pressed by number alike."""
    import asyncio
    import io

    from bot import console
    from bot.__main__ import main
    from tests.helpers import running_bot

    async with running_bot(sqlite_url, FakeWorker(), locale=console.LOCALES["zh-TW"]) as local:
        lines: asyncio.Queue = asyncio.Queue()
        for line in ("!poem 42", "6", "/poem seed:7", "99", "/top n:x", None):
            lines.put_nowait(line)
        out = io.StringIO()
        await console._chat(local, lines, out)
    said = out.getvalue()
    assert "第 1 號詩" in said and "[6 ♥ 收藏]" in said and "（輸入編號來按）" in said
    assert "第 1 號詩已收進你的收藏" in said and "沒有第 99 個按鈕" in said and "n 要接一個整數" in said
    assert not ENGLISH.search(_prose(said)), said
    with pytest.raises(SystemExit):
        main(["--locale", "fr"])
