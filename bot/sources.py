"""Where the settings' values come from, besides the environment itself: a `.env` file,
secret files (a directory of files named like the variables, as Docker and Kubernetes mount
secrets, and `NAME_FILE` variables naming one file each), and which names nothing reads.
bot/settings.py declares the settings and decides the order; a `SourceError` names the
variable or file at fault and never a secret's content."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Set
from pathlib import Path

from pydantic_settings import BaseSettings, DotEnvSettingsSource

FILE_SUFFIX = "_FILE"  # DISCORD_TOKEN_FILE=/path: DISCORD_TOKEN is that file's content


class SourceError(ValueError):
    """A file that cannot be read, or a value given twice; the message names it."""


def variables(given: Mapping[str, str | None], where: str, names: Set[str]) -> dict[str, str]:
    """`given`'s variables by their names in capitals, each `NAME_FILE` (for NAME of `names`)
    read into NAME. NAME and NAME_FILE both set in one place is an error."""
    found = {name.upper(): value for name, value in given.items() if value is not None}
    for name in [n for n in found if n.endswith(FILE_SUFFIX) and n.removesuffix(FILE_SUFFIX) in names]:
        setting = name.removesuffix(FILE_SUFFIX)
        if found.get(setting):
            raise SourceError(f"{setting} and {name} are both set in {where}: set one (the value, or its file)")
        path = found.pop(name)
        found[setting] = read_secret(Path(path), name) if path else ""
    return found


def env_file(path: Path) -> Mapping[str, str | None]:
    """Every variable a `.env` file sets (none if there is no such file), read as pydantic-settings reads it."""
    return DotEnvSettingsSource(BaseSettings, env_file=path, env_file_encoding="utf-8", case_sensitive=True).env_vars


def secret_files(folder: Path, names: Set[str], asked: bool) -> dict[str, str]:
    """The variables of `names` that `folder` holds, one file each named like its variable
    in any case (`/run/secrets/discord_token`); other files are left alone (other programs'
    secrets). A folder that is not there is an error only if it was `asked` for."""
    if not folder.is_dir():
        if asked:
            raise SourceError(f"POEMBOT_SECRETS_DIR: {str(folder)!r} is not a directory (unset it for /run/secrets)")
        return {}
    files = {p.name.upper(): p for p in sorted(folder.iterdir()) if p.name.upper() in names and p.is_file()}
    return {name: read_secret(path, "POEMBOT_SECRETS_DIR") for name, path in files.items()}


def read_secret(path: Path, variable: str) -> str:
    """A secret file's content without the blanks and line end around it."""
    try:
        return path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise SourceError(f"{variable}: cannot read {str(path)!r} ({why})") from None


def unknown(names: Set[str], prefix: str, known: Set[str]) -> list[str]:
    """A warning for each name of `names` with `prefix` that is not `known` (a typo, most
    likely), naming the known one closest to it."""
    warnings = []
    for name in sorted(n for n in names if n.startswith(prefix) and n not in known):
        near = max(sorted(known), key=lambda k: difflib.SequenceMatcher(None, name, k).ratio())
        warnings.append(f"{name} is set but poembot reads no such variable: did you mean {near}?")
    return warnings
