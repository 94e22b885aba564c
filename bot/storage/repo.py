"""Every query of storage by one name: `from bot.storage import repo`, then `repo.rate(...)`.

The queries live in rooms by idea, and this module re-exports them so callers need not know
which holds what:

- `visibility.py`: `Viewer` and the one privacy rule, `visible_to` (and `written_here`);
- `errors.py`: `StorageError` and its kinds, the facts the bot words for users;
- `poems.py`: saving a poem, finding one as a viewer sees it, a poem asked for again, `!mine`;
- `ratings.py`: stars, a poem's summary, the leaderboard's Bayesian average;
- `favourites.py`: keeping, listing and pairing favourites;
- `preferences.py`: a member's script, cards and language;
- `forget.py`: `!delete` and `!forgetme`, with what goes with them;
- `cooldowns.py`: cooldowns and the marks of jobs in flight, on the database's clock
  (`dialects.py`: where PostgreSQL and SQLite differ).

A server's own rules are `bot/storage/settings.py`'s. Every function takes the session; the
caller owns the transaction. Bad input raises a `StorageError` subclass that carries the facts,
before anything is written.
"""

from __future__ import annotations

from .cooldowns import (  # noqa: F401
    JOB,
    JOB_MARK_S,
    SLACK_S,
    cooldown_left,
    end_cooldown,
    end_job,
    start_job,
    take_cooldown,
)
from .dialects import database_now  # noqa: F401
from .errors import (  # noqa: F401
    AlreadyFavourite,
    FavouritesOfMixedForms,
    InvalidScript,
    InvalidStars,
    NotEnoughFavourites,
    NotFavourite,
    NotYourPoem,
    StorageError,
    UnknownPoem,
)
from .favourites import (  # noqa: F401
    add_favourite,
    count_favourites,
    latest_favourites,
    list_favourites,
    remove_favourite,
)
from .forget import Forgotten, delete_poem, forget_user, others_on_poem, others_on_poems_of  # noqa: F401
from .poems import (  # noqa: F401
    MAX_ID,
    count_mine,
    create_poem,
    get_poem,
    list_mine,
    own_poem,
    pack_latent,
    recent_poems,
    repeat_of,
    set_message,
    unpack_latent,
)
from .preferences import SCRIPTS, preferences, set_cards, set_script  # noqa: F401
from .ratings import (  # noqa: F401
    DEFAULT_PRIOR_MEAN,
    PRIOR_VOTES,
    Ranked,
    RatingSummary,
    bayesian,
    best_since,
    count_ratings,
    rate,
    rating_summary,
    top_poems,
)
from .visibility import Viewer, visible_to  # noqa: F401
