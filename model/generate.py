"""The generation API: sample, encode, vary, rewrite, interpolate. The worker and the CLI call it.

Decoding walks the poem one position at a time. For the hybrid model the
autoregressive head gives each position's distribution given z and the
characters so far; for Su's parallel model the parallel head gives it given
z alone. Either way the same constraints apply, each of which can be turned
off: no character twice, the regular line endings (lines 2 and 4 end in one
level rhyme group, line 3 oblique, line 1 in that group or oblique), and the
regulated tone pattern as a preference; those rules live in model/endings.py.

Every random number a poem uses (its latent, one uniform per position and one
for its choices) comes from a generator seeded by that poem's seed alone, so a
seed gives the same poem alone or inside any batch.

This module owns the decoder loop, the ranking of candidates and the requests
(a subject, an acrostic, a line rewritten, a variation). What a request names
is read and checked by model/requests.py; each position's character is picked
by model/sampling.py; blends live in model/blend.py and the sampler's
calibration in model/calibration.py.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import replace
from pathlib import Path

import torch

from . import blend
from .blend import BLEND
from .checkpoint import Checkpoint, CheckpointError, load, shipped
from .contract import MAX_N, InputError, Options, WrittenPoem, check_seed
from .endings import Endings
from .prosody import Prosody
from .requests import Requests
from .sampling import choose
from .text import MAX_SEED, simplified

REWRITE_CANDIDATES = 8  # lines drawn for a rewrite, the one that fits the whole poem best kept
# poems an acrostic draws, the likeliest kept: four heads forced at random break a poem's flow (measured,
# 5-character, 100 acrostics: bigram perplexity 1.29x plain samples' with one draw, 0.89x with two, 0.78x with four)
ACROSTIC_CANDIDATES = 2
# how a variation is written: the poem's own latent, sampled at temperature 1 with a quarter of
# the language model mixed in (measured: 5-character poems keep about 3 characters in 4,
# 7-character ones about half, and almost every variation differs from its poem)
VARY = Options(temperature=1.0, top_k=40, top_p=1.0, guidance=0.75)


def new_seed() -> int:
    return secrets.randbelow(2**31)


def consecutive_seeds(seed: int, n: int) -> list[int]:
    """The seeds of a request for n poems from `seed`: poem i uses seed + i, so
    `--seed 42 --n 1` is the first poem of `--seed 42 --n 5`."""
    return [seed + i for i in range(n)]


class PoemGenerator:
    """One loaded checkpoint and everything needed to write with it."""

    def __init__(self, ckpt: Checkpoint, prosody: Prosody | None = None):
        cfg = ckpt.cfg
        self.ckpt = ckpt
        self.model = ckpt.model.eval()
        self.vocab = ckpt.vocab
        self.form = cfg.form
        self.T = cfg.positions
        self.prosody = prosody or Prosody.default()
        self.endings = Endings(self.vocab, self.prosody, self.form, cfg.lines)  # the rules its lines keep
        self.requests = Requests(self.vocab, self.form, cfg.lines, cfg.latent, self.endings, ckpt.subjects)
        # how this checkpoint samples unless told otherwise: the card's measured sampler settings
        # (written by `python -m model calibrate`), read once; and how it blends, varies and writes
        # between favourites, where the card says ("blend", "vary", "favourites")
        try:
            self.default_options = replace(Options(), **ckpt.card.get("sampler", {})).check()
            self.blend_options = replace(BLEND, **ckpt.card.get("blend", {})).check()
            self.vary_options = replace(VARY, **ckpt.card.get("vary", {})).check()
            self.favourite_options = replace(VARY, **ckpt.card.get("favourites", {})).check()
        except (TypeError, InputError) as e:
            raise CheckpointError(f"checkpoint {self.version}: its card's sampler settings are broken: {e}") from None

    @classmethod
    def from_path(cls, path: Path | str | None = None, form: int = 5) -> PoemGenerator:
        return cls(load(path or shipped(form)))

    @property
    def version(self) -> str:
        return self.ckpt.version

    # -- the core: latents and uniforms in, poems out ---------------------------------------
    def randomness(
        self, seeds: list[int], k: int = 1, generators: list | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each seed's k latents (D,) and uniforms (T + 1,), from its own generator: (B * k, D)
        and (B * k, T + 1), a seed's k draws together. The first of k is what k = 1 draws.
        Uniform t < T picks position t's character; uniform T decides the poem's choices
        (whether its line 1 rhymes: model/endings.py's `first_rhymes`).

        The latent comes from the checkpoint's fitted prior where it has one (where
        real poems encode to), else from N(0, I); for a two-level code, z_g from N(0, I)
        and no detail. The seeds are checked (`check_seed`) by the caller."""
        zs, us = [], []
        prior = self.ckpt.prior
        cfg = self.ckpt.cfg
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            if generators is not None:  # each row's generator, to draw more from after these
                generators += [g] * k
            for _ in range(k):
                if cfg.latent_global:  # z_g from N(0, I); a drawn latent has no detail (zeros, not read)
                    zs.append(torch.cat([torch.randn(cfg.latent_global, generator=g), torch.zeros(cfg.latent_detail)]))
                else:
                    zs.append(prior.sample(g) if prior is not None else torch.randn(cfg.latent, generator=g))
                us.append(torch.rand(self.T + 1, generator=g, dtype=torch.float64))
        return torch.stack(zs), torch.stack(us)

    @torch.no_grad()
    def fluency(self, texts: list[str], z: torch.Tensor) -> torch.Tensor:
        """Mean log-probability per character of each text under the writing head's
        latent-free language model (given its latent z (N, D) where the head has none). (N,)"""
        return self._language_model(texts, z).mean(1)

    def _language_model(self, texts: list[str], z: torch.Tensor) -> torch.Tensor:
        """Each character's log-probability under the latent-free language model (`fluency`). (N, T)"""
        if self.model.autoregressive and self.model.can_guide:
            return self.log_probs(texts, self.model.null_hp.expand(len(texts), -1, -1))
        return self.log_probs(texts, self.model.decode_parallel(z.float()))

    @torch.no_grad()
    def rank(self, texts: list[str], z: torch.Tensor, opts: Options) -> torch.Tensor:
        """How candidates are ranked, higher better: each text's `fluency`, discounted
        (`discounted`). (N,)"""
        return self.discounted(texts, self._language_model(texts, z), opts)

    def discounted(self, texts: list[str], logp: torch.Tensor, opts: Options) -> torch.Tensor:
        """Each text's mean log-probability per character (logp (N, T)), less
        `opts.unigram_discount` times its characters' mean log share of the training poems
        (the checkpoint's `unigram`; none where it has none). Likelihood alone prefers the
        poem made of the commonest characters, which readers find bland; the discount asks
        how much the context explains each character beyond its commonness (Li et al. 2016's
        anti-language-model). (N,)"""
        if opts.unigram_discount and self.ckpt.unigram is not None:
            logp = logp - opts.unigram_discount * self.ckpt.unigram[self.vocab.encode_batch(texts)]
        return logp.mean(1)

    def log_probs(self, texts: list[str], hp: torch.Tensor) -> torch.Tensor:
        """Each character's log-probability under the writing head given the parallel
        decoder's states hp (N, T, C) (of a latent, or the head's latent-free state). (N, T)"""
        x = self.vocab.encode_batch(texts)  # (N, T)
        if self.model.autoregressive:
            h, out = self.model.decode_ar(hp, self.model.shifted(x)), self.model.ar_out  # (N, T, C)
        else:
            h, out = hp, self.model.parallel_out
        return -out.nll(h.reshape(-1, h.shape[-1]), x.reshape(-1)).view_as(x)

    def detail_keep(self, n: int, detail: float) -> torch.Tensor | None:
        """How many detail dimensions n rows read at a share `detail` (None for a one-level code). (n,)"""
        Dd = self.ckpt.cfg.latent_detail
        return torch.full((n,), round(detail * Dd)) if Dd else None

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        us: torch.Tensor,
        opts: Options,
        keep: torch.Tensor | None = None,
        prefer: list[tuple[torch.Tensor, float]] = (),
        forced: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        like: list[str] | None = None,
    ) -> list[str]:
        """Latents (B, D) and uniforms (B, T + 1) (see `randomness`) -> B poems, one position at a time. For a
        two-level code, `keep` (B,) says how many detail dimensions each row reads
        (default: the share `opts.detail`). Each (ids (B, T), nats) in `prefer` adds those
        nats to the character ids name at each position (a blend step's neighbours).
        `forced` (B, T) names a character a position must take (-1: free): a subject's
        words, an acrostic's heads, the lines a rewrite keeps; with no_repeat, a forced
        character is taken nowhere else. `bias` (V,) is added to every position's
        log-probabilities (a subject's associations). `like` names, for a poem written from
        others, the poem whose line 1 ending it takes (`Endings.first_rhymes`). The tone
        pattern, the line endings and the forced characters are model/endings.py's `Rules`."""
        opts.check()
        if keep is None:
            keep = self.detail_keep(len(z), opts.detail)
        B = len(z)
        step = self._head(z, keep, opts)
        banned = self._banned(B, opts, forced, bias)
        rules = self.endings.rules(us, opts, forced, like)
        out = torch.full((B, self.T), self.model.bos, dtype=torch.long)
        for t in range(self.T):
            logp = step(t, out)  # (B, V)
            logp.add_(banned)
            for ids, nats in prefer:
                logp.scatter_add_(1, ids[:, t : t + 1], torch.full((B, 1), nats))
            out[:, t] = choose(rules.adjust(logp, t, out), us[:, t], opts)
            rules.chose(t, out[:, t])
            if opts.no_repeat:
                banned.scatter_(1, out[:, t : t + 1], -math.inf)
        return [self.vocab.text(row) for row in out.tolist()]

    def _head(self, z: torch.Tensor, keep: torch.Tensor | None, opts: Options):
        """The writing head for latents z (B, D): a function of (t, out) giving position t's
        log-probabilities (B, V) given the characters written so far, out (B, T), in a buffer
        it rewrites at every call. The autoregressive head (mixed with its latent-free language
        model at `opts.guidance`, the latent-free rows riding along in the same batch), or with
        `opts.parallel` (or a parallel model) the parallel head, which reads z alone."""
        B, T, V = len(z), self.T, len(self.vocab)
        autoregressive = self.model.autoregressive and not opts.parallel
        w = opts.guidance
        guides = autoregressive and self.model.can_guide
        if guides and w == 0.0:  # the head's language model alone: the latent is not read at all
            hp = self.model.null_hp.expand(B, -1, -1)  # (B, T, C)
        else:
            hp = self.model.decode_parallel(z.float(), keep)  # (B, T, C)
        guided = guides and w not in (0.0, 1.0)
        if guided:  # the latent-free rows ride along in the same batch: (2B, T, C)
            hp = torch.cat([hp, self.model.null_hp.expand(B, -1, -1)])
        logp = torch.empty(B, V)  # this position's log-probabilities, rewritten every step
        if not autoregressive:
            C = hp.shape[-1]
            parallel_logp = self.model.parallel_out.log_prob(hp.reshape(-1, C)).view(B, T, V)  # (B, T, V)
            return lambda t, out: logp.copy_(parallel_logp[:, t])
        cache = self.model.new_ar_cache(len(hp))
        both = torch.empty(len(hp), V) if guided else logp

        def step(t: int, out: torch.Tensor) -> torch.Tensor:
            prev = out[:, t - 1] if t > 0 else torch.full((B,), self.model.bos)  # (B,)
            ha = self.model.ar_step(hp, prev.repeat(2) if guided else prev, t, cache)  # (B or 2B, C)
            self.model.ar_out.log_prob_into(ha, both)  # (B or 2B, V)
            if guided:
                torch.add(both[B:].mul_(1.0 - w), both[:B], alpha=w, out=logp)
            return logp

        return step

    def _banned(self, B: int, opts: Options, forced: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
        """What every position adds to its log-probabilities (B, V): the calibration and the
        `bias`, and -inf for a character a poem may not take (<unk>; with no_repeat, a forced
        character elsewhere, and each character once it is taken: the decoder adds those)."""
        # every adjustment is an addition to the log-probabilities, in place: a vocabulary-sized
        # masked_fill or where costs several times an add on a CPU, once per position
        banned = torch.zeros(B, len(self.vocab))
        if opts.calibration and self.ckpt.calibration is not None:  # and every character's calibration
            banned += opts.calibration * self.ckpt.calibration
        if bias is not None:
            banned += bias
        banned[:, self.vocab.unk] = -math.inf
        if forced is not None and opts.no_repeat:
            rows, cols = (forced >= 0).nonzero(as_tuple=True)
            banned[rows, forced[rows, cols]] = -math.inf
        return banned

    def written(self, texts, z, seeds, opts) -> list[WrittenPoem]:
        return [
            WrittenPoem(
                text=t,
                form=self.form,
                seed=s,
                latent=[round(v, 6) for v in zi],
                display=simplified(t) if opts.simplified else t,
            )
            for t, zi, s in zip(texts, z.tolist(), seeds)
        ]

    # -- the public API ---------------------------------------------------------------------
    def sample_seeds(
        self,
        seeds: list[int],
        opts: Options | None = None,
        subject: list[str] | None = None,
        acrostic: str | None = None,
    ) -> list[WrittenPoem]:
        """One poem per seed; a seed gives the same poem in any batch. Without `opts`, as
        the checkpoint samples by default (`default_options`).

        With `opts.candidates` k > 1, each seed draws k poems and keeps the one `rank`
        puts first (its language model's likeliest, less the unigram discount).

        A `subject` (1 to 3 words of 1 to 4 characters) draws the latent from where the
        training poems holding its characters encode to (the subject index) and writes
        every word into the poem, each where poets put its first character; an
        `acrostic` (4 characters) starts line i with character i."""
        opts = (self.default_options if opts is None else opts).check()
        words, heads = self.request_ids(subject, acrostic, opts)
        return self.sample_checked([check_seed(s) for s in seeds], opts, words, heads)

    def sample_checked(
        self, seeds: list[int], opts: Options, words: list[list[int]] = (), heads: list[int] = ()
    ) -> list[WrittenPoem]:
        """`sample_seeds` for a request checked already: seeds in range, `opts` checked, and
        the subject's words and the acrostic's heads as the character ids `request_ids` gives
        (the worker engine checks each request once, when it arrives)."""
        if heads and opts.candidates < ACROSTIC_CANDIDATES:
            opts = replace(opts, candidates=ACROSTIC_CANDIDATES)
        k = opts.candidates
        generators: list = []
        z, us = self.randomness(seeds, k, generators)
        forced = None
        bias = None
        if words:
            z, forced = self.requests.place_subject(z, words, generators, opts)
            if opts.topic and self.ckpt.subjects is not None:
                bias = opts.topic * self.ckpt.subjects.bias([i for w in words for i in w], len(self.vocab))
        elif heads:
            forced = torch.full((len(z), self.T), -1, dtype=torch.long)
            forced[:, :: self.form] = torch.tensor(heads)
        texts = self.decode(z, us, opts, keep=self.detail_keep(len(z), 0.0), forced=forced, bias=bias)
        if k > 1:
            best = self.rank(texts, z, opts).view(len(seeds), k).argmax(1) + torch.arange(len(seeds)) * k  # (B,)
            texts = [texts[i] for i in best.tolist()]
        # a poem's latent is where its text encodes to (what a blend or a variation starts from),
        # not the draw that steered it
        with torch.no_grad():
            z = self.model.encode(self.vocab.encode_batch(texts))[0]
        return self.written(texts, z, seeds, opts)

    def sample_range(self, seeds: range, opts: Options | None = None, **request) -> list[WrittenPoem]:
        """One poem per seed of a range of any length, MAX_N at a time (evaluation, calibration)."""
        return [
            p
            for start in range(seeds.start, seeds.stop, MAX_N)
            for p in self.sample_seeds(list(range(start, min(seeds.stop, start + MAX_N))), opts, **request)
        ]

    # -- requests: a subject, an acrostic, a line rewritten ---------------------------------
    def request_ids(self, subject, acrostic, opts: Options) -> tuple[list[list[int]], list[int]]:
        """A subject's words and an acrostic's heads as character ids, checked (model/requests.py)."""
        return self.requests.request_ids(subject, acrostic, opts)

    def sample(
        self,
        n: int = 1,
        seed: int | None = None,
        opts: Options | None = None,
        subject: list[str] | None = None,
        acrostic: str | None = None,
    ) -> list[WrittenPoem]:
        """n poems from `seed` on (see `consecutive_seeds`; without a seed, a fresh one)."""
        if not (1 <= n <= MAX_N):
            raise InputError(f"n must be between 1 and {MAX_N}")
        base = new_seed() if seed is None else check_seed(seed)
        if base + n - 1 > MAX_SEED:
            raise InputError(f"seed + n must stay below {MAX_SEED}")
        opts = (self.default_options if opts is None else opts).check()
        words, heads = self.request_ids(subject, acrostic, opts)
        return self.sample_checked(consecutive_seeds(base, n), opts, words, heads)

    def parse(self, text: str) -> str:
        """Poem text (with or without punctuation) -> unpunctuated text of this form, its
        simplified characters taken to the vocabulary's traditional ones (model/requests.py)."""
        return self.requests.parse(text)

    def encode(self, text: str) -> list[float]:
        """A poem's latent: the posterior mean."""
        return self.latent_of(self.parse(text))

    @torch.no_grad()
    def latent_of(self, parsed: str) -> list[float]:
        """The posterior mean of text that `parse` has already checked."""
        mu, _ = self.model.encode(self.vocab.encode_batch([parsed]))  # (1, D)
        return mu[0].tolist()

    def decode_latents(
        self,
        latents: list[list[float]],
        seed: int = 0,
        opts: Options = BLEND,
        keep: torch.Tensor | None = None,
        prefer: list[tuple[torch.Tensor, float]] = (),
        like: list[str] | None = None,
    ) -> list[WrittenPoem]:
        """Poems for given latents; the same seed's uniforms for every one, so the
        poems differ only where their latents do. (`keep`, `prefer`, `like`: see `decode`.)"""
        z = self.requests.latents(latents)
        _, us = self.randomness([check_seed(seed)])
        texts = self.decode(z, us.expand(len(z), -1), opts, keep, prefer, like=like)
        return self.written(texts, z, [None] * len(z), opts)

    def vary(
        self, text: str, seed: int, opts: Options | None = None, towards: str | None = None, t: float = 0.0
    ) -> WrittenPoem:
        """A poem near `text`: its own latent decoded with `seed`'s uniforms. With
        `towards`, near the point a share `t` of the way from `text` to that poem
        (a poem between two favourites). It ends line 1 as the poem it is nearer to does
        (rhyming or oblique), unless `opts.first_rhyme` says otherwise."""
        if towards is not None and not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 <= t <= 1.0):
            raise InputError("t must be a number from 0 to 1")
        if opts is None:
            opts = self.vary_options if towards is None else self.favourite_options
        parsed = self.parse(text)
        if towards is None:
            z, keep, prefer, like = self.latent_of(parsed), None, [], parsed
        else:  # a poem between favourites: a blend's point (model/blend.py)
            z, keep, prefer, like = blend.between(self, parsed, self.parse(towards), t, opts)
        poem = self.decode_latents([z], seed=seed, opts=opts, keep=keep, prefer=prefer, like=[like])[0]
        poem.seed = seed
        return poem

    @torch.no_grad()
    def rewrite(
        self, text: str, line: int, seed: int, opts: Options | None = None, candidates: int = REWRITE_CANDIDATES
    ) -> WrittenPoem:
        """`text` with line `line` (1-4) written anew: the other lines stay exactly; the new
        line differs, keeps the rules (rhyme with the line it answers, no character twice),
        and fits the whole poem: `candidates` lines are drawn from the poem's own latent with
        the rest forced, and the one under which the whole poem (the lines after it too) is
        likeliest is kept."""
        opts = self.default_options if opts is None else opts  # (a two-level code: z_g and the other lines)
        lines = self.ckpt.cfg.lines
        if isinstance(line, bool) or not isinstance(line, int) or not 1 <= line <= lines:
            raise InputError(f"a quatrain's lines are numbered 1 to {lines}", "line_range", lines=lines)
        parsed = self.parse(text)
        form = self.form
        lo, hi = (line - 1) * form, line * form
        z = torch.tensor([self.latent_of(parsed)])
        ids = torch.tensor(self.vocab.ids(parsed))
        forced = ids.repeat(candidates, 1)
        forced[:, lo:hi] = -1
        _, us = self.randomness([check_seed(seed)], candidates)
        zs, keep = z.expand(candidates, -1), self.detail_keep(candidates, opts.detail)
        texts = [t for t in dict.fromkeys(self.decode(zs, us, opts, keep, forced=forced)) if t[lo:hi] != parsed[lo:hi]]
        if not texts:
            raise InputError(
                f"line {line} has no other way to be written here that keeps the rules", "no_rewrite", line=line
            )
        hp = self.model.decode_parallel(z.expand(len(texts), -1), keep[: len(texts)] if keep is not None else None)
        # the whole poem under its own latent (the lines after the new one too), discounted as `rank` is
        best = int(self.discounted(texts, self.log_probs(texts, hp), opts).argmax())
        z = self.model.encode(self.vocab.encode_batch(texts[best : best + 1]))[0]  # (1, D)
        return self.written([texts[best]], z, [seed], opts)[0]

    def interpolate(
        self,
        a,
        b,
        steps: int = 5,
        method: str = "lerp",
        seed: int = 0,
        opts: Options | None = None,
        crossings: bool | None = None,
    ) -> list[WrittenPoem]:
        """The poems on the path from a to b (texts or latents), both ends included: see
        `interpolate` in model/blend.py, where blends live."""
        return blend.interpolate(self, a, b, steps, method, seed, opts, crossings)
