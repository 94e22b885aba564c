"""Blends: the poems on a path from one poem to another, both ends included.

This module owns the paths between two latents (lerp or slerp; for a two-level code,
z_g walked while the detail code fades: `detail_path`), how each step is decoded (from
both ends inwards, each step leaning on its neighbour: `_steps`), and, for a one-level
code, the blend by crossings: each step a poem made of the ends' half-lines, chosen
along the path by Viterbi (`crossing_path`). The generator (model/generate.py) writes
every step; `PoemGenerator.interpolate` is the entry point the worker and the CLI call.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import torch

from .contract import MAX_STEPS, InputError, Options, WrittenPoem, check_seed
from .prosody import regular_scheme
from .text import split_lines

if TYPE_CHECKING:
    from .checkpoint import Checkpoint, Vocab
    from .network import PoemVAE
    from .prosody import Prosody
    from .requests import Requests


class Writer(Protocol):
    """What a blend needs of the generator that writes its steps. model/generate.py's
    `PoemGenerator` has this shape; it is named here by its shape, not imported, because
    generate imports this module (imports point one way: tests/test_imports.py)."""

    ckpt: Checkpoint
    model: PoemVAE
    vocab: Vocab
    form: int
    prosody: Prosody
    requests: Requests
    blend_options: Options

    def parse(self, text: str) -> str: ...
    def latent_of(self, parsed: str) -> list[float]: ...
    def decode_latents(
        self, latents: list[list[float]], seed: int = 0, opts: Options = ..., *, like: list[str] | None = None
    ) -> list[WrittenPoem]: ...
    def written(self, texts, z, seeds, opts) -> list[WrittenPoem]: ...
    def randomness(self, seeds: list[int], k: int = 1) -> tuple[torch.Tensor, torch.Tensor]: ...
    def decode(
        self,
        z: torch.Tensor,
        us: torch.Tensor,
        opts: Options,
        keep: torch.Tensor | None = None,
        prefer: list[tuple[torch.Tensor, float]] = (),
        *,
        like: list[str] | None = None,
    ) -> list[str]: ...
    def log_probs(self, texts: list[str], hp: torch.Tensor) -> torch.Tensor: ...


# the middle step of an odd blend leans on each neighbour by this share of the continuity (measured,
# 5-character, 100 validation pairs, 5 steps: 0.5 left the middle a jump, neighbours sharing 0.78, 0.17,
# 0.17, 0.78; 1.0 with the squared detail schedule of `detail_path`: 0.62, 0.43, 0.42, 0.64)
MIDDLE_LEAN = 1.0
# how a blend is decoded: deterministically (argmax under the same constraints), so a
# small move in the latent is a small change in the poem and a poem's own latent gives it back
BLEND = Options(temperature=0.0, guidance=1.0)


def interpolate(
    gen: Writer,
    a,
    b,
    steps: int = 5,
    method: str = "lerp",
    seed: int = 0,
    opts: Options | None = None,
    crossings: bool | None = None,
) -> list[WrittenPoem]:
    """The poems on the path from a to b (texts or latents), both ends included.

    Every step is its point on the latent path decoded (deterministically unless `opts`
    samples; then with `seed`'s uniforms). For a two-level code the path walks z_g from
    a's to b's while the detail code fades: the first half reads less and less of a's,
    the middle none, the second half more and more of b's (`detail_path`), so the ends
    are the poems and the middle is written from the blended z_g alone.

    With `crossings` (the default for a one-level code, whose path between two poems
    reads as half noise: docs/figures-one-level.md, "Blends"), each step between the ends is a crossing
    of them instead: some of their half-lines from a, the rest from b (see
    `crossings_between`), the one the model finds likeliest at that step's point on the path."""
    if crossings is None:
        crossings = not gen.ckpt.cfg.latent_global
    opts = gen.blend_options if opts is None else opts
    if not (2 <= steps <= MAX_STEPS):
        raise InputError(f"steps must be between 2 and {MAX_STEPS}")
    if method not in ("slerp", "lerp"):
        raise InputError("method is slerp or lerp")
    ends = [gen.parse(v) if isinstance(v, str) else None for v in (a, b)]  # an end given as text is itself
    za, zb = (
        torch.tensor(gen.latent_of(e)) if e is not None else gen.requests.latents([v])[0] for v, e in zip((a, b), ends)
    )
    if not crossings and gen.ckpt.cfg.latent_global:
        path, keep = detail_path(gen, za, zb, steps, method)
        if torch.equal(za, zb) and ends[0] == ends[1]:  # a poem with itself: the path is that poem
            text = ends[0] or gen.decode_latents([za.tolist()], seed=seed, opts=opts)[0].text
            return gen.written([text] * steps, path, [None] * steps, opts)
        return gen.written(_steps(gen, path, keep, ends, seed, opts), path, [None] * steps, opts)
    path = torch.stack([interpolate_latents(za, zb, i / (steps - 1), method) for i in range(steps)])
    if not crossings:  # each step ends line 1 as the end it is nearer to does, where both are texts
        like = [ends[0] if 2 * i <= steps - 1 else ends[1] for i in range(steps)] if None not in ends else None
        return gen.decode_latents(path.tolist(), seed=seed, opts=opts, like=like)
    missing = [i for i, e in enumerate(ends) if e is None]  # a latent's end is what it decodes to
    if missing:
        decoded = gen.decode_latents([(path[0], path[-1])[i].tolist() for i in missing], seed=seed, opts=opts)
        for i, p in zip(missing, decoded):
            ends[i] = p.text
    texts = crossing_path(gen, ends[0], ends[1], path, opts)
    return gen.written(texts, path, [None] * steps, opts)


def _steps(
    gen: Writer, path: torch.Tensor, keep: torch.Tensor, ends: list[str | None], seed: int, opts: Options
) -> list[str]:
    """Each point of a path (S, D) decoded, reading `keep` (S,) detail dimensions, with
    `opts.continuity` nats for the characters of the neighbour nearer its end: from both
    ends inwards, two steps a decode, and the middle of an odd path leaning on both its
    neighbours (MIDDLE_LEAN). An end given as text is itself (what the user gave is the end).
    Each step ends line 1 as the end it is nearer to does (the middle one: as a)."""
    S = len(path)
    _, us = gen.randomness([check_seed(seed)])

    def run(rows: list[int], prefer=()) -> list[str]:
        like = [texts[0] if 2 * r <= S - 1 else texts[-1] for r in rows] if None not in (texts[0], texts[-1]) else None
        return gen.decode(path[rows].float(), us.expand(len(rows), -1), opts, keep[rows], prefer, like=like)

    texts: list[str | None] = [None] * S
    texts[0], texts[-1] = ends
    missing = [r for r, e in ((0, ends[0]), (S - 1, ends[1])) if e is None]  # latents given: decoded
    if missing:
        for r, text in zip(missing, run(missing)):
            texts[r] = text
    c = opts.continuity
    for i in range(1, (S - 1) // 2 + (S % 2 == 0)):  # i from a's side, S - 1 - i from b's
        j = S - 1 - i
        ids = gen.vocab.encode_batch([texts[i - 1], texts[j + 1]])  # (2, T)
        texts[i], texts[j] = run([i, j], [(ids, c)] if c else [])
    if S % 2 and S > 2:  # the middle step
        m = S // 2
        lean = c * MIDDLE_LEAN
        prefer = [(gen.vocab.encode_batch([texts[m - 1]]), lean), (gen.vocab.encode_batch([texts[m + 1]]), lean)]
        texts[m] = run([m], prefer if c else [])[0]
    return texts


def detail_path(
    gen: Writer, za: torch.Tensor, zb: torch.Tensor, steps: int, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-level code's path: (latents (steps, D), detail dimensions read (steps,)), step i
    the point at t = i / (steps - 1) (see `path_point`)."""
    points = [path_point(gen, za, zb, i / (steps - 1), method) for i in range(steps)]
    return torch.stack([z for z, _ in points]), torch.tensor([dims for _, dims in points])


def path_point(gen: Writer, za: torch.Tensor, zb: torch.Tensor, t: float, method: str) -> tuple[torch.Tensor, int]:
    """The point a share t of the way from a to b on a two-level path, and the detail
    dimensions it reads: z_g a share t of the way from a's to b's; up to the middle a share
    (1 - 2t)^2 of a's detail code, after it (2t - 1)^2 of b's (the detail fades fast near
    the ends, where it changes a poem least)."""
    G, Dd = gen.ckpt.cfg.latent_global, gen.ckpt.cfg.latent_detail
    near, share = (za, 1 - 2 * t) if t <= 0.5 else (zb, 2 * t - 1)
    return torch.cat([interpolate_latents(za[:G], zb[:G], t, method), near[G:]]), round(share**2 * Dd)


def between(
    gen: Writer, a: str, b: str, t: float, opts: Options
) -> tuple[list[float], torch.Tensor | None, list[tuple[torch.Tensor, float]], str]:
    """A poem between two favourites a and b (parsed texts), a share t of the way from a:
    its latent, the detail dimensions it reads (None: all), the characters it leans on (each
    favourite's in their places, the nearer one more, at `opts.continuity`) and the favourite
    whose line 1 ending it takes (the nearer): `PoemGenerator.vary` decodes it."""
    za, zb = torch.tensor(gen.latent_of(a)), torch.tensor(gen.latent_of(b))
    keep = None
    if gen.ckpt.cfg.latent_global:  # the blend's point at t, its detail read a share opts.detail
        point, dims = path_point(gen, za, zb, float(t), "lerp")
        z, keep = point.tolist(), torch.tensor([round(dims * opts.detail)])
    else:
        z = interpolate_latents(za, zb, float(t), "lerp").tolist()
    prefer = []
    if opts.continuity:  # each favourite's characters in their places, the nearer one more
        ends = gen.vocab.encode_batch([a, b])  # (2, T)
        prefer = [(ends[:1], opts.continuity * (1 - t)), (ends[1:], opts.continuity * t)]
    return z, keep, prefer, a if t <= 0.5 else b


def half_lines(gen: Writer) -> list[tuple[int, int]]:
    """Each line's two halves, split at the caesura (2 + 3 characters, 4 + 3): (start, end)."""
    cut = 2 if gen.form == 5 else 4
    return [
        span
        for line in range(gen.ckpt.cfg.lines)
        for span in ((line * gen.form, line * gen.form + cut), (line * gen.form + cut, (line + 1) * gen.form))
    ]


def crossings_between(gen: Writer, a: str, b: str, opts: Options) -> tuple[list[int], list[str]]:
    """Every poem made of half-lines of a and b in their places, as (which halves come
    from b, a bit mask; text), a first and b last. A crossing between them must keep
    what `opts` asks of a poem: no character twice, lines 2 and 4 rhyming, and where both
    ends have regular line endings (`regular_scheme`), regular endings too."""
    halves = half_lines(gen)
    regular = opts.rhyme and all(regular_scheme(gen.prosody, split_lines(p, gen.form)) for p in (a, b))
    masks, texts = [], []
    for mask in range(2 ** len(halves)):
        chars = list(a)
        for k, (lo, hi) in enumerate(halves):
            if mask >> k & 1:
                chars[lo:hi] = b[lo:hi]
        text = "".join(chars)
        if 0 < mask < 2 ** len(halves) - 1:
            if opts.no_repeat and len(set(text)) < len(text):
                continue
            if opts.rhyme and not gen.prosody.rhymes(text[2 * gen.form - 1], text[4 * gen.form - 1]):
                continue
            if regular and not regular_scheme(gen.prosody, split_lines(text, gen.form)):
                continue
        masks.append(mask)
        texts.append(text)
    return masks, texts


def crossing_path(gen: Writer, a: str, b: str, path: torch.Tensor, opts: Options) -> list[str]:
    """From a to b through crossings, one a step, the likeliest path under the latents:
    maximise the sum over steps of log p(crossing | step's latent), where each step takes
    from b every half-line the step before it took, and a step repeats the poem before
    it only when no other is left (Viterbi over the crossings)."""
    if len(path) == 2:
        return [a, b]
    masks, texts = crossings_between(gen, a, b, opts)
    N, S = len(texts), len(path)
    with torch.no_grad():  # the ends are a and b themselves; each inner latent decoded once
        hp = gen.model.decode_parallel(path[1:-1].float())  # (S - 2, T, C)
        scores = (
            gen.log_probs([t for t in texts for _ in range(S - 2)], hp.repeat(N, 1, 1)).sum(1).view(N, S - 2).T
        )  # (S - 2, N)
    m = torch.tensor(masks)
    first = {}
    poem = torch.tensor([first.setdefault(t, i) for i, t in enumerate(texts)])  # (N,) one id per poem
    same = poem[:, None] == poem[None, :]  # (N, N) equal poems
    # prev -> next: next keeps every half prev took from b; an unchanged poem costs more than any score
    allowed = torch.where((m[:, None] & ~m[None, :]) == 0, 0.0, -math.inf).double()  # (N, N)
    allowed -= 1e6 * same.double()
    scores = torch.cat([scores.double(), torch.zeros(1, N, dtype=torch.float64)])  # (S - 1, N): b scores 0
    best = torch.full((N,), -math.inf, dtype=torch.float64)
    best[0] = 0.0
    back = []
    for i in range(1, S):
        total = best[:, None] + allowed + scores[i - 1][None, :]  # (N, N)
        best, arg = total.max(dim=0)
        back.append(arg)
    j, chosen = N - 1, [N - 1]  # the last step is b
    for arg in reversed(back):
        j = int(arg[j])
        chosen.append(j)
    return [texts[j] for j in reversed(chosen)]


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, t: float, method: str) -> torch.Tensor:
    """lerp, or slerp (Shoemake 1985; White 2016 for generative models), which keeps
    the path at the norm the prior expects instead of cutting through its centre."""
    if method == "lerp":
        return (1 - t) * a + t * b
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-8)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
