"""Training speed on this CPU, measured in one run: the naive step against ours.

naive : Su's configuration with a full softmax over the vocabulary, batch 64,
        the convolutions as torch.nn.Conv1d (the textbook implementation).
ours  : the same network with the adaptive softmax, convolutions as one
        matrix product over shifted copies, batch 256.
previous default: the hybrid decoder shipped before the latent was widened.
default: the shipped default configuration as trained, and at batch 256.

    python bench/train_speed.py [--steps 30] [--data data/corpus]

Uses the prepared corpus when present (Zipf-distributed real targets), else
the fixture corpus under tests/.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from model import corpus
from model.checkpoint import Vocab
from model.network import GCNN, Config, PoemVAE, baseline, loss, parameter_count


class Conv1dGCNN(nn.Module):
    """The textbook gated convolution, for the naive step."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1, causal: bool = False):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, dilation=dilation)

    def forward(self, x):  # (B, T, C)
        h = self.conv(F.pad(x.transpose(1, 2), (self.pad // 2, self.pad - self.pad // 2)))  # (B, 2C, T)
        value, gate = h.transpose(1, 2).chunk(2, dim=-1)  # (B, T, C) each
        return x + value * torch.sigmoid(gate)


def naive_model(cfg: Config) -> PoemVAE:
    model = PoemVAE(cfg)
    for seq in (model.encoder, model.decoder):
        for i, layer in enumerate(seq):
            assert isinstance(layer, GCNN)
            seq[i] = Conv1dGCNN(cfg.emb, layer.kernel, layer.dilation)
    return model


def samples_per_s(model: PoemVAE, x: torch.Tensor, batch: int, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    done, t0 = 0, 0.0
    for i in range(steps + 3):
        if i == 3:  # warm-up steps are not timed
            t0, done = time.perf_counter(), 0
        xb = x[(i * batch) % (len(x) - batch) :][:batch]
        parts = loss(model.cfg, *model(xb))
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        opt.step()
        done += len(xb)
    return done / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--data", type=Path, default=corpus.DATA_DIR)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = args.data if (args.data / "5" / "train.txt").exists() else Path("tests/fixtures/corpus")
    poems = corpus.load_split(data, 5, "train")
    vocab = Vocab(corpus.build_vocab(poems))
    x = vocab.encode_batch(poems[:50000])
    V = len(vocab)
    su = baseline(5, V)
    rows = [
        ("naive: Su's config, full softmax, Conv1d, batch 64", naive_model(su), 64),
        (
            "ours: Su's config, adaptive softmax, batch 256",
            PoemVAE(Config.from_dict({**su.to_dict(), "cutoffs": [200, 1000, 3000]})),
            256,
        ),
        (
            "previous default: hybrid, latent 64, batch 128",
            PoemVAE(
                Config(
                    form=5,
                    vocab_size=V,
                    latent=64,
                    enc_pos=False,
                    free_bits=0.25,
                    aux_weight=0.3,
                    dropout=0.3,
                    null_rate=0.0,
                )
            ),
            128,
        ),
        ("default: hybrid, latent 128, null rows, batch 128", PoemVAE(Config(form=5, vocab_size=V)), 128),
        ("default at batch 256", PoemVAE(Config(form=5, vocab_size=V)), 256),
    ]
    print(f"corpus {data} ({len(poems)} poems), vocabulary {V}, {args.threads} threads, {args.steps} timed steps")
    print(f"| {'step':55} | {'params':>9} | {'samples/s':>9} | {'vs naive':>8} |")
    print(f"|{'-' * 57}|{'-' * 11}|{'-' * 11}|{'-' * 10}|")
    base = None
    for name, model, batch in rows:
        sps = samples_per_s(model, x, batch, args.steps)
        base = base or sps
        print(f"| {name:55} | {parameter_count(model):9,} | {sps:9.0f} | {sps / base:7.1f}x |", flush=True)


if __name__ == "__main__":
    main()
