"""What storage refuses: `StorageError` and its kinds, each carrying the facts (the poem's id,
the counts) for `bot.replies.storage_reply` to word; their messages are for logs. Every one is
raised before anything is written."""

from __future__ import annotations


class StorageError(ValueError):
    """A request the data cannot satisfy. It carries the facts (its message is for logs);
    the bot words it for users (`bot.replies.storage_reply`)."""


class UnknownPoem(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"no poem {poem_id}")
        self.poem_id = poem_id


class InvalidStars(StorageError):
    def __init__(self, stars):
        super().__init__(f"stars out of range: {stars!r}"[:80])


class AlreadyFavourite(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is already a favourite")
        self.poem_id = poem_id


class NotFavourite(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is not a favourite")
        self.poem_id = poem_id


class NotEnoughFavourites(StorageError):
    def __init__(self, have: int, need: int):
        super().__init__(f"{have} favourites, {need} needed")
        self.have, self.need = have, need


class InvalidScript(StorageError):
    def __init__(self, script):
        super().__init__(f"unknown script {script!r}"[:80])


class NotYourPoem(StorageError):
    """A poem the viewer can see but did not ask for: only its author may delete it."""

    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is not the viewer's")
        self.poem_id = poem_id


class FavouritesOfMixedForms(NotEnoughFavourites):
    """Favourites enough, but not `need` of one form (a blend walks between poems of one form)."""
