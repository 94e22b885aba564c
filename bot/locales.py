"""Chinese descriptions of the slash commands, for clients set to Chinese (Discord shows
a command's description in the client's language when it has one)."""

from __future__ import annotations

import functools

import discord
import opencc
from discord import app_commands

# in traditional characters; zh-CN gets them converted to simplified
DESCRIPTIONS = {
    "poem": "寫一首絕句，從種子抽出的潛向量寫成；可指定題目（月）或藏頭（春花秋月）",
    "vary": "一首存下的詩的變體：保留大半字句，改動幾個字",
    "rewrite": "把一首存下的詩的某一句重寫，其餘三句不變",
    "blend": "沿著模型的潛空間，從詩甲走到詩乙，每一步由模型寫成",
    "rate": "給一首詩評一到五顆星；再評一次會改掉舊的評分",
    "fav": "把一首詩收進你的收藏",
    "unfav": "把一首詩從你的收藏移除",
    "favs": "列出你收藏的詩，最新的在前",
    "top": "本伺服器評分最高的詩（貝氏平均）",
    "show": "顯示一首存下的詩，附評分與按鈕",
    "script": "選擇以簡體或繁體字顯示詩",
    "cards": "開啟或關閉你所要的詩下方的圖片（詩卡）",
    "forgetme": "刪除你的詩、評分與收藏（先詢問，確認後才刪）",
    "help": "這個機器人能做什麼，怎麼使用",
}


@functools.cache
def _simplified(text: str) -> str:
    return opencc.OpenCC("t2s").convert(text)


class Translator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContext
    ) -> str | None:
        if context.location is not app_commands.TranslationContextLocation.command_description:
            return None
        text = DESCRIPTIONS.get(getattr(context.data, "name", ""))
        if text is None:
            return None
        if locale is discord.Locale.taiwan_chinese:
            return text
        if locale is discord.Locale.chinese:
            return _simplified(text)
        return None
