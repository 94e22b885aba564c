"""The README and docs/*.md are true to the tree: every repository path they name exists.

A path is a markdown link's target (resolved from the page, as a reader's browser would), or
a word inside `backticks` (from the repository root) that has a `/` or ends in a file suffix
the repository uses (`bot/service.py`, `model/`, `pyproject.toml`). A bare file name
(`engine.py` in a list under `model/worker/`) is found anywhere in the tree. Not paths: URLs,
slash commands and HTTP routes (`/poem`, `/v1/sample`), Kubernetes objects
(`Service/poembot-worker`), placeholders (`<form>`, `*`), and what commands make (`runs/`,
`data/`, `dist/`). Fenced code blocks are commands, not checked."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = (".py", ".md", ".yml", ".yaml", ".toml", ".json", ".ini", ".sh", ".cfg", ".txt", ".mako", ".safetensors")
MADE_BY_COMMANDS = ("runs/", "data/", "dist/", ".gpu/", ".venv/")  # outputs, absent from a clean clone
SKIPPED_DIRS = {".git", ".venv", "runs", "data", "dist", "node_modules", "__pycache__"}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NOT_A_PATH = re.compile(r"[<>*{}\[\]$=:@\\|]|\.\.\.")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _is_path(word: str) -> bool:
    if not word or word.startswith(("/", "-", "~", "#")) or NOT_A_PATH.search(word):
        return False
    if "/" not in word:
        return word.endswith(SUFFIXES) and not word.startswith(".")
    first = word.split("/", 1)[0]
    if first[:1].isupper():  # `Deployment/poembot-worker`: a Kubernetes kind and name
        return False
    return not ("." in first.strip(".") and first != "..")  # `github.com/...` is a URL


def named_paths(text: str) -> tuple[set[str], set[str]]:
    """The paths a page names: (words in backticks, link targets)."""
    text = FENCE.sub("", text)
    words = set()
    for _, span in CODE.findall(text):
        for word in span.split():
            word = word.strip(",;:()'\"").rstrip(".")
            if _is_path(word) and not word.startswith(MADE_BY_COMMANDS):
                words.add(word)
    links = set()
    for target in LINK.findall(text):
        target = target.split("#", 1)[0]
        if target and "://" not in target and not target.startswith("mailto:"):
            links.add(target)
    return words, links


def _files_by_name() -> set[str]:
    names = set()
    for _, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        names.update(files)
    return names


def _exists(path: Path) -> bool:
    """A file or folder, or a checkpoint named without its suffix (`model/checkpoints/quatrain5`)."""
    return path.exists() or any(path.parent.glob(path.name + ".*"))


def missing_paths(page: Path, text: str, names: set[str]) -> list[str]:
    words, links = named_paths(text)
    missing = []
    for word in sorted(words):
        if "/" not in word:
            if word not in names:
                missing.append(f"`{word}` (no file of that name)")
            continue
        path = (ROOT / word).resolve()
        if not path.is_relative_to(ROOT):
            missing.append(f"`{word}` (outside the repository)")
        elif not _exists(path):
            missing.append(f"`{word}`")
    for link in sorted(links):
        path = (page.parent / link).resolve()
        if not path.is_relative_to(ROOT):
            missing.append(f"({link}) (outside the repository)")
        elif not _exists(path):
            missing.append(f"({link})")
    return missing


def test_every_path_the_readme_and_the_docs_name_is_in_the_tree():
    names = _files_by_name()
    assert len(pages()) > 1, "(the pages are found)"
    wrong = {
        str(page.relative_to(ROOT)): missing
        for page in pages()
        if (missing := missing_paths(page, page.read_text("utf-8"), names))
    }
    assert not wrong, f"paths named but not in the tree: {wrong}"


def test_the_check_finds_a_path_that_is_not_there_and_passes_one_that_is():
    names = _files_by_name()
    page = ROOT / "docs" / "design.md"
    text = (
        "The service is `bot/service.py`, see (`bot/storage/`) and [the model](model.md); "
        "slash `/poem seed:42`, `https://example.com/a.py`, `runs/quatrain5`, `quatrain<form>.json`, "
        "`model/checkpoints/quatrain5`, `cli.py`.\n```sh\npython bench/nothing_here.py\n```\n"
    )
    assert missing_paths(page, text, names) == []
    wrong = "`bot/servce.py`, `modle/`, `engin.py`, `../shared/NOTES.md`, [x](nothing.md), [y](../../outside.md)"
    assert missing_paths(page, wrong, names) == [
        "`../shared/NOTES.md` (outside the repository)",
        "`bot/servce.py`",
        "`engin.py` (no file of that name)",
        "`modle/`",
        "(../../outside.md) (outside the repository)",
        "(nothing.md)",
    ]
