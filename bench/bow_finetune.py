"""Fine-tune a checkpoint with a bag-of-words loss on its global code z_g (an experiment).

Zhao et al. 2017 ("Learning discourse-level diversity for neural dialog models using
conditional variational autoencoders", section 3.2): beside the reconstruction, a head
predicts every character of the poem, in no order, from z_g alone. The loss pushes z_g to
hold the poem's words, so the poems written from one z_g should share a theme. The head is
used in training only; the checkpoint written is the shipped network with new weights (its
sampler settings, calibration and character shares carried over; a two-level code's drawn
poems read z_g from N(0, I), so its prior is not used). Its card records this run alone:
its command, epochs and validation metrics, none of the shipped card's panels.

    python bench/bow_finetune.py runs/bow/c --epochs 6 --weight 2 --rate 20 --detail-drop 0.7

Resumes from the last finished epoch (`OUT.state.pt`). Prints, per epoch, the bag-of-words
NLL per poem beside the unigram floor (what a head that ignored z_g would reach), z_g's KL
and the validation NLL per character. See docs/reader-panels.md for what it did.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from model import corpus
from model.checkpoint import load, save, shipped
from model.network import Config, PoemVAE, loss, validate
from model.train import learning_rate, steer_rate


def bow_nll(head: nn.Module, z_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sum over the poem's characters of -log p(c | z_g), mean over the batch.
    z_g: (B, G), x: (B, T) -> scalar."""
    logp = torch.log_softmax(head(z_g), dim=-1)  # (B, V)
    return -logp.gather(1, x).sum(dim=1).mean()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="checkpoint path without suffix")
    p.add_argument("--init", type=Path, default=shipped(5).with_suffix(""))
    p.add_argument("--data", type=Path, default=Path("data/corpus"))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--weight", type=float, default=2.0, help="the bag-of-words loss's weight")
    p.add_argument("--rate", type=float, default=10.0, help="z_g's target KL in nats (shipped: 5)")
    p.add_argument("--detail-drop", type=float, default=None, help="share of rows written from z_g alone")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="train on the first N poems only (a smoke test)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    ckpt = load(a.init)
    form = ckpt.cfg.form
    changes = {"rate_target": a.rate}
    if a.detail_drop is not None:
        changes["detail_drop"] = a.detail_drop
    cfg = Config.from_dict({**ckpt.cfg.to_dict(), **changes})
    model = PoemVAE(cfg)
    model.load_state_dict(ckpt.model.float().state_dict())
    G, V = cfg.latent_global, cfg.vocab_size
    train_poems = corpus.load_split(a.data, form, "train")[: a.limit or None]
    x_train = ckpt.vocab.encode_batch(train_poems)  # (N, T)
    x_valid = ckpt.vocab.encode_batch(corpus.load_split(a.data, form, "valid"))  # (M, T)
    shares = ckpt.vocab.log_shares(train_poems)  # (V,)
    floor = float(-(shares[x_train].sum(dim=1)).mean())  # what a head blind to z_g reaches
    head = nn.Sequential(nn.Linear(G, 256), nn.Tanh(), nn.Linear(256, V))
    with torch.no_grad():
        head[2].bias.copy_(shares)
    opt = torch.optim.Adam(
        [{"params": model.parameters(), "lr": a.lr}, {"params": head.parameters(), "lr": a.lr * 10}], lr=a.lr
    )
    state_path = a.out.with_suffix(".state.pt")
    start = 0
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "epochs", "threads")}
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
    if state_path.exists():
        s = torch.load(state_path, weights_only=True)
        if s["settings"] != settings:
            raise SystemExit(f"{state_path} was trained with {s['settings']}, not {settings}: another --out")
        model.load_state_dict(s["model"])
        head.load_state_dict(s["head"])
        opt.load_state_dict(s["opt"])
        torch.set_rng_state(s["rng"])
        start = s["epoch"]
        print(f"resumed after epoch {start}", flush=True)
    batches = math.ceil(len(x_train) / a.batch)
    schedule = SimpleNamespace(lr=a.lr, lr_min=0.1)  # what train.learning_rate reads of TrainArgs
    print(f"{len(x_train)} poems, bag-of-words floor {floor:.1f} nats a poem", flush=True)
    for epoch in range(start, a.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(epoch))
        sums = {"bow": 0.0, "kl_g": 0.0, "nll": 0.0}
        t0 = time.perf_counter()
        for b in range(batches):
            progress = (epoch * batches + b) / (a.epochs * batches)
            lr = learning_rate(schedule, progress)  # cosine, lr -> lr / 10
            opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = lr, lr * 10
            x = x_train[order[b * a.batch : (b + 1) * a.batch]]  # (B, T)
            nll_p, nll_ar, mu, logvar = model(x)
            parts = loss(cfg, nll_p, nll_ar, mu, logvar, beta_global=model.beta_global)
            z_g = model.reparameterize(mu[:, :G], logvar[:, :G])  # (B, G)
            bow = bow_nll(head, z_g, x)
            opt.zero_grad(set_to_none=True)
            (parts.total + a.weight * bow).backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 5.0)
            opt.step()
            steer_rate(model, parts.kl_global.item())
            sums["bow"] += bow.item()
            sums["kl_g"] += parts.kl_global.item()
            sums["nll"] += parts.nll_char.item()
        valid = validate(model, x_valid)
        means = {k: v / batches for k, v in sums.items()}
        print(
            f"epoch {epoch + 1}: bow {means['bow']:.1f} (floor {floor:.1f}), kl_g {means['kl_g']:.1f}, "
            f"train nll/char {means['nll']:.3f}, valid nll/char {valid['nll_char']:.3f} "
            f"(z_g {valid.get('kl_global', 0):.1f}), beta_g {float(model.beta_global):.2f}, "
            f"{len(x_train) / (time.perf_counter() - t0):.0f} poems/s",
            flush=True,
        )
        out = dataclasses.replace(ckpt, model=model)
        shipped_only = ("history", "evaluation", "panels", "metrics", "training", "note")
        out.card = {k: v for k, v in ckpt.card.items() if k not in shipped_only}
        out.card.update(
            note=f"bag-of-words fine-tune of {ckpt.version} (bench/bow_finetune.py), not shipped",
            training={"command": "python bench/bow_finetune.py " + " ".join(sys.argv[1:]), "epochs": epoch + 1},
            metrics=valid,
        )
        save(out, a.out, half=True)
        torch.save(
            {
                "model": model.state_dict(),
                "head": head.state_dict(),
                "opt": opt.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "settings": settings,
            },
            state_path,
        )


if __name__ == "__main__":
    main()
