"""The generation API: sample, encode, vary, rewrite, interpolate. The worker and the CLI call it.

Decoding walks the poem one position at a time. For the hybrid model the
autoregressive head gives each position's distribution given z and the
characters so far; for Su's parallel model the parallel head gives it given
z alone. Either way the same constraints apply, each of which can be turned
off: no character twice, the regular line endings (`_ends`: lines 2 and 4 end
in one level rhyme group, line 3 oblique, line 1 in that group or oblique), and
the regulated tone pattern as a preference.

Every random number a poem uses (its latent, one uniform per position and one
for its choices) comes from a generator seeded by that poem's seed alone, so a
seed gives the same poem alone or inside any batch.

This module owns the decoder loop and its constraints, the requests (a subject,
an acrostic, a line rewritten, a variation) and the checks of what they name.
Each position's character is picked by model/sampling.py; blends live in
model/blend.py and the sampler's calibration in model/calibration.py.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import replace
from pathlib import Path

import opencc
import torch

from . import blend
from .blend import BLEND
from .checkpoint import Checkpoint, CheckpointError, load, shipped
from .contract import (
    MAX_LATENT,
    MAX_N,
    MAX_SUBJECT_WORDS,
    MAX_WORD,
    InputError,
    Options,
    WrittenPoem,
    check_seed,
)
from .prosody import Prosody, first_line_rhymes, key_pattern, key_positions
from .sampling import choose
from .text import HAN_LINE, MAX_SEED, PUNCTUATION, simplified, split_lines

REWRITE_CANDIDATES = 8  # lines drawn for a rewrite, the one that fits the whole poem best kept
# poems an acrostic draws, the likeliest kept: four heads forced at random break a poem's flow (measured,
# 5-character, 100 acrostics: bigram perplexity 1.29x plain samples' with one draw, 0.89x with two, 0.78x with four)
ACROSTIC_CANDIDATES = 2
# how a variation is written: the poem's own latent, sampled at temperature 1 with a quarter of
# the language model mixed in (measured: 5-character poems keep about 3 characters in 4,
# 7-character ones about half, and almost every variation differs from its poem)
VARY = Options(temperature=1.0, top_k=40, top_p=1.0, guidance=0.75)
# the share of poems whose line 1 rhymes with lines 2 and 4 (首句入韻) where Options.first_rhyme does not say:
# real poems' share, measured with the Pingshui tables on data/corpus/<form>/valid.txt (5-character 0.061 of
# 1,416, 7-character 0.451 of 2,195); the other poems end line 1 oblique
FIRST_RHYME = {5: 0.06, 7: 0.45}


def _first_alive(logp: torch.Tensor, tiers: list[torch.Tensor]) -> torch.Tensor:
    """`logp` (B, V) limited to each row's first tier (B, V) bool that leaves it a character;
    a row that no tier leaves one keeps `logp` as it is."""
    out = logp
    for allowed in reversed(tiers):
        limited = logp + torch.where(allowed, 0.0, -math.inf)  # (B, V)
        alive = limited.amax(dim=1, keepdim=True) > -math.inf  # (B, 1)
        out = torch.where(alive, limited, out)
    return out


def new_seed() -> int:
    return secrets.randbelow(2**31)


def consecutive_seeds(seed: int, n: int) -> list[int]:
    """The seeds of a request for n poems from `seed`: poem i uses seed + i, so
    `--seed 42 --n 1` is the first poem of `--seed 42 --n 5`."""
    return [seed + i for i in range(n)]


class PoemGenerator:
    """One loaded checkpoint and everything needed to write with it."""

    def __init__(self, ckpt: Checkpoint, prosody: Prosody | None = None):
        self.ckpt = ckpt
        self.model = ckpt.model.eval()
        self.vocab = ckpt.vocab
        self.form = ckpt.cfg.form
        self.T = ckpt.cfg.positions
        self.prosody = prosody or Prosody.default()
        self._s2t = opencc.OpenCC("s2t")
        V = len(self.vocab)
        level = torch.zeros(V, dtype=torch.bool)
        oblique = torch.zeros(V, dtype=torch.bool)
        groups: dict[str, list[int]] = {}
        for i, ch in enumerate(self.vocab.chars[:-1]):
            r = self.prosody.reading(ch)
            if r is None:
                continue
            level[i] = "ping" in r.tones
            oblique[i] = "ze" in r.tones
            for g in r.groups:
                groups.setdefault(g, []).append(i)
        self.level, self.oblique = level, oblique
        # membership of every character in every level rhyme group: (V, G)
        names = sorted(groups)
        self.groups = torch.zeros(V, len(names))
        for j, g in enumerate(names):
            self.groups[groups[g], j] = 1.0
        # a rhyme-setting character must have partners: groups of at least 20 characters
        self.rhymable = (self.groups[:, self.groups.sum(dim=0) >= 20] > 0).any(dim=1)  # (V,) bool
        # how this checkpoint samples unless told otherwise: the card's measured sampler settings
        # (written by `python -m model calibrate`), read once
        # (and blends, variations and poems between favourites, where the card says how: "blend",
        # "vary", "favourites")
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
        (whether its line 1 rhymes: `_first_rhymes`).

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

    def _pattern_level(self, us: torch.Tensor) -> torch.Tensor:
        """Whether each poem follows the pattern whose first key position is level. (B,)"""
        return us[:, 0] < 0.5

    def _first_rhymes(self, us: torch.Tensor, opts: Options, like: list[str] | None = None) -> torch.Tensor:
        """Whether each poem means its line 1 to rhyme (else to end oblique): always with
        `rhyme_first`; else drawn on each poem's own uniform for choices at the share
        `first_rhyme` (default: real poems' share of the form, FIRST_RHYME), or, where the
        poem is written from others and `first_rhyme` is not set, as the poem it is nearest
        to in `like` has it (a variation, a blend's step). (B,)"""
        if opts.rhyme_first:
            return torch.ones(len(us), dtype=torch.bool)
        if like is not None and opts.first_rhyme is None:
            return torch.tensor([self.first_line_rhymes(text) for text in like], dtype=torch.bool)
        share = opts.first_rhyme if opts.first_rhyme is not None else FIRST_RHYME.get(self.form, 0.0)
        return us[:, self.T] < share

    def first_line_rhymes(self, text: str) -> bool:
        """Whether an unpunctuated poem's line 1 rhymes with its lines 2 and 4."""
        return first_line_rhymes(self.prosody, split_lines(text, self.form))

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
        others, the poem whose line 1 ending it takes (`_first_rhymes`)."""
        opts.check()
        if keep is None:
            keep = self.detail_keep(len(z), opts.detail)
        B, T, form, V = z.shape[0], self.T, self.form, len(self.vocab)
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
        if not autoregressive:
            C = hp.shape[-1]
            parallel_logp = self.model.parallel_out.log_prob(hp.reshape(-1, C)).view(B, T, V)  # (B, T, V)
        out = torch.full((B, T), self.model.bos, dtype=torch.long)
        # every adjustment is an addition to the log-probabilities, in place: a vocabulary-sized
        # masked_fill or where costs several times an add on a CPU, once per position
        banned = torch.zeros(B, V)  # -inf for a character a poem may not take (next), else 0
        if opts.calibration and self.ckpt.calibration is not None:  # and every character's calibration
            banned += opts.calibration * self.ckpt.calibration
        if bias is not None:
            banned += bias
        banned[:, self.vocab.unk] = -math.inf
        if forced is not None and opts.no_repeat:
            rows, cols = (forced >= 0).nonzero(as_tuple=True)
            banned[rows, forced[rows, cols]] = -math.inf
        # what breaking the pattern costs, row 1 where a level character is wanted, row 0 oblique
        tone_cost = -opts.tone_penalty * torch.stack([~self.oblique, ~self.level]).float()  # (2, V)
        first_level = self._pattern_level(us)  # (B,)
        pattern = key_pattern(form, self.ckpt.cfg.lines, True)  # the other pattern is its complement
        keys = key_positions(form)
        first_rhymes = self._first_rhymes(us, opts, like)  # (B,)
        rhyme = torch.ones(B, self.groups.shape[1], dtype=torch.bool)  # (B, G) the groups the poem may rhyme in
        cache = self.model.new_ar_cache(len(hp)) if autoregressive else None
        logp = torch.empty(B, V)  # this position's log-probabilities, rewritten every step
        both = torch.empty(len(hp), V) if guided else logp
        for t in range(T):
            if autoregressive:
                prev = out[:, t - 1] if t > 0 else torch.full((B,), self.model.bos)  # (B,)
                ha = self.model.ar_step(hp, prev.repeat(2) if guided else prev, t, cache)  # (B or 2B, C)
                self.model.ar_out.log_prob_into(ha, both)  # (B or 2B, V)
                if guided:
                    torch.add(both[B:].mul_(1.0 - w), both[:B], alpha=w, out=logp)
            else:
                logp.copy_(parallel_logp[:, t])
            logp.add_(banned)
            for ids, nats in prefer:
                logp.scatter_add_(1, ids[:, t : t + 1], torch.full((B, 1), nats))
            line, col = divmod(t, form)
            if opts.tone and col in keys:
                want_level = first_level == pattern[line][keys.index(col)]  # (B,)
                logp.add_(tone_cost.index_select(0, want_level.long()))  # (B, V)
            end = opts.rhyme and col == form - 1
            adjusted = self._ends(logp, line, out, forced, first_rhymes, rhyme) if end else logp
            if forced is not None:
                adjusted = self._force(adjusted, forced, t)
            out[:, t] = choose(adjusted, us[:, t], opts)
            if end:
                rhyme = self._rhyme_after(rhyme, line, out[:, t], forced, first_rhymes)
            if opts.no_repeat:
                banned.scatter_(1, out[:, t : t + 1], -math.inf)
        return [self.vocab.text(row) for row in out.tolist()]

    def _force(self, logp: torch.Tensor, forced: torch.Tensor, t: int) -> torch.Tensor:
        """Position t's log-probabilities with the forced characters: a forced row can take its
        character alone (whatever the other rules would allow there)."""
        f = forced[:, t]
        rows = f >= 0
        if not bool(rows.any()):
            return logp
        logp = logp.clone()
        logp[rows] = -math.inf
        logp[rows, f[rows]] = 0.0
        return logp

    # -- the line endings -------------------------------------------------------------------
    # A regular quatrain: lines 2 and 4 end in one level rhyme group, line 3 ends oblique, and
    # line 1 ends in that group (首句入韻) or oblique (model/prosody.py's `regular_scheme`). Line 1
    # is written before the group is known, so a poem that means line 1 to rhyme (`_first_rhymes`)
    # ends it on a character with rhyme partners, and that character's groups become the poem's.
    # The characters a rewrite or a subject forces are kept as they are; the free line ends are
    # fitted to them (a rewrite of line 2 or 4 keeps the group of the lines it keeps).
    def _sharing(self, groups: torch.Tensor) -> torch.Tensor:
        """Characters sharing a level rhyme group with each row's groups (B, G): (B, V) bool."""
        return (groups.float() @ self.groups.T) > 0

    def _kept_groups(self, forced: torch.Tensor | None, line: int, B: int) -> torch.Tensor:
        """The groups of the forced rhyme ends (lines 2 and 4) after line `line`, which a free
        line end must rhyme with: (B, G) bool, all True where none is forced."""
        kept = torch.ones(B, self.groups.shape[1], dtype=torch.bool)
        if forced is None:
            return kept
        for later in (1, 3):
            if later > line:
                f = forced[:, later * self.form + self.form - 1]  # (B,)
                kept &= torch.where((f >= 0)[:, None], self.groups[f.clamp_min(0)] > 0, True)
        return kept

    def _ends(self, logp, line, out, forced, first_rhymes, rhyme) -> torch.Tensor:
        """Line `line`'s (0-based) last position: its log-probabilities with the characters the
        regular endings allow, given the groups the poem may still rhyme in, `rhyme` (B, G).
        Rules relax in a stated order where they leave a row no character (every partner taken,
        a kept end in no level group), so no position is left with no character:
          line 1: the ending the row drew (in the rhyme, or oblique), then the other one, then any;
          line 2: the poem's group (line 1's where it rhymes, a kept line 4's), then the kept
            line 4's alone, then any;
          line 3: oblique, then any;
          line 4: the group of lines 1 and 2, then line 2's alone, then any.
        No character twice still holds throughout, and the tone pattern stays a preference."""
        B = len(logp)
        kept = self._kept_groups(forced, line, B)  # (B, G)
        target = rhyme & kept
        # a row that starts the rhyme (no line before or after it fixes a group) takes a character
        # with rhyme partners; a row with a group shares it
        starts = target.all(dim=1, keepdim=True)  # (B, 1)
        rhymes = torch.where(starts, self.rhymable, self._sharing(target))  # (B, V)
        oblique = self.oblique.expand(B, -1)
        if line == 0:
            meant = first_rhymes[:, None]
            tiers = [torch.where(meant, rhymes, oblique), torch.where(meant, oblique, rhymes)]
        elif line == 1:
            tiers = [rhymes, torch.where(kept.all(dim=1, keepdim=True), self.rhymable, self._sharing(kept))]
        elif line == 2:
            tiers = [oblique]
        else:
            line2 = out[:, 2 * self.form - 1]  # (B,)
            tiers = [self._sharing(rhyme), self._sharing(self.groups[line2] > 0)]
        return _first_alive(logp, tiers)

    def _rhyme_after(self, rhyme, line, chosen, forced, first_rhymes) -> torch.Tensor:
        """The groups the poem may rhyme in once line `line` ends on `chosen` (B,): line 1's
        groups where it rhymes (it was meant to, or it ends level only, as a kept line 1 may),
        narrowed by line 2's; unchanged after lines 3 and 4."""
        groups = self.groups[chosen] > 0  # (B, G)
        if line == 0:
            kept = self._kept_groups(forced, line, len(chosen))
            sets = groups & kept
            anchored = (first_rhymes | ~self.oblique[chosen]) & sets.any(dim=1)  # (B,)
            return torch.where(anchored[:, None], sets, rhyme)
        if line == 1:
            both = rhyme & groups
            return torch.where(both.any(dim=1, keepdim=True), both, groups)
        return rhyme

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
        words, heads = self.request(subject, acrostic, opts)
        return self.sample_checked([check_seed(s) for s in seeds], opts, words, heads)

    def sample_checked(
        self, seeds: list[int], opts: Options, words: list[list[int]] = (), heads: list[int] = ()
    ) -> list[WrittenPoem]:
        """`sample_seeds` for a request checked already: seeds in range, `opts` checked, and
        the subject's words and the acrostic's heads as the character ids `request` gives
        (the worker engine checks each request once, when it arrives)."""
        if heads and opts.candidates < ACROSTIC_CANDIDATES:
            opts = replace(opts, candidates=ACROSTIC_CANDIDATES)
        k = opts.candidates
        generators: list = []
        z, us = self.randomness(seeds, k, generators)
        forced = None
        bias = None
        if words:
            z, forced = self._subject(z, words, generators, opts)
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
    def traditional(self, text: str) -> tuple[str, list[str]]:
        """`text` in the vocabulary's traditional characters, and the characters it cannot map.

        Text the vocabulary knows whole is kept as it is (a traditional 余 stays 余). Otherwise
        the text is converted whole by OpenCC's s2t, whose phrase tables choose by the word
        (白发 -> 白髮, 钟声 -> 鐘聲, 余晖 -> 餘暉, where one character at a time gives 白發, 鍾聲,
        余暉), and each character takes its conversion where the vocabulary knows it."""
        if all(ch in self.vocab.index for ch in text):
            return text, []
        whole = self._s2t.convert(text)
        if len(whole) != len(text):  # (s2t maps a character to one character; never seen otherwise)
            whole = "".join(self._s2t.convert(ch) for ch in text)
        mapped, unknown = [], []
        for ch, alt in zip(text, whole):
            if alt in self.vocab.index:
                mapped.append(alt)
            elif ch in self.vocab.index:
                mapped.append(ch)
            else:
                unknown.append(ch)
        return "".join(mapped), unknown

    def characters(self, text: str, field: str) -> list[int]:
        """A request's characters (`field`: "subject", a word of it, or "acrostic") as the
        model's ids (a simplified character the vocabulary lacks mapped to its traditional
        form), or an error naming those it does not know."""
        what = f"the subject {text}" if field == "subject" else f"the {field}"
        if not isinstance(text, str) or not text:
            raise InputError(f"{what} is empty", "empty", field=field, text="")
        bad = [ch for ch in text if not HAN_LINE.match(ch)]
        if bad:
            found = ", ".join(repr(c) for c in bad[:4])
            raise InputError(
                f"{what} must be written in Chinese characters, and {found} {'is' if len(bad) == 1 else 'are'} not",
                "not_chinese",
                field=field,
                text=text,
                found=bad[:4],
            )
        mapped, unknown = self.traditional(text)
        ids = [self.vocab.index[ch] for ch in mapped]
        if unknown:
            unknown = list(dict.fromkeys(unknown))
            raise InputError(
                f"the model does not know the character{'s' if len(unknown) > 1 else ''} {'、'.join(unknown)} ({what})",
                "unknown_characters",
                field=field,
                text=text,
                chars=unknown,
            )
        return ids

    def request(self, subject, acrostic, opts: Options) -> tuple[list[list[int]], list[int]]:
        """A subject's words and an acrostic's heads as character ids, checked."""
        if subject and acrostic:
            raise InputError("a poem takes a subject or an acrostic, not both", "subject_and_acrostic")
        words: list[list[int]] = []
        if subject:
            if not isinstance(subject, (list, tuple)) or not 1 <= len(subject) <= MAX_SUBJECT_WORDS:
                raise InputError(f"a subject is 1 to {MAX_SUBJECT_WORDS} words", "subject_words", max=MAX_SUBJECT_WORDS)
            for w in subject:
                if not isinstance(w, str) or not 1 <= len(w) <= MAX_WORD:
                    raise InputError(
                        f"a subject word is 1 to {MAX_WORD} Chinese characters; got {w!r}"[:200],
                        "subject_word_length",
                        max=MAX_WORD,
                        word=str(w)[:20],
                    )
                words.append(self.characters(w, "subject"))
            flat = [i for w in words for i in w]
            if opts.no_repeat and len(set(flat)) < len(flat):
                raise InputError("the subject repeats a character, and a poem here never does", "subject_repeats")
            if len(flat) > 2 * self.form:
                raise InputError(
                    f"the subject is too long for a {self.form}-character quatrain", "subject_too_long", form=self.form
                )
            if any(len(w) > self.form for w in words):
                raise InputError(
                    f"a subject word longer than a line ({self.form} characters) does not fit",
                    "subject_word_too_long",
                    form=self.form,
                )
        heads: list[int] = []
        if acrostic:
            if not isinstance(acrostic, str) or len(acrostic) != self.ckpt.cfg.lines:
                lines = self.ckpt.cfg.lines
                raise InputError(
                    f"an acrostic (藏頭) is {lines} characters, one to start each line", "acrostic_length", lines=lines
                )
            heads = self.characters(acrostic, "acrostic")
            if opts.no_repeat and len(set(heads)) < len(heads):
                raise InputError("the acrostic repeats a character, and a poem here never does", "acrostic_repeats")
        return words, heads

    def _subject(
        self, z: torch.Tensor, words: list[list[int]], generators: list, opts: Options
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents drawn from the subject's Gaussian (the same seeded normal draw, moved and
        scaled) and the forced places of its words, drawn from each row's generator."""
        index = self.ckpt.subjects
        B, T, form = len(z), self.T, self.form
        z = z.clone()
        if index is not None:
            mean, std = index.gaussian([i for w in words for i in w])
            D = len(mean)
            z[:, :D] = mean + std * z[:, :D]
        forced = torch.full((B, T), -1, dtype=torch.long)
        rhyme_slots = {2 * form - 1, 4 * form - 1} if opts.rhyme else set()
        # the ends of lines 1 and 3 take a word's character only where it keeps the endings regular
        # (`_ends`): line 1's oblique or with rhyme partners (then the poem rhymes on it), line 3's oblique
        fits = {form - 1: self.oblique | self.rhymable, 3 * form - 1: self.oblique} if opts.rhyme else {}
        order = sorted(range(len(words)), key=lambda j: -len(words[j]))  # longest first: it has fewest places
        for b, g in enumerate(generators):
            taken: set[int] = set()
            for j in order:
                w = words[j]
                starts = [
                    p
                    for p in range(T)
                    if p % form + len(w) <= form
                    and not ({*range(p, p + len(w))} & (taken | rhyme_slots))
                    and all(bool(fits[q][w[q - p]]) for q in range(p, p + len(w)) if q in fits)
                ]
                if not starts:
                    raise InputError(
                        f"the subject's words do not fit together in a {form}-character quatrain",
                        "subject_does_not_fit",
                        form=form,
                    )
                weights = (index.where(w[0]) if index is not None else torch.ones(T))[starts]
                p = starts[int(torch.multinomial(weights, 1, generator=g))]
                forced[b, p : p + len(w)] = torch.tensor(w)
                taken |= set(range(p, p + len(w)))
        return z, forced

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
        words, heads = self.request(subject, acrostic, opts)
        return self.sample_checked(consecutive_seeds(base, n), opts, words, heads)

    def parse(self, text: str) -> str:
        """Poem text (with or without punctuation) -> unpunctuated text of this form.

        A simplified character that the vocabulary lacks is mapped to its
        traditional form (OpenCC s2t) when that one is known.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("the poem is empty", "poem_empty")
        if len(text) > 400:
            raise InputError("that is too long to be a quatrain", "poem_too_long")
        lines = [line for line in PUNCTUATION.split(text.strip()) if line]
        chars = "".join(lines)
        bad = list(dict.fromkeys(ch for ch in chars if not HAN_LINE.match(ch)))  # in reading order
        if bad:
            more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
            found = ", ".join(ascii(ch) if not ch.isprintable() else repr(ch) for ch in bad[:8])
            raise InputError(
                f"a poem is written in Chinese characters only; found {found}{more}",
                "poem_not_chinese",
                found=bad[:8],
                more=max(0, len(bad) - 8),
            )
        n, count = self.form * self.ckpt.cfg.lines, self.ckpt.cfg.lines
        if len(chars) != n:
            raise InputError(
                f"a {self.form}-character quatrain has {n} characters ({count} lines of {self.form}); this has {len(chars)}",
                "poem_length",
                form=self.form,
                lines=count,
                expected=n,
                got=len(chars),
            )
        if len(lines) > 1 and (len(lines) != 4 or any(len(line) != self.form for line in lines)):
            lengths = [len(line) for line in lines]
            raise InputError(
                f"a quatrain has 4 lines of {self.form} characters; got line lengths {lengths}",
                "poem_lines",
                form=self.form,
                lengths=lengths,
            )
        mapped, unknown = self.traditional(chars)
        if unknown:
            unknown = sorted(set(unknown))
            raise InputError(
                f"the model does not know these characters: {''.join(unknown)}",
                "poem_unknown_characters",
                chars=unknown,
            )
        return mapped

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
        z = self.as_latents(latents)
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
        z, keep, prefer, like = self.latent_of(parsed), None, [], parsed
        if towards is not None:
            other = self.parse(towards)
            like = parsed if t <= 0.5 else other
            za, zb = torch.tensor(z), torch.tensor(self.latent_of(other))
            if self.ckpt.cfg.latent_global:  # the blend's point at t, its detail read a share opts.detail
                point, dims = blend.path_point(self, za, zb, float(t), "lerp")
                z, keep = point.tolist(), torch.tensor([round(dims * opts.detail)])
            else:
                z = blend.interpolate_latents(za, zb, float(t), "lerp").tolist()
            if opts.continuity:  # each favourite's characters in their places, the nearer one more
                ends = self.vocab.encode_batch([parsed, other])  # (2, T)
                prefer = [(ends[:1], opts.continuity * (1 - t)), (ends[1:], opts.continuity * t)]
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
        poem = self.written(
            [texts[best]], self.model.encode(self.vocab.encode_batch(texts[best : best + 1]))[0], [seed], opts
        )[0]
        return poem

    def as_latents(self, latents) -> torch.Tensor:
        D = self.ckpt.cfg.latent
        try:
            z = torch.tensor(latents, dtype=torch.float32)
        except (TypeError, ValueError, OverflowError, RuntimeError):  # RuntimeError: nested too deep
            raise InputError(f"a latent is a list of {D} numbers") from None
        if z.ndim != 2 or z.shape[1] != D or not torch.isfinite(z).all():
            raise InputError(f"a latent is a list of {D} finite numbers")
        if bool((z.abs() > MAX_LATENT).any()):  # far past any poem's code: the decoder's numbers overflow
            raise InputError(f"a latent's numbers lie between -{MAX_LATENT:g} and {MAX_LATENT:g}")
        return z

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
