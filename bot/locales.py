"""Chinese descriptions of the slash commands, for clients set to Chinese (Discord shows
a command's description in the client's language when it has one)."""

from __future__ import annotations

import functools

import discord
import opencc
from discord import app_commands

from .limits import with_limits

# in traditional characters; zh-CN gets them converted to simplified
DESCRIPTIONS = {
    "poem": "寫一首絕句，從種子抽出的潛向量寫成；可指定題目（月）或藏頭（春花秋月）",
    "vary": "一首存下的詩的變體：保留大半字句，改動幾個字",
    "rewrite": "把一首存下的詩的某一句重寫，其餘三句不變",
    "blend": "沿著模型的潛空間，從詩甲走到詩乙，每一步由模型寫成",
    "rate": "給一首詩評一到五顆星；再評一次會改掉舊的評分",
    "fav": "把一首詩收進你的收藏",
    "unfav": "把一首詩從你的收藏移除",
    "favs": "列出你在這裡看得到的收藏，最新的在前",
    "top": "本伺服器評分最高的詩（貝氏平均）",
    "show": "顯示一首存下的詩，附評分與按鈕",
    "script": "選擇以簡體或繁體字顯示詩",
    "cards": "開啟或關閉你所要的詩下方的圖片（詩卡）",
    "forgetme": "刪除你的詩、評分與收藏（先詢問，確認後才刪）",
    "help": "這個機器人能做什麼，怎麼使用",
}


# each option's description (the English is cogs.ARGUMENTS), and the choices' names
ARGUMENTS = {
    "seed": "同一種子寫出同一首詩：42 或 #42；或 fav，在你的收藏之間寫一首",
    "form": "每句字數：5 或 7（也可寫 7言、七言、form:7）",
    "subject": "詩的題目：1 到 3 個中文詞，例如 月 或 秋 雁",
    "acrostic": "藏頭：四個字，各放在一句的開頭，例如 春花秋月",
    "line": "要重寫的句子：1 到 4",
    "poem_id": "詩的編號：12 或 #12",
    "a": "第一首詩：編號（12 或 #12），或加引號的詩句",
    "b": "最後一首詩：編號，或加引號的詩句",
    "steps": "途中的詩數，含兩端：{MIN_STEPS} 到 {MAX_STEPS}",
    "stars": "一到五顆星",
    "n": "幾首詩：1 到 {MAX_TOP}",
    "script": "以簡體或繁體字顯示",
    "setting": "on（開）或 off（關）",
    "confirm": "輸入 confirm 即刪除全部；不輸入則先詢問",
    "command": "要詳細說明的指令",
}
CHOICES = {
    "5 characters a line (五言)": "五言（每句五字）",
    "7 characters a line (七言)": "七言（每句七字）",
    "traditional (詩)": "繁體（詩）",
    "simplified (诗)": "簡體（诗）",
    "on": "開（on）",
    "off": "關（off）",
}


@functools.cache
def _simplified(text: str) -> str:
    return opencc.OpenCC("t2s").convert(text)


class Translator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContext
    ) -> str | None:
        where = app_commands.TranslationContextLocation
        if context.location is where.command_description:
            text = DESCRIPTIONS.get(getattr(context.data, "name", ""))
        elif context.location is where.parameter_description:
            text = ARGUMENTS.get(getattr(context.data, "name", ""))
        elif context.location is where.choice_name:
            text = CHOICES.get(string.message)
        else:
            return None
        if text is None:
            return None
        language = {discord.Locale.taiwan_chinese: "zh-TW", discord.Locale.chinese: "zh-CN"}.get(locale)
        return chinese(text, language) if language else None


def chinese(text: str, language: str) -> str:
    """A Chinese text of this module in `language` (zh-TW as written, zh-CN simplified), with
    the limits written in from their one place."""
    text = with_limits(text)
    return _simplified(text) if language == "zh-CN" else text
