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
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"[!/][a-z]+(?: [a-z]+)?", " ", text)  # !poem, /help command
    return re.sub(r"\b(?:fake-\d+|simplified|traditional|on|off)\b", " ", text)
