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
    # the characters poems holding each one use most beyond their usual share: (K, A) ids and
    # log(share among those poems / share among all poems), clipped to [0, 3]
    assoc_ids: torch.Tensor | None = None
    assoc: torch.Tensor | None = None

    def __post_init__(self):
        self.row = {int(c): i for i, c in enumerate(self.chars.tolist())}

    @classmethod
    @torch.no_grad()
    def build(
        cls, model, x: torch.Tensor, dims: int, min_poems: int = 5, batch: int = 1024, associates: int = 64
    ) -> SubjectIndex:
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
        assoc_ids, assoc = cls._associations(present, keep, counts, len(x), associates)
        return cls(
            chars=keep,
            means=means,
            stds=var.clamp_min(1e-6).sqrt(),
            positions=positions[keep],
            poems=counts[keep],
            info={"poems": len(x), "dims": dims, "min_poems": min_poems},
            assoc_ids=assoc_ids,
            assoc=assoc,
        )

    @staticmethod
    def _associations(
        present: torch.Tensor, keep: torch.Tensor, counts: torch.Tensor, N: int, A: int, chunk: int = 8192
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each kept character, the A characters with the highest count x PMI among the
        poems holding it (each seen with it in 3+ poems), and their PMI."""
        V, K = present.shape[1], len(keep)
        row = torch.full((V,), -1, dtype=torch.long)
        row[keep] = torch.arange(K)
        co = torch.zeros(K * V, dtype=torch.float32)
        for i in range(0, N, chunk):
            p_ids = [r.nonzero().squeeze(1) for r in present[i : i + chunk]]
            a = torch.cat([ids.repeat_interleave(len(ids)) for ids in p_ids])  # every ordered pair in a poem
            b = torch.cat([ids.repeat(len(ids)) for ids in p_ids])
            ra = row[a]
            ok = ra >= 0
            co += torch.bincount(ra[ok] * V + b[ok], minlength=K * V).float()
        co = co.view(K, V)
        p_given = co / counts[keep].float()[:, None]  # (K, V) share of w's poems holding c
        p_all = counts.float() / N  # (V,)
        pmi = torch.log(p_given.clamp_min(1e-12) / p_all.clamp_min(1e-12)).clamp(0.0, 3.0)
        pmi[co < 3] = 0.0
        pmi[torch.arange(K), keep] = 0.0  # not the character itself
        score = co * pmi
        ids = score.topk(A, dim=1).indices  # (K, A)
        return ids, pmi.gather(1, ids)

    def save(self, path: Path) -> None:
        tensors = {
            "chars": self.chars.contiguous(),
            "means": self.means.float().contiguous(),
            "stds": self.stds.float().contiguous(),
            "positions": self.positions.float().contiguous(),
            "poems": self.poems.contiguous(),
        }
        if self.assoc is not None:
            tensors.update(assoc_ids=self.assoc_ids.contiguous(), assoc=self.assoc.half().contiguous())
        save_file(tensors, str(path), metadata={"info": json.dumps(self.info)})

    @classmethod
    def load(cls, path: Path) -> SubjectIndex:
        try:
            with safe_open(str(path), "pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                info = json.loads((f.metadata() or {}).get("info", "{}"))
            if "assoc" in tensors:
                tensors["assoc"] = tensors["assoc"].float()
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

    def bias(self, ids: list[int], V: int) -> torch.Tensor:
        """What a subject adds to every character's log-probability (times the `topic`
        option): the mean association of the subject's characters with it. (V,)"""
        out = torch.zeros(V)
        if self.assoc is None:
            return out
        for i in ids:
            r = self.row.get(i)
            if r is not None:
                out.index_add_(0, self.assoc_ids[r], self.assoc[r])
        return out / max(len(ids), 1)

    def where(self, first: int) -> torch.Tensor:
        """How often poets put a character at each position, smoothed by one. (T,)"""
        r = self.row.get(first)
        T = self.positions.shape[1]
        return (self.positions[r] if r is not None else torch.zeros(T)) + 1.0
