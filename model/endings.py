"""The rules a poem is written under, as tensors over one vocabulary: the regulated tone
pattern at the key positions (a preference), the regular line endings, and the characters a
request forces. `Endings` is built once per checkpoint from its vocabulary and the Pingshui
tables (model/prosody.py); `Endings.rules` gives one batch of poems its `Rules`, which the
decoder (`PoemGenerator.decode` in model/generate.py) asks at each position for the
log-probabilities they leave (`adjust`) and tells what it chose (`chose`).

A regular quatrain: lines 2 and 4 end in one level rhyme group, line 3 ends oblique, and
line 1 ends in that group (首句入韻) or oblique (model/prosody.py's `regular_scheme`). Line 1
is written before the group is known, so a poem that means line 1 to rhyme (`first_rhymes`)
ends it on a character with rhyme partners, and that character's groups become the poem's.
The characters a rewrite or a subject forces are kept as they are; the free line ends are
fitted to them (a rewrite of line 2 or 4 keeps the group of the lines it keeps).
"""

from __future__ import annotations

import math

import torch

from .checkpoint import Vocab
from .contract import Options
from .prosody import Prosody, first_line_rhymes, key_pattern, key_positions
from .text import split_lines

# the share of poems whose line 1 rhymes with lines 2 and 4 (首句入韻) where Options.first_rhyme does not say:
# real poems' share, measured with the Pingshui tables on data/corpus/<form>/valid.txt (5-character 0.061 of
# 1,416, 7-character 0.451 of 2,195); the other poems end line 1 oblique
FIRST_RHYME = {5: 0.06, 7: 0.45}


def first_alive(logp: torch.Tensor, tiers: list[torch.Tensor]) -> torch.Tensor:
    """`logp` (B, V) limited to each row's first tier (B, V) bool that leaves it a character;
    a row that no tier leaves one keeps `logp` as it is."""
    out = logp
    for allowed in reversed(tiers):
        limited = logp + torch.where(allowed, 0.0, -math.inf)  # (B, V)
        alive = limited.amax(dim=1, keepdim=True) > -math.inf  # (B, 1)
        out = torch.where(alive, limited, out)
    return out


def force(logp: torch.Tensor, forced: torch.Tensor, t: int) -> torch.Tensor:
    """Position t's log-probabilities (B, V) with the forced characters (B, T) (-1: free): a
    forced row can take its character alone (whatever the other rules would allow there)."""
    f = forced[:, t]
    rows = f >= 0
    if not bool(rows.any()):
        return logp
    logp = logp.clone()
    logp[rows] = -math.inf
    logp[rows, f[rows]] = 0.0
    return logp


class Endings:
    """The tones and level rhyme groups of a vocabulary's characters, and the line-ending rules
    over them, for poems of `lines` lines of `form` characters."""

    def __init__(self, vocab: Vocab, prosody: Prosody, form: int, lines: int):
        self.prosody, self.form, self.lines = prosody, form, lines
        V = len(vocab)
        level = torch.zeros(V, dtype=torch.bool)
        oblique = torch.zeros(V, dtype=torch.bool)
        groups: dict[str, list[int]] = {}
        for i, ch in enumerate(vocab.chars[:-1]):  # (not <unk>)
            r = prosody.reading(ch)
            if r is None:
                continue
            level[i] = "ping" in r.tones
            oblique[i] = "ze" in r.tones
            for g in r.groups:
                groups.setdefault(g, []).append(i)
        self.level, self.oblique = level, oblique  # (V,) bool
        # membership of every character in every level rhyme group: (V, G)
        names = sorted(groups)
        self.groups = torch.zeros(V, len(names))
        for j, g in enumerate(names):
            self.groups[groups[g], j] = 1.0
        # a rhyme-setting character must have partners: groups of at least 20 characters
        self.rhymable = (self.groups[:, self.groups.sum(dim=0) >= 20] > 0).any(dim=1)  # (V,) bool

    def rules(
        self, us: torch.Tensor, opts: Options, forced: torch.Tensor | None = None, like: list[str] | None = None
    ) -> Rules:
        """The rules for a batch of poems with uniforms us (B, T + 1) (see
        `PoemGenerator.randomness`), forced characters (B, T) (-1: free) and, for poems written
        from others, the poems whose line 1 ending they take (`first_rhymes`)."""
        return Rules(self, us, opts, forced, like)

    def pattern_level(self, us: torch.Tensor) -> torch.Tensor:
        """Whether each poem follows the pattern whose first key position is level. (B,)"""
        return us[:, 0] < 0.5

    def first_rhymes(self, us: torch.Tensor, opts: Options, like: list[str] | None = None) -> torch.Tensor:
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
        return us[:, -1] < share

    def first_line_rhymes(self, text: str) -> bool:
        """Whether an unpunctuated poem's line 1 rhymes with its lines 2 and 4."""
        return first_line_rhymes(self.prosody, split_lines(text, self.form))

    def sharing(self, groups: torch.Tensor) -> torch.Tensor:
        """Characters sharing a level rhyme group with each row's groups (B, G): (B, V) bool."""
        return (groups.float() @ self.groups.T) > 0

    def kept_groups(self, forced: torch.Tensor | None, line: int, B: int) -> torch.Tensor:
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

    def ends(self, logp, line, out, forced, first_rhymes, rhyme) -> torch.Tensor:
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
        kept = self.kept_groups(forced, line, B)  # (B, G)
        target = rhyme & kept
        # a row that starts the rhyme (no line before or after it fixes a group) takes a character
        # with rhyme partners; a row with a group shares it
        starts = target.all(dim=1, keepdim=True)  # (B, 1)
        rhymes = torch.where(starts, self.rhymable, self.sharing(target))  # (B, V)
        oblique = self.oblique.expand(B, -1)
        if line == 0:
            meant = first_rhymes[:, None]
            tiers = [torch.where(meant, rhymes, oblique), torch.where(meant, oblique, rhymes)]
        elif line == 1:
            tiers = [rhymes, torch.where(kept.all(dim=1, keepdim=True), self.rhymable, self.sharing(kept))]
        elif line == 2:
            tiers = [oblique]
        else:
            line2 = out[:, 2 * self.form - 1]  # (B,)
            tiers = [self.sharing(rhyme), self.sharing(self.groups[line2] > 0)]
        return first_alive(logp, tiers)

    def rhyme_after(self, rhyme, line, chosen, forced, first_rhymes) -> torch.Tensor:
        """The groups the poem may rhyme in once line `line` ends on `chosen` (B,): line 1's
        groups where it rhymes (it was meant to, or it ends level only, as a kept line 1 may),
        narrowed by line 2's; unchanged after lines 3 and 4."""
        groups = self.groups[chosen] > 0  # (B, G)
        if line == 0:
            kept = self.kept_groups(forced, line, len(chosen))
            sets = groups & kept
            anchored = (first_rhymes | ~self.oblique[chosen]) & sets.any(dim=1)  # (B,)
            return torch.where(anchored[:, None], sets, rhyme)
        if line == 1:
            both = rhyme & groups
            return torch.where(both.any(dim=1, keepdim=True), both, groups)
        return rhyme


class Rules:
    """One batch's rules while it is written, position by position: the tone pattern each
    poem drew (`Endings.pattern_level`), whether it means line 1 to rhyme, the groups it may
    still rhyme in, and its forced characters."""

    def __init__(
        self, endings: Endings, us: torch.Tensor, opts: Options, forced: torch.Tensor | None, like: list[str] | None
    ):
        self.endings, self.opts, self.forced = endings, opts, forced
        form = endings.form
        # what breaking the pattern costs, row 1 where a level character is wanted, row 0 oblique
        self.tone_cost = -opts.tone_penalty * torch.stack([~endings.oblique, ~endings.level]).float()  # (2, V)
        self.first_level = endings.pattern_level(us)  # (B,)
        self.pattern = key_pattern(form, endings.lines, True)  # the other pattern is its complement
        self.keys = key_positions(form)
        self.first_rhymes = endings.first_rhymes(us, opts, like)  # (B,)
        self.rhyme = torch.ones(len(us), endings.groups.shape[1], dtype=torch.bool)  # (B, G) groups it may rhyme in

    def _ends_line(self, t: int) -> bool:
        return self.opts.rhyme and t % self.endings.form == self.endings.form - 1

    def adjust(self, logp: torch.Tensor, t: int, out: torch.Tensor) -> torch.Tensor:
        """Position t's log-probabilities logp (B, V) under the rules, given the characters
        written so far, out (B, T): the tone pattern's cost added (in place), then at a line's
        end the characters the endings allow, then the forced characters."""
        line, col = divmod(t, self.endings.form)
        if self.opts.tone and col in self.keys:
            want_level = self.first_level == self.pattern[line][self.keys.index(col)]  # (B,)
            logp.add_(self.tone_cost.index_select(0, want_level.long()))  # (B, V)
        if self._ends_line(t):
            logp = self.endings.ends(logp, line, out, self.forced, self.first_rhymes, self.rhyme)
        if self.forced is not None:
            logp = force(logp, self.forced, t)
        return logp

    def chose(self, t: int, chosen: torch.Tensor) -> None:
        """Position t took `chosen` (B,): at a line's end, the groups the poem may rhyme in narrow."""
        if self._ends_line(t):
            line = t // self.endings.form
            self.rhyme = self.endings.rhyme_after(self.rhyme, line, chosen, self.forced, self.first_rhymes)
