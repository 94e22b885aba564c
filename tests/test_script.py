"""Simplified input becomes the model's traditional characters by the word, not one
character at a time (白发 is 白髮, hair, not 白發, to send out)."""

from __future__ import annotations

import pytest

from model.checkpoint import shipped
from model.generate import InputError, PoemGenerator


@pytest.fixture(scope="module")
def gen():
    return PoemGenerator.from_path(shipped(5))


@pytest.mark.parametrize(
    "typed, meant",
    [("白发", "白髮"), ("钟声", "鐘聲"), ("余晖", "餘暉"), ("头发", "頭髮"), ("白髮", "白髮"), ("月", "月")],
)
def test_a_simplified_subject_is_converted_by_the_word(gen, typed, meant):
    assert gen.requests.characters(typed, "subject") == [gen.vocab.index[ch] for ch in meant]


def test_a_subject_poem_holds_the_word_it_was_asked_for_in_traditional_script(gen):
    poem = gen.sample_seeds([3], subject=["白发"])[0]
    assert "白髮" in poem.text and "白發" not in poem.text


def test_text_the_vocabulary_knows_whole_is_never_converted(gen):
    # s2t alone would turn this classical 余 (I) into 餘 (left over)
    poem = "余亦謝明主今稱偃草臣客至誰相問山中一老人"
    assert gen.parse(poem) == poem
    assert gen.parse("白发三千丈，缘愁似个长。不知明镜里，何处得秋霜。")[:5] == "白髮三千丈"


def test_a_subject_that_is_not_chinese_says_so_plainly(gen):
    with pytest.raises(InputError, match="must be written in Chinese characters, and 'm' is not"):
        gen.requests.characters("m月", "subject")
