"""Words in the reader's language: English, 繁體中文 (zh-TW) and 简体中文 (zh-CN).

Every text a reader reads (replies, embeds and their footers, buttons, menus, help pages,
slash-command descriptions) is a message of one catalogue, gettext's. A message's id is its
English source (`msgid`, with `{name}` where a value goes, and a `msgctxt` where one English
text is said two ways); bot/locale/<zh_TW|zh_CN>/LC_MESSAGES/poembot.po hold each id's
translation beside it, with plural forms. They are read with Babel when first needed, so no
compile step and no tool but Babel is needed at run time; English needs no file.

Code writes a message as `t("Poem #{id}", id=12)` (`tn` with a plural, `tc` with a context)
and gets a `Text`, worded only when it is sent (`render`, in the language of LANGUAGE): an
error raised deep in the service is worded for whoever reads it. `str(text)` is the English,
for logs. A value is put in as it is (a poem, what a user typed) unless it is a Text itself.
`N_` marks a message kept as its English id (a slash-command description, which discord.py
holds) for the catalogue, looked up when it is worded.

zh_CN.po is a translation of its own, in mainland terms (服务器, 私信): its messages were
first made from zh_TW.po with OpenCC's tw2sp (`python -m bot.i18n`, which also adds the
messages new in the code to both files) and corrected by hand. tests/test_language.py fails
while a message of the code has no translation.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
import string
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

# the reader's language for the command or press being handled: "en", "zh-TW" or "zh-CN"
LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("reply_language", default="en")
LANGUAGES = ("en", "zh-TW", "zh-CN")
CATALOGUES = {"zh-TW": "zh_TW", "zh-CN": "zh_CN"}  # language -> its catalogue under bot/locale
DOMAIN = "poembot"


def language_for(locale: str | None) -> str:
    """A Discord locale's reply language: zh-TW and zh-HK read 繁體, zh-CN and zh-SG 简体,
    the rest English."""
    if locale in ("zh-TW", "zh-HK"):
        return "zh-TW"
    if locale in ("zh-CN", "zh-SG"):
        return "zh-CN"
    return "en"


def reader_language(origin) -> str:
    """The one place that decides the language of whoever a command or press is answered for
    (`origin`: a commands.Context or a discord.Interaction): an interaction (a slash command, a
    button, a menu) reads its client's language; a typed command its server's preferred
    language (only Community servers set one), English in direct messages. A reader's stored
    choice, when there is one, comes first here."""
    interaction = origin if hasattr(origin, "locale") else getattr(origin, "interaction", None)
    if interaction is not None:
        locale = interaction.locale
    else:
        guild = getattr(origin, "guild", None)
        locale = guild.preferred_locale if guild is not None else None
    return language_for(str(locale) if locale else None)


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    """`language`'s catalogue, read from its .po file with Babel (and compiled in memory)."""
    if language not in CATALOGUES:
        return gettext.NullTranslations()  # English: a message's id is its English
    po = resources.files("bot") / "locale" / CATALOGUES[language] / "LC_MESSAGES" / f"{DOMAIN}.po"
    catalogue = read_po(io.StringIO(po.read_text(encoding="utf-8")), locale=CATALOGUES[language], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)  # (fuzzy entries are left out: their English is shown)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Text:
    """Words for a reader: a catalogue message and the values that fill it in, worded in a
    language when sent (`render`). `str()` is the English."""

    __slots__ = ("msgid", "values", "plural", "n", "context")

    def __init__(self, msgid: str, values: dict, plural: str | None = None, n: int = 1, context: str | None = None):
        self.msgid, self.values, self.plural, self.n, self.context = msgid, values, plural, n, context

    def template(self, language: str) -> str:
        """The message in `language`, its values not yet filled in."""
        tr = _translations(language)
        if self.plural is None:
            return tr.pgettext(self.context, self.msgid) if self.context else tr.gettext(self.msgid)
        if self.context:
            return tr.npgettext(self.context, self.msgid, self.plural, self.n)
        return tr.ngettext(self.msgid, self.plural, self.n)

    def render(self, language: str) -> str:
        values = {k: v.render(language) if isinstance(v, (Text, Sentences)) else v for k, v in self.values.items()}
        return self.template(language).format_map(values)

    def filled(self, **values) -> Text:
        """This message with more values."""
        return Text(self.msgid, {**self.values, **values}, self.plural, self.n, self.context)

    def __add__(self, other: Text | Sentences | None) -> Sentences:
        return Sentences(self, other)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Text({str(self)!r})"


class Sentences:
    """Messages one after another: with a space between them in English, none in Chinese."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Text | Sentences | None):
        self.parts = [p for p in parts if p is not None]

    def render(self, language: str) -> str:
        return ("" if language.startswith("zh") else " ").join(p.render(language) for p in self.parts)

    def __add__(self, other: Text | Sentences | None) -> Sentences:
        return Sentences(*self.parts, other)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Sentences({str(self)!r})"


Words = Text | Sentences  # what a reply may hold: words from the catalogue


def t(msgid: str, /, **values) -> Text:
    """A catalogue message (its English, with `{name}` for each value)."""
    return Text(msgid, values)


def tn(singular: str, plural: str, n: int, /, **values) -> Text:
    """A message whose wording follows a number, `n` (also its value `{n}` unless given)."""
    return Text(singular, {"n": n, **values}, plural, n)


def tc(context: str, msgid: str, /, **values) -> Text:
    """A message in a context: one English said apart from the same English elsewhere."""
    return Text(msgid, values, context=context)


def N_(msgid: str) -> str:
    """Mark `msgid` (kept as an English string, where discord.py wants one) for the catalogue."""
    return msgid


def render(text: Words | str | None, language: str | None = None) -> str | None:
    """Words in `language` (default: the reader's, LANGUAGE); a plain string as it is."""
    if isinstance(text, (Text, Sentences)):
        return text.render(language or LANGUAGE.get())
    return text


def fields(template: str) -> list[str]:
    """The `{name:spec}` fields of a message, in order (a translation must have the same)."""
    return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(template) if name is not None)


# -- until the cogs word with Text: the sentence patterns they are translated by -------------
import re  # noqa: E402

import opencc  # noqa: E402

CATALOGUE: dict[str, str] = {
    # poems, ratings, favourites
    "Poem #{id:d}": "第 {id} 號詩",
    "{origin} · {form:d}-character quatrain · {model}": "{origin} · {form}言絕句 · {model}",
    "seed {seed:d}": "種子 {seed}",
    "There is no poem #{id:d}.": "沒有第 {id} 號詩。",
    "Poem #{id:d} is already one of your favourites.": "第 {id} 號詩已在你的收藏裡。",
    "Poem #{id:d} is not one of your favourites.": "第 {id} 號詩不在你的收藏裡。",
    "Poem #{id:d} is now one of your favourites.": "第 {id} 號詩已收進你的收藏。",
    "Poem #{id:d} is no longer one of your favourites.": "第 {id} 號詩已從你的收藏移除。",
    "Poem #{id:d} was deleted by its owner just now.": "第 {id} 號詩剛被作者刪除了。",
    "You gave poem #{id:d} {stars:d}★.": "你給第 {id} 號詩 {stars}★。",
    "It now has {n:d} rating(s), {mean}★ on average.": "它現在有 {n} 個評分，平均 {mean}★。",
    "rating": "評分",
    "{mean}★ from {n:d} rating(s)": "{n} 個評分，平均 {mean}★",
    "A rating is 1 to 5 stars.": "評分是一到五顆星。",
    "You have no favourites yet.": "你還沒有收藏。",
    "Press ♥ under a poem or type `!fav <id>`.": "按詩下方的 ♥，或輸入 `!fav <id>`。",
    "Press ♥ under a poem you like (or type `!fav <id>`), then `!poem fav` writes new poems between your "
    "favourites.": "在喜歡的詩下方按 ♥（或輸入 `!fav <id>`），之後 `!poem fav` 會在你的收藏之間寫新詩。",
    "Your favourites": "你的收藏",
    "newest {n:d} of {total:d}": "最新的 {n} 首，共 {total} 首",
    "No poem here has a rating yet.": "這裡還沒有詩被評分。",
    "Rate one with the stars under it or `!rate <id> <1-5>`.": "用詩下方的星星或 `!rate <id> <1-5>` 評一首。",
    "Best poems here": "本伺服器的佳作",
    "Your best poems in direct messages": "你在私訊裡的佳作",
    "{place:d}. #{id:d} · {mean}★ from {n:d} rating(s) · score {score}": "{place}. #{id} · {n} 個評分平均 {mean}★ · 分數 {score}",
    # blends
    "Blend: {n:d} steps from #{a:d} to #{b:d}": "融合：從 #{a} 到 #{b}，共 {n} 步",
    "#{id:d} · step {i:d}/{n:d}": "#{id} · 第 {i}/{n} 步",
    "Bold: what each step changed.": "粗體：每一步改動的字。",
    "Pick one below to rate or keep it.": "從下方選一首來評分或收藏。",
    "A blend takes {a:d} to {b:d} steps.": "融合走 {a} 到 {b} 步。",
    "Blend two poems: `!blend <a> <b>`, or `!blend` alone for your two newest favourites.": (
        "融合兩首詩：`!blend <a> <b>`；只打 `!blend` 則融合你最新收藏的兩首。"
    ),
    "Both poems must have the same form (5 or 7 characters a line).": "兩首詩必須同一詩體（每句 5 或 7 字）。",
    # what a user typed
    "A seed is a whole number from 0 to {max:d}.": "種子是 0 到 {max} 之間的整數。",
    "The form is 5 or 7 (characters a line).": "詩體是 5 或 7（每句的字數）。",
    "A poem id looks like 12 or #12.": "詩的編號像 12 或 #12。",
    "You wrote “{typed}”.": "你寫的是「{typed}」。",
    "“{typed}” holds invisible characters ({which}).": "「{typed}」含有看不見的字元（{which}）。",
    "A quatrain's lines are numbered 1 to 4.": "絕句的句子編號是 1 到 4。",
    "The leaderboard shows 1 to {n:d} poems.": "排行榜顯示 1 到 {n} 首詩。",
    "The script is simplified or traditional.": "字體可選 simplified（简体）或 traditional（繁體）。",
    "Cards are on or off.": "詩卡可選 on（開）或 off（關）。",
    "`!poem` takes a seed, a form and a subject, like `!poem 月 7言 42`; see `!help poem`.": (
        "`!poem` 可接種子、詩體和題目，例如 `!poem 月 7言 42`；請看 `!help poem`。"
    ),
    "A subject is up to 3 words of 1 to 4 characters, like `!poem 秋 雁`.": (
        "題目最多 3 個詞，每詞 1 到 4 字，例如 `!poem 秋 雁`。"
    ),
    "A poem takes a subject or an acrostic (藏頭), not both.": "一首詩可以有題目或藏頭，不能兩者都要。",
    "A subject is 1 to 3 words in Chinese characters, like `!poem 月` or `!poem 秋 雁`.": (
        "題目是 1 到 3 個以漢字寫的詞，例如 `!poem 月` 或 `!poem 秋 雁`。"
    ),
    "“{typed}” has no Chinese characters.": "「{typed}」裡沒有漢字。",
    "“{typed}” holds combining marks ({which}).": "「{typed}」含有組合附加符號（{which}）。",
    "“{typed}” holds characters that are not Chinese: {which}.": "「{typed}」含有不是漢字的字元：{which}。",
    "“{typed}” has {n:d} characters.": "「{typed}」有 {n} 個字。",
    "You gave {n:d} words.": "你給了 {n} 個詞。",
    "An acrostic (藏頭) is four Chinese characters, one to start each line, like 春花秋月; you wrote {typed}.": (
        "藏頭是四個漢字，各放在一句的開頭，例如 春花秋月；你寫的是「{typed}」。"
    ),
    "None of your favourites here is a {form:d}-character poem.": "你在這裡的收藏裡沒有{form}言詩。",
    "`!poem fav` without a form writes between the ones you have.": (
        "不指定詩體的 `!poem fav` 會在你現有的收藏之間寫詩。"
    ),
    "`!poem fav` writes between your favourites; it takes no subject or acrostic.": (
        "`!poem fav` 在你的收藏之間寫詩；不接題目或藏頭。"
    ),
    "藏頭 takes the four characters that start the lines: `!poem 藏頭 春花秋月`.": (
        "藏頭要四個字，各放在一句的開頭：`!poem 藏頭 春花秋月`。"
    ),
    "I cannot write that poem: {why}": "這首詩寫不出來：{why}",
    "Line {n:d} of poem #{id:d} cannot be rewritten: {why}": "第 {id} 號詩的第 {n} 句無法重寫：{why}",
    "Poem #{id:d} cannot be varied: {why}": "第 {id} 號詩無法變化：{why}",
    "That is not a poem I can blend: {why}": "這不是我能融合的詩：{why}",
    "Your favourites #{a:d} and #{b:d} cannot be blended: {why}": "你的收藏 #{a} 與 #{b} 無法融合：{why}",
    # settings
    "Poems will be shown to you in simplified characters.": "之後的詩會以简体字顯示給你。",
    "Poems will be shown to you in traditional characters.": "之後的詩會以繁體字顯示給你。",
    "Your poems will come with a card.": "你要的詩會附上詩卡。",
    "Your poems will come as text alone.": "你要的詩只以文字呈現。",
    # !forgetme
    "This deletes every poem you asked for, every rating and favourite you gave, and your settings.": (
        "這會刪除你要過的每一首詩、你給的每個評分與收藏，以及你的設定。"
    ),
    "Your poems also carry {r:d} rating(s) and {f:d} favourite(s) from other people; they go with the poems.": (
        "你的詩上還有別人給的 {r} 個評分和 {f} 個收藏，會隨詩一起刪除。"
    ),
    "It cannot be undone.": "刪除後無法復原。",
    "To go ahead, press the button (or type `!forgetme confirm`).": "要繼續，請按下按鈕（或輸入 `!forgetme confirm`）。",
    "Done: deleted {p:d} poem(s), {r:d} rating(s) and {f:d} favourite(s).": (
        "完成：刪除了 {p} 首詩、{r} 個評分和 {f} 個收藏。"
    ),
    "Only the person who asked can confirm this.": "只有提出要求的人才能確認。",
    "Your `!forgetme` came while this was being written, so it was not saved.": (
        "這首詩還在寫的時候，你要求了 `!forgetme`，所以它沒有存下。"
    ),
    # waiting, errors
    "Easy, poet: you can write a poem again in {s:d} s.": "詩人別急：{s} 秒後才能再寫一首。",
    "Easy, poet: you can blend again in {s:d} s.": "詩人別急：{s} 秒後才能再融合。",
    "I'm busy writing other poems; try again in {s:d} s.": "我正忙著寫別的詩；請 {s} 秒後再試。",
    "The poem worker is not answering right now.": "寫詩的程序現在沒有回應。",
    "Please try again in a minute.": "請一分鐘後再試。",
    "Sorry, something went wrong on my side.": "抱歉，我這邊出了錯。",
    "It has been logged; please try again.": "已記錄下來；請再試一次。",
    "Only the bot's owner can do that.": "只有機器人的擁有者能這麼做。",
    "Something is missing: `{p}`.": "少了一樣：`{p}`。",
    "See `!help`.": "請看 `!help`。",
    "`{p}` must be from {a} to {b} (not {v}).": "`{p}` 必須在 {a} 到 {b} 之間（不是 {v}）。",
    "That number must be from {a} to {b} (not {v}).": "這個數字必須在 {a} 到 {b} 之間（不是 {v}）。",
    "I could not read that: numbers must be whole numbers.": "我讀不懂：數字必須是整數。",
    "I could not read that command.": "我讀不懂這個指令。",
    "There is no command called “{name}”.": "沒有叫「{name}」的指令。",
    "Type `!help` for the list.": "輸入 `!help` 看清單。",
    "That cannot be done with the poems saved here.": "這裡存下的詩做不到這件事。",
    "Poems:": "詩：",
    "Other:": "其他：",
    "Arguments:": "參數：",
    "Type {p}help command for more info on a command.": "輸入 {p}help 指令名稱，看一個指令的說明。",
    "You can also type {p}help category for more info on a category.": "也可以輸入 {p}help 類別名稱（如 Poems），看一個類別。",
}


def _pattern(template: str) -> re.Pattern:
    """A catalogue entry's English as a regular expression over a whole sentence."""
    out, at = [], 0
    for m in re.finditer(r"\{(\w+)(:d)?\}|\(s\)", template):
        out.append(re.escape(template[at : m.start()]))
        if m.group(0) == "(s)":
            out.append("s?")
        else:
            out.append(f"(?P<{m.group(1)}>-?[0-9]+)" if m.group(2) else f"(?P<{m.group(1)}>.+?)")
        at = m.end()
    out.append(re.escape(template[at:]))
    return re.compile("".join(out), re.S)


@functools.cache
def _compiled(language: str) -> list[tuple[re.Pattern, str]]:
    """The catalogue for `language`: zh-CN's is zh-TW's in simplified characters (only the
    catalogue's words are converted, never a poem or what a user typed)."""
    convert = opencc.OpenCC("t2s").convert if language == "zh-CN" else str
    return [(_pattern(en), convert(zh)) for en, zh in CATALOGUE.items()]


# between two sentences: the space after . ! ? (or after a closing quote or bracket after one)
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[.!?][”)])\s+(?=\S)")


def _sentence(text: str, language: str) -> str:
    for pattern, zh in _compiled(language):
        if m := pattern.fullmatch(text):
            values = {k: v if v.lstrip("-").isdigit() else _sentence(v, language) for k, v in m.groupdict().items()}
            return zh.format(**values)
    return text


def _line(line: str, language: str) -> str:
    """A line whole if the catalogue holds it, else sentence by sentence (Chinese ones
    joined without a space, as Chinese is written)."""
    if (whole := _sentence(line, language)) != line:
        return whole
    out = ""
    for piece in SENTENCE.split(line):
        said = _sentence(piece, language)
        both_chinese = out and said != piece and out[-1] in "。！？）」"
        out += ("" if not out or both_chinese else " ") + said
    return out


def translate(text: str, language: str | None = None) -> str:
    """`text` in `language` (default: the reader's, LANGUAGE): each line, or each sentence of
    it, that the catalogue holds; the rest as it was."""
    language = language or LANGUAGE.get()
    if isinstance(text, (Text, Sentences)):
        return text.render(language)
    if language == "en" or not text:
        return text
    return "\n".join(_line(line, language) for line in text.split("\n"))


# each command's help (`!help poem`: the first line is also its line in `!help`'s list)
HELP = {
    "poem": (
        "從種子抽出的潛向量寫一首絕句；可指定題目，或寫成藏頭詩。\n\n"
        "例如：`!poem`（五言）、`!poem 7言`（七言）、`!poem 42` 或 `!poem #42`（種子 42）、"
        "`!poem 42 7言`、`!poem 月`（寫月、詩中有月）、`!poem 秋 雁 7言 #42`（最多 3 個詞，"
        "與種子、詩體順序不拘）、`!poem 藏頭 春花秋月`（每句以其中一字開頭）、"
        "`!poem fav`（在你的兩首收藏之間寫一首）、`!poem fav 42`（種子決定哪兩首、取在何處）。"
    ),
    "rewrite": (
        "把一首存下的詩重寫一句，其餘三句不變。例如：`!rewrite 12 3`。\n\n"
        "新的一句押同一韻，與前後句相合；重寫後存成一首新詩（每首詩下方的 ↺ 選單也可以）。"
    ),
    "vary": "一首存下的詩的變體：保留大半字句，改動幾個字。例如：`!vary 12`。",
    "blend": (
        "沿著模型的潛空間從詩甲走到詩乙，每一步由模型寫成。\n\n"
        "甲、乙是詩的編號（12 或 #12）或加引號的詩句；不給則融合你最新收藏的兩首。每一步是兩首詩"
        "潛向量之間路上的一點：靠近甲時保留甲的大半，中途寫出新句，靠近乙時成為乙。"
        "步數：{MIN_STEPS} 到 {MAX_STEPS}。例如：`!blend 12 15 5`。"
    ),
    "rate": "給一首詩評一到五顆星；再評一次會改掉舊的評分。例如：`!rate 12 5`。",
    "fav": "把一首詩收進你的收藏。例如：`!fav 12`。",
    "unfav": "把一首詩從你的收藏移除。例如：`!unfav 12`。",
    "favs": "列出你在這裡看得到的收藏詩，最新的在前（最新的 10 首；`!show <id>` 可看任一首）。",
    "top": "本伺服器評分最高的詩（貝氏平均，1 到 {MAX_TOP} 首）；在私訊裡，是你在私訊寫的最佳詩作。",
    "show": "顯示一首存下的詩，附評分與按鈕。例如：`!show 12`。",
    "script": "選擇以简体或繁體字顯示詩。例如：`!script simplified`。",
    "cards": "開啟或關閉你所要的詩下方的圖片（詩卡）。例如：`!cards off`。",
    "forgetme": (
        "刪除你的詩、評分與收藏。會先詢問：按下按鈕，或輸入 `!forgetme confirm`。\n\n"
        "別人從你的詩寫出的詩（重寫、變化、融合、收藏之間的詩）屬於他們，會留下，只是不再連到你的詩"
        "（重寫的詩保留你四句中的三句）。你還在寫的詩不會存下。"
    ),
    "help": "這個機器人能做什麼，怎麼使用。",
}


def command_help(name: str, english: str | None, language: str | None = None) -> str | None:
    """A command's help in the reader's language (`english` when it has no translation)."""
    language = language or LANGUAGE.get()
    text = HELP.get(name) if language != "en" else None
    if text is None:
        return english
    from .locales import chinese

    return chinese(text, language)
