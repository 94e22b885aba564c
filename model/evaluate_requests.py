"""Offline evaluation of poems on request: `python -m model evaluate-requests [--json]`.

Subjects (the word in the poem, and what the rest of the poem is about, judged by a
classifier beside real poems holding the word and beside plain samples), acrostics (the
heads exact) and rewrites (the other lines kept, the line changed), each with its fluency
under the bigram yardstick and its line endings, beside plain samples and real poems. The
yardsticks are model/evaluate.py's.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from . import corpus
from .evaluate import BigramLM, endings, fit_logistic, gram_counts, gram_index
from .generate import PoemGenerator

SUBJECTS = ("月", "秋", "春", "雨", "酒", "山", "江", "雁", "柳", "梅花")


class TopicClassifier:
    """Logistic regression on character 1- and 2-grams telling poems that hold a word from
    poems that do not, trained with the word's characters removed from every poem, so it
    judges what the rest of a poem is about."""

    def __init__(self, word: str, train: list[str], form: int, limit: int = 1500, seed: int = 0):
        rng = random.Random(seed)
        pos = [p for p in train if word in p]
        neg = [p for p in train if not any(c in p for c in word)]
        pos = rng.sample(pos, min(limit, len(pos)))
        neg = rng.sample(neg, len(pos))
        self.word, self.form = word, form
        docs = pos + neg
        self.index = gram_index(docs, form, word)
        y = torch.tensor([1.0] * len(pos) + [0.0] * len(neg))
        self.w, self.b = fit_logistic(self._features(docs), y)
        self.trained_on = len(pos)

    def _features(self, docs: list[str]) -> torch.Tensor:
        return gram_counts(docs, self.index, self.form, self.word)

    def about(self, poems: list[str]) -> float:
        """The mean probability that these poems (the word taken out) were about the word."""
        with torch.no_grad():
            return float(torch.sigmoid(self._features(poems) @ self.w + self.b).mean())


def _lines(poems: list[str], form: int) -> list[str]:
    return [p[i : i + form] for p in poems for i in range(0, len(p), form)]


def request_figures(gen: PoemGenerator, data_dir: Path, subjects=SUBJECTS, n: int = 100, seed: int = 0) -> dict:
    """Subjects (presence, topicality beside held-out real poems holding the word and beside
    plain samples, fluency), acrostics (exact heads, fluency) and rewrites (lines kept, the
    line changed, fluency beside the parents), each on n poems."""
    form = gen.form
    train = corpus.load_split(data_dir, form, "train")
    held = corpus.load_split(data_dir, form, "valid") + corpus.load_split(data_dir, form, "test")
    lm = BigramLM(list(set(_lines(train, form))))
    plain = [p.text for p in gen.sample_range(range(seed, seed + n))]
    plain_ppl = lm.perplexity(_lines(plain, form))
    rows, all_subject = subject_rows(gen, subjects, train, held, plain, lm, n, seed)
    acrostics, exact = acrostic_figures(gen, held, n, seed)
    rewritten, kept, changed = rewrite_figures(gen, plain, seed)
    return {
        "form": form,
        "n": n,
        "plain_bigram_ppl": plain_ppl,
        "subjects": rows,
        "subject_bigram_ppl": lm.perplexity(_lines(all_subject, form)),
        "subject_presence": sum(r["present"] for r in rows) / len(rows),
        "acrostic_exact": exact,
        "acrostic_bigram_ppl": lm.perplexity(_lines(acrostics, form)),
        "rewrite_lines_kept": kept,
        "rewrite_line_changed": changed,
        "rewrite_bigram_ppl": lm.perplexity(_lines(rewritten, form)),
        "parents_bigram_ppl": plain_ppl,
        # (regular scheme, line 1 rhymes) shares, beside held-out real poems'
        "endings": {
            "subject": endings(all_subject, form, gen.prosody),
            "acrostic": endings(acrostics, form, gen.prosody),
            "rewrite": endings(rewritten, form, gen.prosody),
            "real": endings(held, form, gen.prosody),
        },
    }


def subject_rows(
    gen: PoemGenerator,
    subjects,
    train: list[str],
    held: list[str],
    plain: list[str],
    lm: BigramLM,
    n: int,
    seed: int,
) -> tuple[list[dict], list[str]]:
    """Each subject's figures on n poems about it (seeds from `seed`), and all their poems."""
    rows, all_subject = [], []
    for word in subjects:
        poems = [p.text for p in gen.sample_range(range(seed, seed + n), subject=[word])]
        all_subject += poems
        clf = TopicClassifier(word, train, gen.form)
        real = [p for p in held if word in p]
        rows.append(
            {
                "subject": word,
                "present": sum(word in p for p in poems) / len(poems),
                "about_subject_poems": clf.about(poems),
                "about_real_poems": clf.about(real) if real else None,
                "about_plain_samples": clf.about(plain),
                "real_poems": len(real),
                "bigram_ppl": lm.perplexity(_lines(poems, gen.form)),
            }
        )
    return rows, all_subject


def acrostic_figures(gen: PoemGenerator, held: list[str], n: int, seed: int) -> tuple[list[str], float]:
    """n acrostics (seed + i for the i-th) on the line heads of real poems, shuffled across
    poems, and the share whose heads are exactly the ones asked for."""
    form = gen.form
    rng = random.Random(seed)
    known = [p for p in held if all(c in gen.vocab.index for c in p)]
    heads = []
    while len(heads) < n:  # the line heads of real poems, shuffled across poems
        h = "".join(rng.choice(known)[i * form] for i in range(4))
        if len(set(h)) == 4:
            heads.append(h)
    acrostics = [gen.sample_seeds([seed + i], acrostic=h)[0].text for i, h in enumerate(heads)]
    return acrostics, sum([p[i * form] for i in range(4)] == list(h) for p, h in zip(acrostics, heads)) / n


def rewrite_figures(gen: PoemGenerator, parents: list[str], seed: int) -> tuple[list[str], float, float]:
    """Each parent with line i % 4 + 1 rewritten (seed + i), the share of rewrites that keep
    the other lines exactly, and the share whose rewritten line changed."""
    form = gen.form
    rewritten = [gen.rewrite(p, i % 4 + 1, seed=seed + i).text for i, p in enumerate(parents)]
    kept = changed = 0
    for i, (p, r) in enumerate(zip(parents, rewritten)):
        lo, hi = (i % 4) * form, (i % 4 + 1) * form
        kept += p[:lo] + p[hi:] == r[:lo] + r[hi:]
        changed += p[lo:hi] != r[lo:hi]
    return rewritten, kept / len(parents), changed / len(parents)


def format_requests(r: dict) -> str:
    out = [
        f"{r['form']}-character quatrains, {r['n']} poems each; plain samples' bigram ppl {r['plain_bigram_ppl']:.1f}",
        "| subject | present | about it: subject poems | real poems holding it (n) | plain samples | bigram ppl |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["subjects"]:
        real = f"{s['about_real_poems']:.3f} ({s['real_poems']})" if s["about_real_poems"] is not None else "-"
        out.append(
            f"| {s['subject']} | {s['present']:.2f} | {s['about_subject_poems']:.3f} | {real} | "
            f"{s['about_plain_samples']:.3f} | {s['bigram_ppl']:.1f} |"
        )
    p = r["plain_bigram_ppl"]
    out += [
        f"subjects: present {r['subject_presence']:.3f}, bigram ppl {r['subject_bigram_ppl']:.1f} "
        f"({r['subject_bigram_ppl'] / p:.2f} x plain; target <= 1.15)",
        f"acrostics: heads exact {r['acrostic_exact']:.3f}, bigram ppl {r['acrostic_bigram_ppl']:.1f} "
        f"({r['acrostic_bigram_ppl'] / p:.2f} x plain; target <= 1.2)",
        f"rewrites: other lines kept {r['rewrite_lines_kept']:.3f}, line changed {r['rewrite_line_changed']:.3f}, "
        f"bigram ppl {r['rewrite_bigram_ppl']:.1f} ({r['rewrite_bigram_ppl'] / r['parents_bigram_ppl']:.2f} x "
        f"parents; target <= 1.1)",
    ]
    if "endings" in r:
        e = r["endings"]
        shares = ", ".join(f"{k} {e[k][0]:.3f} / {e[k][1]:.3f}" for k in ("subject", "acrostic", "rewrite"))
        out.append(
            f"line endings (regular scheme / line 1 rhymes): {shares}; real poems {e['real'][0]:.3f} / "
            f"{e['real'][1]:.3f} (target >= 0.97 / within 0.1 of real)"
        )
    return "\n".join(out)
