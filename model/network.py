"""The GCNN-VAE that writes quatrains, after Su Jianlin's poetry robot.

Su Jianlin, "Poetry robot with a VAE and gated convolutions" (kexue.fm 5332,
2018): characters are embedded, encoded by residual gated convolutions,
average-pooled into a Gaussian posterior; a decoder maps the latent to one
vector per character position and writes every character at once.

`baseline()` is his configuration. The default adds dilations and position
vectors (the encoder sees the whole poem and pooling keeps where each
character stood), a 128-d latent with free bits (it carries the poem: a
poem's own latent gives it back), and an autoregressive gated-convolution
head over the parallel decoder, trained with an auxiliary loss on the
parallel head (the hybrid of Semeniuta et al. 2017, "A Hybrid Convolutional
Variational Autoencoder for Text Generation"). Half of the head's training
poems come without their latent (`null_rate`), so the same head is also a
plain language model: sampling mixes the two (classifier-free guidance, Ho
and Salimans 2022), reconstruction and blends use the latent alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Config:
    form: int = 5  # characters per line (5 or 7)
    lines: int = 4  # lines per poem
    vocab_size: int = 0  # output characters, commonest first; the last is <unk>
    emb: int = 128  # character embedding and convolution channels
    kernel: int = 3  # convolution width
    enc_dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8])  # one GCNN per entry
    latent: int = 128  # size of z
    enc_pos: bool = True  # add a learned position vector before the encoder, so pooling keeps where a character was
    dec_dilations: list[int] = field(default_factory=lambda: [1, 2])  # parallel decoder GCNNs
    ar_dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8])  # causal head; [] = Su's
    cutoffs: list[int] = field(default_factory=lambda: [200, 1000, 3000])  # adaptive softmax; [] = full
    div_value: float = 2.0  # adaptive softmax: each tail cluster's width shrinks by this
    free_bits: float = 1.0  # nats of KL per latent dimension that cost nothing (0 = plain KL)
    kl_weight: float = 1.0  # weight of the KL term
    aux_weight: float = 1.0  # weight of the parallel head's loss when the AR head exists
    dropout: float = 0.6  # on the AR head's character inputs (word dropout keeps z in use)
    null_rate: float = 0.5  # share of training poems whose AR head sees a learned "no latent" state
    # instead of the parallel decoder's: it also learns to be a plain language model, which guided
    # sampling mixes with the latent's wishes (classifier-free guidance, Ho and Salimans 2022)
    # A two-level code (0 = one code, as before): z = [z_g, z_d]. The first `latent_global`
    # dimensions, z_g, are a low-rate code held near N(0, I) (what a new poem is drawn from); the
    # rest, z_d, a high-rate detail code (what gives a poem back). The detail is read in order
    # and cut at a random length in training (nested dropout, Rippel et al. 2014), so the
    # decoder writes from z_g alone, from z_g and the start of z_d, or from all of it.
    latent_global: int = 0
    rate_target: float = 0.0  # nats z_g should carry: its KL weight is steered there (0 = kl_weight)
    detail_drop: float = 0.0  # share of latent-reading training poems decoded from z_g alone
    detail_nest: float = 0.0  # share decoded from z_g and a random-length start of z_d

    @property
    def positions(self) -> int:
        return self.form * self.lines

    @property
    def latent_detail(self) -> int:
        """Dimensions of the detail code z_d (0 for a one-level code)."""
        return self.latent - self.latent_global if self.latent_global else 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        d = {**LEGACY, **d}  # a card written before a field existed meant the field's old value
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**known)


# what cards that predate a field meant by its absence
LEGACY = {"enc_pos": False, "null_rate": 0.0}


def baseline(form: int = 5, vocab_size: int = 0) -> Config:
    """Su Jianlin's configuration, faithfully: emb 64, two GCNNs, latent 64,
    one decoder GCNN, a full softmax shared by all positions, plain KL."""
    return Config(
        form=form,
        vocab_size=vocab_size,
        emb=64,
        enc_dilations=[1, 1],
        latent=64,
        dec_dilations=[1],
        ar_dilations=[],
        cutoffs=[],
        free_bits=0.0,
        dropout=0.0,
        enc_pos=False,
        null_rate=0.0,
    )


def tiny(form: int = 5, vocab_size: int = 0) -> Config:
    """A config small enough to train in seconds on a CPU (tests)."""
    return Config(
        form=form,
        vocab_size=vocab_size,
        emb=16,
        enc_dilations=[1, 2],
        latent=8,
        dec_dilations=[1],
        ar_dilations=[1, 2],
        cutoffs=[],
        dropout=0.0,
    )


CONFIGS = {"default": Config, "baseline": baseline, "tiny": tiny}


class GCNN(nn.Module):
    """A residual gated convolution: x + value * sigmoid(gate).

    One convolution to 2C channels split into value and gate (the GLU of
    Dauphin et al. 2017, "Language Modeling with Gated Convolutional
    Networks"). The convolution is written as a matrix product over the k
    shifted copies of the input, which is 3x faster than Conv1d on a CPU at
    these lengths. `causal` pads on the left only, so position t sees <= t.
    """

    def __init__(self, channels: int, kernel: int, dilation: int = 1, causal: bool = False):
        super().__init__()
        self.kernel, self.dilation, self.causal = kernel, dilation, causal
        self.proj = nn.Linear(kernel * channels, 2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        T, pad = x.shape[1], (self.kernel - 1) * self.dilation
        left = pad if self.causal else pad // 2
        xp = F.pad(x, (0, 0, left, pad - left))  # (B, T + pad, C)
        d = self.dilation
        taps = torch.cat([xp[:, i * d : i * d + T] for i in range(self.kernel)], dim=-1)  # (B, T, kC)
        value, gate = self.proj(taps).chunk(2, dim=-1)  # (B, T, C) each
        return x + value * torch.sigmoid(gate)

    def step(self, inputs: torch.Tensor, t: int) -> torch.Tensor:
        """The causal output at position t alone, given this layer's inputs so far.
        inputs: (B, T, C) with positions <= t filled -> (B, C)."""
        B, _, C = inputs.shape
        taps = []
        for i in range(self.kernel):
            src = t - (self.kernel - 1 - i) * self.dilation
            taps.append(inputs[:, src] if src >= 0 else inputs.new_zeros(B, C))
        value, gate = self.proj(torch.cat(taps, dim=-1)).chunk(2, dim=-1)  # (B, C) each
        return inputs[:, t] + value * torch.sigmoid(gate)


class OutputLayer(nn.Module):
    """Hidden vectors -> characters: a full softmax, or an adaptive one
    (Grave et al. 2017) when cutoffs are given, which is what makes
    training fast on a CPU: most targets never touch the rare clusters."""

    def __init__(self, cfg: Config):
        super().__init__()
        cutoffs = [c for c in cfg.cutoffs if c < cfg.vocab_size - 1]  # a small vocabulary drops some
        self.adaptive = bool(cutoffs)
        if self.adaptive:
            self.out = nn.AdaptiveLogSoftmaxWithLoss(cfg.emb, cfg.vocab_size, cutoffs=cutoffs, div_value=cfg.div_value)
        else:
            self.out = nn.Linear(cfg.emb, cfg.vocab_size)

    def nll(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-character negative log-likelihood. h: (N, C), y: (N,) -> (N,)."""
        if self.adaptive:
            return -self.out(h, y).output
        return F.cross_entropy(self.out(h), y, reduction="none")

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every character. h: (N, C) -> (N, V)."""
        if self.adaptive:
            return self.out.log_prob(h)
        return F.log_softmax(self.out(h), dim=-1)

    def log_prob_into(self, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """`log_prob` written into `out` (N, V), the same numbers without the
        vocabulary-sized temporaries: decoding calls this once per position."""
        if not self.adaptive:
            return out.copy_(F.log_softmax(self.out(h), dim=-1))
        a = self.out
        head = F.log_softmax(a.head(h), dim=1)  # (N, shortlist + clusters)
        out[:, : a.shortlist_size] = head[:, : a.shortlist_size]
        for i, (lo, hi) in enumerate(zip(a.cutoffs, a.cutoffs[1:])):
            cluster = F.log_softmax(a.tail[i](h), dim=1)  # (N, hi - lo)
            torch.add(cluster, head[:, a.shortlist_size + i, None], out=out[:, lo:hi])
        return out


class PoemVAE(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError("vocab_size must be set from the vocabulary")
        self.cfg = cfg
        C, T = cfg.emb, cfg.positions
        # one more input row than output characters: <bos>, the AR head's first input
        self.embed = nn.Embedding(cfg.vocab_size + 1, C)
        if cfg.enc_pos:
            self.enc_pos = nn.Parameter(torch.zeros(T, C))
        self.encoder = nn.Sequential(*[GCNN(C, cfg.kernel, d) for d in cfg.enc_dilations])
        self.to_mu = nn.Linear(C, cfg.latent)
        self.to_logvar = nn.Linear(C, cfg.latent)
        # Su's decoder: one dense map from z to a vector for every position
        # (a two-level code also tells the map which detail dimensions it reads)
        self.from_z = nn.Linear(cfg.latent + cfg.latent_detail, T * C)
        if cfg.latent_global:
            if not 0 < cfg.latent_global < cfg.latent:
                raise ValueError("latent_global must be between 0 and latent")
            # the KL weight of z_g, steered towards rate_target during training (saved, so resumed)
            self.register_buffer("beta_global", torch.tensor(float(cfg.kl_weight)))
        self.decoder = nn.Sequential(*[GCNN(C, cfg.kernel, d) for d in cfg.dec_dilations])
        self.parallel_out = OutputLayer(cfg)
        if cfg.ar_dilations:
            self.ar_pos = nn.Parameter(torch.zeros(T, C))
            self.ar = nn.Sequential(*[GCNN(C, cfg.kernel, d, causal=True) for d in cfg.ar_dilations])
            self.ar_out = OutputLayer(cfg)
            if cfg.null_rate > 0:
                self.null_hp = nn.Parameter(torch.zeros(T, C))

    @property
    def bos(self) -> int:
        return self.cfg.vocab_size

    @property
    def autoregressive(self) -> bool:
        return bool(self.cfg.ar_dilations)

    @property
    def can_guide(self) -> bool:
        """Whether the AR head also learnt to write without a latent (see Config.null_rate)."""
        return self.autoregressive and self.cfg.null_rate > 0

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T) character ids -> mu, logvar: (B, latent) each."""
        h = self.embed(x)  # (B, T, C)
        if self.cfg.enc_pos:
            h = h + self.enc_pos
        h = self.encoder(h)  # (B, T, C)
        h = h.mean(dim=1)  # (B, C): global average pooling
        return self.to_mu(h), self.to_logvar(h)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode_parallel(self, z: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent) -> one hidden vector per position (B, T, C). For a two-level
        code, `keep` (B,) says how many leading detail dimensions each row reads (None: all)."""
        B, T, C = z.shape[0], self.cfg.positions, self.cfg.emb
        G, Dd = self.cfg.latent_global, self.cfg.latent_detail
        if Dd:
            if keep is None:
                keep = torch.full((B,), Dd, device=z.device)
            m = (torch.arange(Dd, device=z.device) < keep[:, None]).to(z.dtype)  # (B, Dd)
            z = torch.cat([z[:, :G], z[:, G:] * m, m], dim=1)  # (B, G + 2 Dd)
        h = self.from_z(z).view(B, T, C)  # (B, T, C)
        return self.decoder(h)  # (B, T, C)

    def detail_cut(self, B: int, device=None) -> torch.Tensor:
        """Training's random cut of the detail code: (B,) dimensions kept, 0 for a share
        `detail_drop`, 1..Dd-1 for `detail_nest`, all for the rest."""
        Dd = self.cfg.latent_detail
        u = torch.rand(B, device=device)
        cut = torch.randint(1, max(Dd, 2), (B,), device=device)
        full = torch.full((B,), Dd, device=device)
        return torch.where(
            u < self.cfg.detail_drop, 0, torch.where(u < self.cfg.detail_drop + self.cfg.detail_nest, cut, full)
        )

    def decode_ar(self, hp: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """The causal head. hp: (B, T, C) parallel states; prev: (B, T') previous
        characters starting with <bos>, T' <= T -> hidden states (B, T', C)."""
        t = prev.shape[1]
        h = self.embed(prev) + hp[:, :t] + self.ar_pos[:t]  # (B, T', C)
        return self.ar(h)  # (B, T', C)

    def ar_step(self, hp: torch.Tensor, prev: torch.Tensor, t: int, cache: list[torch.Tensor]) -> torch.Tensor:
        """Incremental decoding: the AR head's hidden state at position t only.

        hp: (B, T, C) parallel states; prev: (B,) the character before t (<bos>
        at t = 0); cache: one (B, T, C) buffer per layer input, filled up to t
        by earlier calls. Costs one position per step instead of the whole prefix.
        """
        h = self.embed(prev) + hp[:, t] + self.ar_pos[t]  # (B, C)
        for layer, inputs in zip(self.ar, cache):
            inputs[:, t] = h
            h = layer.step(inputs, t)  # (B, C)
        return h

    def new_ar_cache(self, batch: int) -> list[torch.Tensor]:
        return [torch.zeros(batch, self.cfg.positions, self.cfg.emb) for _ in self.ar]

    def shifted(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T) -> <bos> followed by x[:, :-1], with word dropout in training
        (not on the rows where `keep` (B,) is true)."""
        prev = torch.cat([torch.full_like(x[:, :1], self.bos), x[:, :-1]], dim=1)  # (B, T)
        if self.training and self.cfg.dropout > 0:
            drop = torch.rand(prev.shape, device=x.device) < self.cfg.dropout
            drop[:, 0] = False
            if keep is not None:
                drop &= ~keep[:, None]
            prev = prev.masked_fill(drop, self.bos)
        return prev

    def forward(self, x: torch.Tensor, sample: bool = True):
        """x: (B, T) -> (nll_parallel (B, T), nll_ar (B, T) or None, mu, logvar)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if sample else mu
        keep = self.detail_cut(len(x), x.device) if self.training and self.cfg.latent_detail else None
        hp = self.decode_parallel(z, keep)  # (B, T, C)
        C = self.cfg.emb
        nll_p = self.parallel_out.nll(hp.reshape(-1, C), x.reshape(-1)).view_as(x)  # (B, T)
        nll_ar = None
        if self.autoregressive:
            null = None
            if self.training and self.cfg.null_rate > 0:
                null = torch.rand(x.shape[0], device=x.device) < self.cfg.null_rate  # (B,)
                hp = torch.where(null[:, None, None], self.null_hp, hp)  # no latent, no word dropout
            # rows written from z_g alone learn to write fluently from it: no word dropout either
            plain = null if keep is None else (keep == 0) | (null if null is not None else False)
            ha = self.decode_ar(hp, self.shifted(x, plain))  # (B, T, C)
            nll_ar = self.ar_out.nll(ha.reshape(-1, C), x.reshape(-1)).view_as(x)  # (B, T)
        return nll_p, nll_ar, mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per latent dimension, (B, D).

    Closed form (Kingma & Welling 2014, appendix B):
    -1/2 * (1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


@dataclass
class LossParts:
    total: torch.Tensor  # what the optimiser minimises
    recon: torch.Tensor  # reconstruction NLL summed over positions, mean over the batch
    kl: torch.Tensor  # KL summed over latent dimensions, mean over the batch
    nll_char: torch.Tensor  # reconstruction NLL per character (the head that writes)
    kl_global: torch.Tensor | None = None  # the part of `kl` in z_g (two-level codes)


def loss(
    cfg: Config, nll_p, nll_ar, mu, logvar, kl_scale: float = 1.0, beta_global: torch.Tensor | float | None = None
) -> LossParts:
    """Reconstruction + KL, returned in parts so they can be logged and annealed.

    With free bits (Kingma et al. 2016), each latent dimension's batch-mean KL
    below `free_bits` nats is not penalised, so the decoder cannot win by
    ignoring z. A two-level code's z_g pays plain KL at its own weight
    `beta_global` (steered to a target rate by the trainer); free bits apply
    to the detail code alone.
    """
    kl_dims = kl_divergence(mu, logvar)  # (B, D)
    kl = kl_dims.sum(dim=1).mean()
    G = cfg.latent_global
    kl_global = kl_dims[:, :G].sum(dim=1).mean() if G else None
    detail = kl_dims[:, G:]  # (B, D - G): the whole latent for a one-level code
    if cfg.free_bits > 0:
        kl_term = torch.clamp(detail.mean(dim=0), min=cfg.free_bits).sum()
    else:
        kl_term = detail.sum(dim=1).mean()
    if G:
        beta = cfg.kl_weight if beta_global is None else beta_global
        kl_term = kl_term + beta / cfg.kl_weight * kl_global
    recon_p = nll_p.sum(dim=1).mean()
    if nll_ar is None:
        recon, writer = recon_p, nll_p
        total_recon = recon_p
    else:
        recon, writer = nll_ar.sum(dim=1).mean(), nll_ar
        total_recon = recon + cfg.aux_weight * recon_p
    total = total_recon + cfg.kl_weight * kl_scale * kl_term
    return LossParts(total=total, recon=recon, kl=kl, nll_char=writer.mean(), kl_global=kl_global)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across poems (Burda et al.
    2016: Cov_x(E[z|x]) > 0.01). mu: (N, D) over a validation set."""
    return int((mu.var(dim=0) > threshold).sum())


@torch.no_grad()
def validate(model: PoemVAE, data: torch.Tensor, batch_size: int = 512) -> dict:
    """NLL per character (given z from the posterior mean), KL, reconstruction accuracy of the parallel head from
    the posterior mean (what the latent alone carries), and active units."""
    model.eval()
    nll_sum = kl_sum = kl_g_sum = correct = 0.0
    mus = []
    for i in range(0, len(data), batch_size):
        x = data[i : i + batch_size]  # (B, T)
        nll_p, nll_ar, mu, logvar = model(x, sample=False)
        parts = loss(model.cfg, nll_p, nll_ar, mu, logvar)
        nll_sum += parts.nll_char.item() * x.numel()
        kl_sum += parts.kl.item() * len(x)
        if parts.kl_global is not None:
            kl_g_sum += parts.kl_global.item() * len(x)
        hp = model.decode_parallel(mu)  # (B, T, C)
        pred = model.parallel_out.log_prob(hp.reshape(-1, hp.shape[-1])).argmax(-1)  # (B*T,)
        correct += (pred.view_as(x) == x).sum().item()
        mus.append(mu)
    n = len(data)
    two_level = {"kl_global": kl_g_sum / n} if model.cfg.latent_global else {}
    return {
        **two_level,
        "nll_char": nll_sum / data.numel(),
        "kl": kl_sum / n,
        "elbo_char": (nll_sum + kl_sum) / data.numel(),  # negative ELBO per character: the bound to compare
        "recon_acc": correct / data.numel(),
        "active_units": active_units(torch.cat(mus)),
    }
