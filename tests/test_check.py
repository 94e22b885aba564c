"""格律 (`model/metre.py`, `!check`): famous regulated quatrains read regular, poems with a known
fault are caught at the right line and character, and text that is not a quatrain is refused
with what is wrong with it. Torch-free: the Pingshui tables and OpenCC only."""

from __future__ import annotations

import pytest

from model import metre
from model.metre import END, KEY, LONE_LEVEL, RHYME, SAVED, SPECIAL, THREE_LEVEL, UNSTUCK, NotAQuatrain, check

# Tang quatrains that keep the regulated patterns (one of each start, rhymed first line or not)
REGULAR = {
    "王之渙《登鸛雀樓》": "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。",
    "杜牧《江南春》": "千里鶯啼綠映紅，水村山郭酒旗風。南朝四百八十寺，多少樓臺煙雨中。",
    "李白《早發白帝城》": "朝辭白帝彩雲間，千里江陵一日還。兩岸猿聲啼不住，輕舟已過萬重山。",
    "張繼《楓橋夜泊》": "月落烏啼霜滿天，江楓漁火對愁眠。姑蘇城外寒山寺，夜半鐘聲到客船。",
    "王維《相思》": "紅豆生南國，春來發幾枝。願君多采擷，此物最相思。",
    "孟浩然《宿建德江》": "移舟泊煙渚，日暮客愁新。野曠天低樹，江清月近人。",
}


@pytest.mark.parametrize("title", list(REGULAR))
def test_famous_regular_quatrains_read_regular(title):
    m = check(REGULAR[title])
    assert m.regular, (title, m.faults)
    assert m.rhyme is not None and not m.oblique_rhyme


def test_the_dengguanquelou_reading_line_by_line():
    m = check(REGULAR["王之渙《登鸛雀樓》"])
    assert (m.form, m.level_start, m.first_rhymes) == (5, False, False)  # 仄起，首句不入韻
    assert m.pattern == ("仄仄平平仄", "平平仄仄平", "平平平仄仄", "仄仄仄平平")
    assert m.tones[:3] == ("仄仄平平仄", "平平仄仄平", "仄平平仄仄")  # 欲 at a free position
    assert m.tones[3][0] == metre.EITHER  # 更 has both readings
    assert m.rhyme == "下平聲十一尤"  # 流、樓


def test_a_seven_character_quatrain_starting_level_with_its_first_line_on_the_rhyme():
    m = check(REGULAR["李白《早發白帝城》"])
    assert (m.form, m.level_start, m.first_rhymes, m.rhyme) == (7, True, True, "上平聲十五刪")
    assert m.pattern == ("平平仄仄仄平平", "仄仄平平仄仄平", "仄仄平平平仄仄", "平平仄仄仄平平")
    assert m.unknown == ("啼",) and m.tones[2][4] == metre.UNKNOWN  # not in the tables: not judged


def test_the_jiangnanchun_bend_is_made_good_by_the_next_line():
    """南朝四百八十寺: 十 is oblique where the pattern wants level, and 煙 (level, fifth
    character of the next line) makes it good: 拗救, accepted."""
    (bend,) = check(REGULAR["杜牧《江南春》"]).accepted
    assert (bend.kind, bend.line, bend.position, bend.chars, bend.by) == (SAVED, 3, 6, "十", (4, 5, "煙"))


def test_the_special_form_is_accepted():
    (bend,) = check(REGULAR["孟浩然《宿建德江》"]).accepted
    assert (bend.kind, bend.line, bend.chars) == (SPECIAL, 1, "移舟泊煙渚")  # 平平仄平仄


def test_simplified_input_reads_as_the_traditional():
    simplified = check("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
    traditional = check(REGULAR["王之渙《登鸛雀樓》"])
    assert simplified.lines[3] == "更上一层楼", "the lines are shown as typed"
    assert (simplified.tones, simplified.pattern, simplified.rhyme) == (
        traditional.tones,
        traditional.pattern,
        traditional.rhyme,
    )
    assert simplified.regular


def test_lone_level_is_caught():
    """黃河入海流 -> 白河入海流: 仄平仄仄平, one level character besides the foot."""
    (fault,) = check("白日依山盡，白河入海流。欲窮千里目，更上一層樓。").faults
    assert (fault.kind, fault.line, fault.position, fault.chars) == (LONE_LEVEL, 2, 2, "河")


def test_the_lone_level_mended_in_the_line_itself_is_regular():
    """仄平平仄平 (孤平拗救): the third character gives the line its second level character."""
    assert check("白日依山盡，白河山海流。欲窮千里目，更上一層樓。").regular


def test_three_level_at_the_end_is_caught():
    (fault,) = check("白日依山盡，黃河入海流。欲窮千里目，更上高層樓。").faults
    assert (fault.kind, fault.line, fault.position, fault.chars) == (THREE_LEVEL, 4, 3, "高層樓")


def test_a_foot_off_the_rhyme_is_caught_with_its_own_group():
    m = check("白日依山盡，黃河入海流。欲窮千里目，更上一層天。")
    (fault,) = m.faults
    assert (fault.kind, fault.line, fault.chars, fault.groups) == (RHYME, 4, "天", ("下平聲一先",))
    assert m.rhyme == "下平聲十一尤"


def test_a_wrong_tone_at_a_key_position_is_caught():
    (fault,) = check("白雲依山盡，黃河入海流。欲窮千里目，更上一層樓。").faults
    assert (fault.kind, fault.line, fault.position, fault.chars, fault.wants) == (KEY, 1, 2, "雲", metre.OBLIQUE)


def test_a_line_that_does_not_stick_is_one_fault():
    """王維《送元二使安西》: its third line starts level after a line that starts oblique
    (失粘, a known licence of the poem); each line keeps its own pattern."""
    m = check("渭城朝雨浥輕塵，客舍青青柳色新。勸君更盡一杯酒，西出陽關無故人。")
    (fault,) = m.faults
    assert (fault.kind, fault.line, fault.chars) == (UNSTUCK, 3, "君")


def test_a_line_ending_on_the_wrong_tone_is_caught():
    """欲窮千里目 -> 欲窮千里人: line 3 must end oblique."""
    faults = check("白日依山盡，黃河入海流。欲窮千里人，更上一層樓。").faults
    assert [(f.kind, f.line, f.chars, f.wants) for f in faults] == [(END, 3, "人", metre.OBLIQUE)]


def test_an_oblique_rhymed_quatrain_is_told_apart():
    m = check("千山鳥飛絕，萬徑人蹤滅。孤舟蓑笠翁，獨釣寒江雪。")  # 柳宗元《江雪》, 仄韻
    assert m.oblique_rhyme and not m.regular and m.rhyme is None


def test_the_four_patterns_of_each_form_are_the_textbooks():
    assert metre.patterns(5, False, True) == ["仄仄仄平平", "平平仄仄平", "平平平仄仄", "仄仄仄平平"]
    assert metre.patterns(5, True, False) == ["平平平仄仄", "仄仄仄平平", "仄仄平平仄", "平平仄仄平"]
    assert metre.patterns(7, False, False) == ["仄仄平平平仄仄", "平平仄仄仄平平", "平平仄仄平平仄", "仄仄平平仄仄平"]


@pytest.mark.parametrize(
    "text,count,lengths,others",
    [
        ("白日依山盡黃河入海流欲窮千里目", 15, (), ()),
        ("白日依山盡，黃河入海流。欲窮千里目，更上一層樓。又一句", 23, (5, 5, 5, 5, 3), ()),
        ("白日依山，盡黃河入海流。欲窮千里目，更上一層樓。", 20, (4, 6, 5, 5), ()),
        ("白日依山盡 黃河入海流 moon 欲窮千里目 更上一層樓", 20, (), ("m", "o", "n")),
        ("床前明月光」疑是地上霜", 10, (), ("」",)),
        ("", 0, (), ()),
    ],
)
def test_text_that_is_not_a_quatrain_is_refused_with_what_is_wrong(text, count, lengths, others):
    with pytest.raises(NotAQuatrain) as refused:
        check(text)
    assert (refused.value.count, refused.value.lengths, refused.value.others) == (count, lengths, others)


def test_lines_written_without_punctuation_or_with_spaces_and_newlines_read_alike():
    assert (
        check("白日依山盡黃河入海流欲窮千里目更上一層樓").lines
        == check("白日依山盡\n黃河入海流\n欲窮千里目\n更上一層樓").lines
        == check(" 白日依山盡，黃河入海流 / 欲窮千里目，更上一層樓 ").lines
    )
    assert check("白日依山盡黃河入海流，欲窮千里目更上一層樓").regular  # two lines to a part
