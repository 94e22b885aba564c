"""Poem card rendering time on this machine: median and worst of 50 cards per form.

python bench/cards.py
"""

from __future__ import annotations

import statistics
import time

from bot import cards

POEMS = {
    5: ["物外清泉下", "人間玉雨過", "殷勤今不處", "相對漫輕痾"],
    7: ["身成辛苦一編茆", "客去仍聞底事難", "未見靈凡不救錄", "誰教白髮願升盤"],
}


def main() -> None:
    font = cards.find_font()
    if font is None:
        raise SystemExit("no CJK serif font: apt-get install fonts-noto-cjk")
    cards.render(POEMS[5], "#1 · 五言 · seed 1", "traditional", font)  # loads the face once
    print(f"font {font}")
    print("| form | cards | median ms | max ms | PNG KB |")
    print("|---|---|---|---|---|")
    for form, lines in POEMS.items():
        times, size = [], 0
        for i in range(50):
            t0 = time.perf_counter()
            size = len(cards.render(lines, f"#{i} · seed {i}", "traditional", font))
            times.append(1000 * (time.perf_counter() - t0))
        print(f"| {form} | 50 | {statistics.median(times):.1f} | {max(times):.1f} | {size / 1024:.0f} |")


if __name__ == "__main__":
    main()
