"""Training: `python -m model train`.

Deterministic under a seed (the batch order of epoch e comes from seed and e
alone), resumable at epoch boundaries, validated every epoch, and the curves
drawn to a PNG beside the checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import corpus
from .checkpoint import Checkpoint, Vocab, load, save
from .network import CONFIGS, Config, PoemVAE, loss, parameter_count, validate
from .prior import GaussianMixture

log = logging.getLogger("poembot.model.train")


@dataclass
class TrainArgs:
    form: int = 5  # 5 or 7 characters a line
    config: str = "default"  # a name in network.CONFIGS
    data_dir: Path = corpus.DATA_DIR  # where `prepare` wrote the splits
    out: Path = Path("runs/quatrain5")  # checkpoint path without suffix
    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    lr_min: float = 1.0  # the learning rate falls along a cosine to lr * lr_min by the last epoch (1 = constant)
    # (with max_minutes, by the end of that time or the last epoch, whichever comes first)
    seed: int = 0
    threads: int = 0  # torch threads; 0 = one per core
    limit: int = 0  # use only the first N training poems (0 = all)
    kl_anneal_steps: int = 2000  # KL weight ramps 0 -> 1 over these steps
    resume: bool = False  # continue from `out`'s resume state
    overrides: dict = field(default_factory=dict)  # Config fields to change
    device: str = "cpu"  # where training runs ("cuda" where there is a GPU); checkpoints are saved for the CPU
    max_minutes: float = 0.0  # stop after the first epoch that ends past this much training (0 = no limit)
    progress: bool = False  # a progress bar even when stderr is not a terminal
    init: Path | None = None  # start from this checkpoint's weights and vocabulary (fine-tuning)
    windows: bool = False  # also train on every four lines of every poem (`prepare --windows`)


def make_config(args: TrainArgs, vocab_size: int) -> Config:
    cfg = CONFIGS[args.config](form=args.form, vocab_size=vocab_size)
    if args.overrides:
        cfg = Config.from_dict({**cfg.to_dict(), **args.overrides})
    return cfg


def learning_rate(args: TrainArgs, progress: float) -> float:
    """Cosine decay from lr to lr * lr_min over the run (progress 0 -> 1)."""
    low = args.lr * args.lr_min
    return low + (args.lr - low) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def fit_prior(ckpt: Checkpoint, poems: list[str], components: int = 64, points: int = 40000, seed: int = 0) -> dict:
    """Fit a Gaussian mixture to the posterior means of (up to `points` of) `poems`
    and attach it to the checkpoint: `sample` then draws latents where poems encode to."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(poems), generator=g)[:points].tolist()
    x = ckpt.vocab.encode_batch([poems[i] for i in pick])  # (N, T)
    ckpt.model.eval()
    mu = torch.cat([ckpt.model.encode(x[i : i + 1024])[0] for i in range(0, len(x), 1024)])  # (N, D)
    ckpt.prior = GaussianMixture.fit(mu, components=components, seed=seed)
    info = {
        "components": components,
        "points": len(mu),
        "seed": seed,
        "log_likelihood": round(float(ckpt.prior.log_prob(mu)), 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    ckpt.card["prior"] = info
    return info


def wall_clock(history: list[dict], train_poems: int) -> list[float]:
    """Seconds of training at the end of each epoch. Epochs recorded before the history
    kept seconds are timed from their throughput (training poems / samples per second)."""
    out, total = [], 0.0
    for h in history:
        total = h["seconds"] if "seconds" in h else total + train_poems / h["samples_per_s"]
        out.append(total)
    return out


def plot_curves(history: list[dict], path: Path, train_poems: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    minutes = [t / 60 for t in wall_clock(history, train_poems)]
    for ax, (key, title) in zip(
        axes, [("nll_char", "NLL per character (nats)"), ("kl", "KL (nats)"), ("recon_acc", "reconstruction accuracy")]
    ):
        if key in history[0]["train"]:  # reconstruction accuracy is measured on validation only
            ax.plot(minutes, [h["train"][key] for h in history], "o-", label="train")
        ax.plot(minutes, [h["valid"][key] for h in history], "o-", label="valid")
        ax.set_title(title)
        ax.set_xlabel("minutes of training")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _save_resume(out: Path, model, opt, epoch: int, step: int, history: list, card: dict) -> None:
    """Model, Adam moments and RNG state as safetensors, counters as JSON."""
    tensors = {f"model.{k}": v.cpu().contiguous() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    for idx, s in state["state"].items():
        for name, t in s.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(t).cpu().contiguous()
    tensors["rng"] = torch.get_rng_state()
    save_file(tensors, str(out.with_suffix(".resume.safetensors")))
    meta = {"epoch": epoch, "step": step, "history": history, "card": card, "param_groups": state["param_groups"]}
    out.with_suffix(".resume.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")


def _load_resume(out: Path, model, opt) -> dict:
    meta = json.loads(out.with_suffix(".resume.json").read_text("utf-8"))
    tensors = load_file(str(out.with_suffix(".resume.safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            state["state"].setdefault(int(idx), {})[name] = v
    opt.load_state_dict(state)
    torch.set_rng_state(tensors["rng"])
    return meta


RATE_GAIN = 0.002  # how fast z_g's KL weight follows its target: log-weight change per nat of error a step


def steer_rate(model: PoemVAE, kl_global: float) -> None:
    """A proportional controller on z_g's KL weight, in log space (after ControlVAE, Shao et
    al. 2020): above the target rate the weight rises, below it falls, within [0.01, 100]."""
    error = kl_global - model.cfg.rate_target
    beta = model.beta_global * math.exp(max(-0.05, min(0.05, RATE_GAIN * error)))
    model.beta_global.fill_(min(100.0, max(0.01, float(beta))))


def _card(args: TrainArgs, model: PoemVAE, train_poems: list[str], valid_poems: list[str], argv) -> dict:
    """What the checkpoint says of how it was made (filled in further every epoch)."""
    manifest_path = args.data_dir / str(args.form) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    return {
        "form": args.form,
        "config_name": args.config,
        "corpus": {
            "package": manifest.get("package", corpus.PACKAGE),
            "integrity": manifest.get("integrity"),
            "train_poems": len(train_poems),
            "valid_poems": len(valid_poems),
        },
        "training": {
            "command": "python -m model " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "seed": args.seed,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "lr_min": args.lr_min,
            "kl_anneal_steps": args.kl_anneal_steps,
            "init": str(args.init) if args.init else None,
            "windows": args.windows,
            "threads": torch.get_num_threads(),
            "parameters": parameter_count(model),
        },
    }


def _train_epoch(
    args: TrainArgs, model: PoemVAE, opt, x_train: torch.Tensor, epoch: int, step: int, seconds_before: float = 0.0
) -> tuple[dict, int, float]:
    """One pass over the training poems: (mean train metrics, steps so far, seconds it took)."""
    model.train()
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
    batches = math.ceil(len(x_train) / args.batch_size)
    bar = tqdm(
        range(batches),
        desc=f"epoch {epoch + 1}/{args.epochs}",
        file=sys.stderr,
        disable=not sys.stderr.isatty() and not args.progress,
        mininterval=2.0,
    )
    sums = {"nll_char": 0.0, "kl": 0.0}
    two_level = model.cfg.latent_global > 0
    if two_level:
        sums.update(kl_global=0.0, beta_global=0.0)
    steering = two_level and model.cfg.rate_target > 0
    t0 = time.perf_counter()
    for b in bar:
        progress = (epoch * batches + b) / (args.epochs * batches)
        if args.max_minutes:
            progress = max(progress, (seconds_before + time.perf_counter() - t0) / (60 * args.max_minutes))
        for group in opt.param_groups:
            group["lr"] = learning_rate(args, progress)
        x = x_train[order[b * args.batch_size : (b + 1) * args.batch_size].to(x_train.device)]  # (B, T)
        kl_scale = min(1.0, step / args.kl_anneal_steps) if args.kl_anneal_steps else 1.0
        parts = loss(model.cfg, *model(x), kl_scale=kl_scale, beta_global=model.beta_global if two_level else None)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        sums["nll_char"] += parts.nll_char.item()
        sums["kl"] += parts.kl.item()
        if two_level:
            kl_g = parts.kl_global.item()
            sums["kl_global"] += kl_g
            sums["beta_global"] += float(model.beta_global)
            if steering and kl_scale >= 1.0:
                steer_rate(model, kl_g)
        if b % 20 == 0:
            sps = (b + 1) * args.batch_size / (time.perf_counter() - t0)
            bar.set_postfix(
                loss=f"{parts.total.item():.1f}",
                nll=f"{parts.nll_char.item():.2f}",
                kl=f"{parts.kl.item():.1f}",
                sps=f"{sps:.0f}",
            )
    return {k: v / batches for k, v in sums.items()}, step, time.perf_counter() - t0


def _finish_epoch(args: TrainArgs, ckpt: Checkpoint, opt, history: list, entry: dict, step: int, poems: int) -> None:
    """Log an epoch and save everything a later `--resume` needs: checkpoint, card, curves."""
    valid = entry["valid"]
    history.append(entry)
    log.info(
        "epoch %d: valid nll/char %.3f, KL %.2f (z_g %.2f), recon acc %.3f, active units %d, %.0f samples/s",
        entry["epoch"],
        valid["nll_char"],
        valid["kl"],
        valid.get("kl_global", 0.0),
        valid["recon_acc"],
        valid["active_units"],
        entry["samples_per_s"],
    )
    ckpt.card["training"].update(epochs=entry["epoch"], steps=step, seconds=entry["seconds"])
    ckpt.card["metrics"] = valid
    ckpt.card["history"] = history
    model = ckpt.model
    if args.device != "cpu":  # checkpoints are read on CPUs
        ckpt.model = model.to("cpu")
    save(ckpt, args.out)
    _save_resume(args.out, ckpt.model, opt, entry["epoch"], step, history, ckpt.card)
    ckpt.model = model.to(args.device)
    if args.device == "cpu":  # (a GPU's epochs take seconds: drawn once at the end)
        plot_curves(history, args.out.with_suffix(".png"), poems)


def train(args: TrainArgs, argv: list[str] | None = None) -> Checkpoint:
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    torch.manual_seed(args.seed)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    train_poems = corpus.load_split(args.data_dir, args.form, "train")
    if args.limit:
        train_poems = train_poems[: args.limit]
    valid_poems = corpus.load_split(args.data_dir, args.form, "valid")
    if args.init:  # fine-tuning: the starting checkpoint's network, weights and vocabulary
        base = load(args.init)
        if base.cfg.form != args.form:
            raise ValueError(f"--init {args.init} writes {base.cfg.form}-character poems, not {args.form}")
        vocab = base.vocab
        model = PoemVAE(Config.from_dict({**base.cfg.to_dict(), **args.overrides}))
        model.load_state_dict(base.model.float().state_dict())
    else:
        vocab = Vocab(corpus.build_vocab(train_poems))  # the quatrains' characters, windows or not
        model = PoemVAE(make_config(args, len(vocab)))
    if args.windows:  # windows whose every character the vocabulary knows, after the quatrains
        windows = corpus.load_split(args.data_dir, args.form, "windows")
        train_poems = list(dict.fromkeys(train_poems + [w for w in windows if all(c in vocab.index for c in w)]))
    x_train = vocab.encode_batch(train_poems).to(args.device)  # (N, T)
    x_valid = vocab.encode_batch(valid_poems).to(args.device)  # (M, T)
    ckpt = Checkpoint(model, vocab, _card(args, model, train_poems, valid_poems, argv))
    history: list[dict] = []
    start_epoch, step, seconds = 0, 0, 0.0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)  # (loading its state moves it to the model's device)
    if args.resume and args.out.with_suffix(".resume.json").exists():
        meta = _load_resume(args.out, model, opt)
        start_epoch, step, history = meta["epoch"], meta["step"], meta["history"]
        seconds = meta["card"]["training"].get("seconds", 0.0)
        log.info("resumed from epoch %d", start_epoch)
    log.info("%d parameters, %d training poems, vocabulary %d", parameter_count(model), len(x_train), len(vocab))
    for epoch in range(start_epoch, args.epochs):
        train_metrics, step, elapsed = _train_epoch(args, model, opt, x_train, epoch, step, seconds)
        seconds += elapsed
        entry = {
            "epoch": epoch + 1,
            "train": train_metrics,
            "valid": validate(model, x_valid),
            "samples_per_s": len(x_train) / elapsed,
            "seconds": round(seconds, 1),
        }
        _finish_epoch(args, ckpt, opt, history, entry, step, len(x_train))
        if args.max_minutes and seconds >= 60 * args.max_minutes:
            log.info("stopping after epoch %d: %.1f minutes of training", epoch + 1, seconds / 60)
            break
    if args.device != "cpu" and history:
        plot_curves(history, args.out.with_suffix(".png"), len(x_train))
    model.to("cpu").eval()
    return ckpt
