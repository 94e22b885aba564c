"""The sampling rules: one position's log-probabilities in, one character per poem out.

Plain functions over tensors (no model, no vocabulary): temperature, min-p, top-k and
nucleus (top-p) truncation, then a draw by inverse CDF on each poem's own uniform, so a
poem's character never depends on the other poems in its batch. The decoder
(`PoemGenerator.decode` in model/generate.py) calls `choose` once per position.
"""

from __future__ import annotations

import math

import torch

from .contract import Options

NUCLEUS_PREFIX = 1024  # characters looked at first for nucleus sampling (see `nucleus`)


def choose(logp: torch.Tensor, u: torch.Tensor, opts: Options) -> torch.Tensor:
    """Temperature, min-p, top-k and nucleus (top-p, Holtzman et al. 2020) sampling by
    inverse CDF on each poem's own uniform: log-probabilities (B, V), uniforms (B,) ->
    character ids (B,). Never a character whose log-probability is -inf: a row with no
    allowed character is a bug in the constraints that built it, and raises (before, argmax
    and the draw fell silently on character 0)."""
    ids = _pick(logp, u, opts)
    if bool((logp.gather(1, ids[:, None]) == -math.inf).any()):  # (B, 1)
        raise RuntimeError("a position has no allowed character: the decoding constraints left none")
    return ids


def _pick(logp: torch.Tensor, u: torch.Tensor, opts: Options) -> torch.Tensor:
    """`choose` without its check."""
    if opts.temperature == 0:
        return logp.argmax(dim=1)
    if opts.min_p > 0:  # p >= min_p * p_max after temperature: logp >= max + T log(min_p)
        floor = logp.amax(dim=1, keepdim=True) + opts.temperature * math.log(opts.min_p)  # (B, 1)
        logp = logp.masked_fill(logp < floor, -math.inf)
    if opts.top_p < 1.0 and not (opts.top_k and opts.top_k < logp.shape[1]):
        return nucleus(logp, u, opts)
    if opts.top_k and opts.top_k < logp.shape[1]:
        vals, ids = logp.topk(opts.top_k, dim=1)  # (B, k), likeliest first
    else:
        vals, ids = logp, None
    probs = torch.softmax(vals.double() / opts.temperature, dim=1)  # (B, k)
    return draw(probs, ids, u, opts)


def nucleus(logp: torch.Tensor, u: torch.Tensor, opts: Options) -> torch.Tensor:
    """Nucleus sampling without sorting the vocabulary for every poem: the likeliest
    NUCLEUS_PREFIX characters with their true probabilities (normalised over the whole
    vocabulary) serve every row whose nucleus lies among them; the rest are sorted in full.
    Either way a row draws from exactly its nucleus."""
    vals, ids = logp.topk(min(NUCLEUS_PREFIX, logp.shape[1]), dim=1)  # (B, P), likeliest first
    lse = torch.logsumexp(logp.double() / opts.temperature, dim=1, keepdim=True)  # (B, 1)
    probs = torch.exp(vals.double() / opts.temperature - lse)  # (B, P)
    wide = probs.sum(dim=1) < opts.top_p  # (B,) rows whose nucleus reaches past the prefix
    if not bool(wide.any()):
        return draw(probs, ids, u, opts)
    out = torch.empty(len(logp), dtype=torch.long)
    narrow = ~wide
    if bool(narrow.any()):
        out[narrow] = draw(probs[narrow], ids[narrow], u[narrow], opts)
    vals, ids = logp[wide].sort(dim=1, descending=True)
    probs = torch.softmax(vals.double() / opts.temperature, dim=1)
    out[wide] = draw(probs, ids, u[wide], opts)
    return out


def draw(probs: torch.Tensor, ids: torch.Tensor | None, u: torch.Tensor, opts: Options) -> torch.Tensor:
    """Inverse CDF on each row's uniform over `probs` (B, k), likeliest first when
    top_p < 1 (then only the nucleus is kept); `ids` maps columns to characters."""
    if opts.top_p < 1.0:  # the likeliest characters that together hold top_p of the mass
        probs = probs * ((probs.cumsum(dim=1) - probs) < opts.top_p)
    cdf = probs.cumsum(dim=1)
    j = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).squeeze(1).clamp(max=probs.shape[1] - 1)  # (B,)
    # never land on a zero-probability character at a rounding edge
    j = torch.where(probs.gather(1, j[:, None]).squeeze(1) > 0, j, probs.argmax(dim=1))
    return j if ids is None else ids.gather(1, j[:, None]).squeeze(1)
