"""What each command of `python -m model` does: one function per command, given the
parsed arguments and the command line itself (`argv`, recorded on the cards of the
checkpoints it writes), and COMMANDS, the table model/cli.py dispatches by. The parsers
live in model/cli.py; the modules these call know nothing of argparse, and each is
imported by the commands that need it."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

from . import corpus

# the decoding flags (model/cli.py) that are numbers: left out, the command's own default stays
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
    from .contract import MAX_N
    from .generate import PoemGenerator, new_seed

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
    from .evaluate_requests import format_requests, request_figures
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
