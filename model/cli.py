"""The model's command line, every parser and one dispatch:
`python -m model {prepare,train,fit-prior,calibrate,ship,sample,blend,evaluate,serve}`
(installed as `poembot-model`). The modules below it know nothing of argparse."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import corpus
from .checkpoint import CheckpointError
from .commands import COMMANDS
from .contract import version


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _decoding_flags(p: argparse.ArgumentParser) -> None:
    # numbers left out keep the command's own default: the checkpoint's measured sampler
    # for sample and evaluate (its card's "sampler"), deterministic decoding for blend
    p.add_argument("--checkpoint", type=Path, help="checkpoint path without suffix (default: shipped)")
    p.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float, help="nucleus sampling (1 = off)")
    p.add_argument(
        "--min-p", type=float, help="keep characters at least this share as likely as the likeliest (0 = off)"
    )
    p.add_argument("--calibration", type=float, help="how much of the checkpoint's unigram calibration to add")
    p.add_argument("--candidates", type=int, help="poems drawn per seed, the likeliest kept")
    p.add_argument(
        "--unigram-discount",
        type=float,
        help="ranking candidates: less this share of their characters' log share of the training poems",
    )
    p.add_argument("--guidance", type=float, help="how much the latent steers the writing (1 = alone, 0 = not at all)")
    p.add_argument("--allow-repeats", action="store_true", help="allow a character twice")
    p.add_argument("--no-rhyme", action="store_true", help="do not force lines 2 and 4 to rhyme")
    p.add_argument("--rhyme-first", action="store_true", help="make line 1 rhyme too")
    p.add_argument("--no-tone", action="store_true", help="ignore the regulated tone pattern")
    p.add_argument("--simplified", action="store_true", help="print simplified characters")
    p.add_argument("--json", action="store_true", help="print JSON: text, lines, seed, latent")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    p.add_argument("--version", action="version", version=f"poembot-model {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for add in PARSERS:  # in this order in --help
        add(sub)
    return p


# -- each command's arguments --------------------------------------------------------------
def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="fetch the corpus once and write train/valid/test splits")
    p.add_argument("--cache", type=Path, default=corpus.CACHE_DIR, help="where the npm tarball is kept")
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR, help="where the splits are written")
    p.add_argument(
        "--windows",
        action="store_true",
        help="also write <form>/windows.txt: every four lines of every poem of the package (pretraining)",
    )


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a checkpoint")
    p.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    p.add_argument("--config", default="default", help="default, baseline (Su's) or tiny")
    p.add_argument("--data", dest="data_dir", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--out", type=Path, help="checkpoint path without suffix (default runs/quatrain<form>)")
    p.add_argument("--epochs", type=_positive, default=4)
    p.add_argument("--batch-size", type=_positive, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--lr-min", type=float, default=1.0, help="cosine decay to lr * this by the last epoch (1 = constant)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="use only the first N training poems")
    p.add_argument("--kl-anneal-steps", type=int, default=2000)
    p.add_argument("--resume", action="store_true", help="continue from the last finished epoch")
    p.add_argument(
        "--init", type=Path, help="start from this checkpoint's weights and vocabulary (path without suffix)"
    )
    p.add_argument(
        "--windows",
        action="store_true",
        help="train on the windows of every poem (prepare --windows) beside the quatrains",
    )
    p.add_argument("--device", default="cpu", help="cpu, or cuda where there is a GPU")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after the first epoch that ends past this much training (0 = no limit)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a config field, e.g. --set free_bits=0.5",
    )


def _add_fit_prior(sub) -> None:
    p = sub.add_parser("fit-prior", help="fit a Gaussian mixture to the training poems' latents")
    p.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten with the prior)")
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--components", type=_positive, default=64)
    p.add_argument("--points", type=_positive, default=40000)
    p.add_argument("--seed", type=int, default=0)


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure the sampler's unigram calibration and store it, with the "
        "sampler settings, as the checkpoint's default",
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten)")
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--temperature", type=float, required=True)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--min-p", type=float, default=0.0)
    p.add_argument(
        "--guidance",
        type=float,
        default=0.0,
        help="how much the latent steers the writing (a two-level code's z_g: 0.5 or more)",
    )
    p.add_argument(
        "--continuity", type=float, default=None, help="a blend's continuity, stored as the checkpoint's blend setting"
    )
    p.add_argument("--weight", type=float, required=True, help="how much of the calibration sampling adds")
    p.add_argument("--samples", type=_positive, default=5000)
    p.add_argument("--clip", type=float, default=2.0, help="largest correction of one character, in nats")


def _add_choose_sampler(sub) -> None:
    p = sub.add_parser(
        "choose-sampler",
        help="make the sampler a blind reader panel chose the checkpoint's default, recording the panels "
        "on its card (and the training poems' character shares that ranking discounts)",
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten)")
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    for flag in ("temperature", "top-p", "min-p", "calibration", "unigram-discount", "guidance"):
        p.add_argument(f"--{flag}", type=float, help="(left out: as the card has it)")
    p.add_argument("--candidates", type=int, help="(left out: as the card has it)")
    p.add_argument(
        "--panel",
        action="append",
        default=[],
        required=True,
        metavar="TEXT",
        help="a panel that chose it (variants, n, coherence, taken for human), recorded on the card",
    )


def _add_index_subjects(sub) -> None:
    p = sub.add_parser(
        "index-subjects",
        help="build the subject index beside a checkpoint (where poems holding "
        "each character encode to, and where poets put it)",
    )
    p.add_argument("checkpoint", type=Path, nargs="?", help="checkpoint path without suffix (default: shipped)")
    p.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--min-poems", type=_positive, default=5, help="index characters in at least this many poems")


def _add_ship(sub) -> None:
    p = sub.add_parser("ship", help="copy a trained checkpoint into model/checkpoints (float16 weights)")
    p.add_argument("checkpoint", type=Path, help="checkpoint path without suffix")


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="write poems")
    p.add_argument("--seed", type=int, help="the same seed always writes the same poem")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--subject", nargs="+", metavar="WORD", help="1 to 3 Chinese words the poem is about (in it)")
    p.add_argument("--acrostic", help="4 characters, one to start each line (藏頭)")
    _decoding_flags(p)


def _add_rewrite(sub) -> None:
    p = sub.add_parser("rewrite", help="a poem with one line written anew, the others kept")
    p.add_argument("text")
    p.add_argument("--line", type=int, required=True, help="1 to 4")
    p.add_argument("--seed", type=int, default=0)
    _decoding_flags(p)


def _add_blend(sub) -> None:
    p = sub.add_parser("blend", help="the poems on the path between two poems")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    p.add_argument("--seed", type=int, default=0, help="the decoding seed shared by every step")
    _decoding_flags(p)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint's poems beside real ones")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats",
        type=_positive,
        default=1,
        help="also score the next sets of n samples (seeds seed + n, ...): mean and sd",
    )
    p.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="the real poems compared with: choose settings on valid, report on test",
    )
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    _decoding_flags(p)


def _add_evaluate_requests(sub) -> None:
    p = sub.add_parser("evaluate-requests", help="score subject, acrostic and rewritten poems")
    p.add_argument("--checkpoint", type=Path, help="checkpoint path without suffix (default: shipped)")
    p.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    p.add_argument("--n", type=_positive, default=100, help="poems for each subject, acrostics, rewrites")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--json", action="store_true")


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="serve the worker over HTTP")
    p.add_argument("--host", help="default: POEMBOT_WORKER_HOST, else 127.0.0.1")
    p.add_argument("--port", type=int, help="default: POEMBOT_WORKER_PORT, else 8500")
    p.add_argument("--max-batch", type=int, default=0)
    p.add_argument("--max-wait-ms", type=float)


PARSERS = (
    _add_prepare,
    _add_train,
    _add_fit_prior,
    _add_calibrate,
    _add_choose_sampler,
    _add_index_subjects,
    _add_ship,
    _add_sample,
    _add_rewrite,
    _add_blend,
    _add_evaluate,
    _add_evaluate_requests,
    _add_serve,
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args, argv)
    except (corpus.CorpusError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
