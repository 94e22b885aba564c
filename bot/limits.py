"""The limits on what a command may ask, in one place: the commands' ranges (`bot.cogs`), the
service's checks (`bot.service`) and the help texts (`with_limits`) all read them here.

Where a limit of the bot's is narrower than the worker's (`model.contract`, which every client
is held to), it is written as the worker's bounded further, so the two cannot drift apart."""

from __future__ import annotations

from model import contract  # torch-free

# A blend's steps, both ends included (`!blend a b <steps>`). The worker walks up to
# contract.MAX_STEPS (32); the bot shows fewer: each step is a field of the blend's one embed
# (four lines, what changed in bold) and an option of the menu under it, and ten poems are
# what one message can show and be read. Three: at least one poem between the two ends.
MIN_SHOWN_STEPS = 3
MAX_SHOWN_STEPS = min(10, contract.MAX_STEPS)

MAX_TOP = 25  # poems on `!top`'s board: one embed field each, and Discord allows 25 fields


def with_limits(text: str) -> str:
    """`text` (a help text, in any language) with `{MIN_STEPS}`, `{MAX_STEPS}` (a blend's shown
    steps) and `{MAX_TOP}` written in: the one place the limits come from."""
    for token, value in (("{MIN_STEPS}", MIN_SHOWN_STEPS), ("{MAX_STEPS}", MAX_SHOWN_STEPS), ("{MAX_TOP}", MAX_TOP)):
        text = text.replace(token, str(value))
    return text
