"""Where poems about a character come from: an index of the training poems' latents.

For every character in enough training poems, the mean and spread of the latents
(z_g for a two-level code, else the whole latent) of the poems that hold it, and
the positions where poets put it. A subject poem draws its latent from the
subject's own Gaussian and places the subject's words where poets place them.

Built once (`python -m model index-subjects <checkpoint>`) and shipped beside the
checkpoint as `<name>.subjects.safetensors`, so the checkpoint's version (the hash
of its weights) stays what it was.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

SUFFIX = ".subjects.safetensors"


def index_path(checkpoint: Path | str) -> Path:
    return Path(checkpoint).with_suffix("").with_suffix(SUFFIX)


@dataclass
class SubjectIndex:
    chars: torch.Tensor  # (K,) the character ids indexed
    means: torch.Tensor  # (K, D) mean latent of the training poems holding each character
    stds: torch.Tensor  # (K, D) their spread
    positions: torch.Tensor  # (K, T) how often each character stands at each position
    poems: torch.Tensor  # (K,) how many training poems hold each character
    info: dict  # how it was built

    def __post_init__(self):
        self.row = {int(c): i for i, c in enumerate(self.chars.tolist())}

    @classmethod
    @torch.no_grad()
    def build(cls, model, x: torch.Tensor, dims: int, min_poems: int = 5, batch: int = 1024) -> SubjectIndex:
        """From the training poems x (N, T) as character ids: the first `dims` latent
        dimensions' mean and spread per character, and its positions."""
        model.eval()
        mu = torch.cat([model.encode(x[i : i + batch])[0][:, :dims] for i in range(0, len(x), batch)])  # (N, D)
        V, T = model.cfg.vocab_size, x.shape[1]
        # one (poem, character) pair per distinct character of a poem
        present = torch.zeros(len(x), V, dtype=torch.bool)
        present[torch.arange(len(x))[:, None], x] = True
        present[:, -1] = False  # <unk>
        counts = present.sum(0)  # (V,)
        keep = (counts >= min_poems).nonzero().squeeze(1)  # (K,)
        p = present[:, keep].float()  # (N, K)
        n = p.sum(0)[:, None]  # (K, 1)
        means = (p.T @ mu) / n  # (K, D)
        var = (p.T @ mu.pow(2)) / n - means.pow(2)
        positions = torch.zeros(V, T)
        positions.index_put_((x.reshape(-1), torch.arange(T).repeat(len(x))), torch.ones(x.numel()), accumulate=True)
        return cls(chars=keep, means=means, stds=var.clamp_min(1e-6).sqrt(), positions=positions[keep],
                   poems=counts[keep], info={"poems": len(x), "dims": dims, "min_poems": min_poems})

    def save(self, path: Path) -> None:
        save_file({"chars": self.chars.contiguous(), "means": self.means.float().contiguous(),
                   "stds": self.stds.float().contiguous(), "positions": self.positions.float().contiguous(),
                   "poems": self.poems.contiguous()}, str(path), metadata={"info": json.dumps(self.info)})

    @classmethod
    def load(cls, path: Path) -> SubjectIndex:
        try:
            with safe_open(str(path), "pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                info = json.loads((f.metadata() or {}).get("info", "{}"))
            return cls(**tensors, info=info)
        except (SafetensorError, OSError, TypeError, ValueError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a subject index: {e}") from None

    def gaussian(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and spread to draw a subject's latent from: the average over its
        characters that the index holds (N(0, I) for one it does not)."""
        D = self.means.shape[1]
        rows = [self.row.get(i) for i in ids]
        means = [self.means[r] if r is not None else torch.zeros(D) for r in rows]
        stds = [self.stds[r] if r is not None else torch.ones(D) for r in rows]
        return torch.stack(means).mean(0), torch.stack(stds).mean(0)

    def where(self, first: int) -> torch.Tensor:
        """How often poets put a character at each position, smoothed by one. (T,)"""
        r = self.row.get(first)
        T = self.positions.shape[1]
        return (self.positions[r] if r is not None else torch.zeros(T)) + 1.0
