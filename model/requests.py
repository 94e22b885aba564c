"""What a request names, read with one checkpoint's vocabulary (`Requests`): a poem given as
text (`parse`: a blend's end, a poem to vary, rewrite or encode), a subject's words and an
acrostic's heads as character ids (`request_ids`), simplified characters taken to the
vocabulary's traditional ones (`traditional`), where a subject's words go in a poem
(`place_subject`), and latents given as lists of numbers (`latents`). Each refuses what it
cannot read as the contract's InputError, with a code the bot words (model/contract.py's
REFUSALS); the shape of a request (types, lengths, ranges) is the contract's `from_json`,
checked before it gets here.
"""

from __future__ import annotations

import opencc
import torch

from .checkpoint import Vocab
from .contract import MAX_LATENT, MAX_SUBJECT_WORDS, MAX_WORD, InputError, Options
from .endings import Endings
from .subjects import SubjectIndex
from .text import HAN_LINE, PUNCTUATION


class Requests:
    """A checkpoint's reading of requests: its vocabulary, its form (`lines` lines of `form`
    characters), its latent's size, its line endings, and its subject index (None: it has none)."""

    def __init__(
        self, vocab: Vocab, form: int, lines: int, latent: int, endings: Endings, subjects: SubjectIndex | None
    ):
        self.vocab, self.form, self.lines, self.latent = vocab, form, lines, latent
        self.T = form * lines
        self.endings, self.subjects = endings, subjects
        self._s2t = opencc.OpenCC("s2t")

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

    def request_ids(self, subject, acrostic, opts: Options) -> tuple[list[list[int]], list[int]]:
        """A subject's words and an acrostic's heads as character ids, checked."""
        if subject and acrostic:
            raise InputError("a poem takes a subject or an acrostic, not both", "subject_and_acrostic")
        words = self._subject_ids(subject, opts) if subject else []
        heads: list[int] = []
        if acrostic:
            if not isinstance(acrostic, str) or len(acrostic) != self.lines:
                raise InputError(
                    f"an acrostic (藏頭) is {self.lines} characters, one to start each line",
                    "acrostic_length",
                    lines=self.lines,
                )
            heads = self.characters(acrostic, "acrostic")
            if opts.no_repeat and len(set(heads)) < len(heads):
                raise InputError("the acrostic repeats a character, and a poem here never does", "acrostic_repeats")
        return words, heads

    def _subject_ids(self, subject, opts: Options) -> list[list[int]]:
        """A subject's words as character ids: 1 to MAX_SUBJECT_WORDS words that fit the poem."""
        if not isinstance(subject, (list, tuple)) or not 1 <= len(subject) <= MAX_SUBJECT_WORDS:
            raise InputError(f"a subject is 1 to {MAX_SUBJECT_WORDS} words", "subject_words", max=MAX_SUBJECT_WORDS)
        words: list[list[int]] = []
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
        return words

    def place_subject(
        self, z: torch.Tensor, words: list[list[int]], generators: list, opts: Options
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents z (B, D) drawn from the subject's Gaussian (the same seeded normal draw,
        moved and scaled) and the forced places of its words (B, T) (-1: free), drawn from
        each row's generator."""
        index = self.subjects
        B, T, form = len(z), self.T, self.form
        z = z.clone()
        if index is not None:
            mean, std = index.gaussian([i for w in words for i in w])
            D = len(mean)
            z[:, :D] = mean + std * z[:, :D]
        forced = torch.full((B, T), -1, dtype=torch.long)
        rhyme_slots = {2 * form - 1, 4 * form - 1} if opts.rhyme else set()
        # the ends of lines 1 and 3 take a word's character only where it keeps the endings regular
        # (model/endings.py): line 1's oblique or with rhyme partners (then the poem rhymes on it), line 3's oblique
        oblique = self.endings.oblique
        fits = {form - 1: oblique | self.endings.rhymable, 3 * form - 1: oblique} if opts.rhyme else {}
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
        n, count = self.form * self.lines, self.lines
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

    def latents(self, latents) -> torch.Tensor:
        """Latents given as lists of numbers (a blend's end) as a tensor (N, D), checked."""
        D = self.latent
        try:
            z = torch.tensor(latents, dtype=torch.float32)
        except (TypeError, ValueError, OverflowError, RuntimeError):  # RuntimeError: nested too deep
            raise InputError(f"a latent is a list of {D} numbers") from None
        if z.ndim != 2 or z.shape[1] != D or not torch.isfinite(z).all():
            raise InputError(f"a latent is a list of {D} finite numbers")
        if bool((z.abs() > MAX_LATENT).any()):  # far past any poem's code: the decoder's numbers overflow
            raise InputError(f"a latent's numbers lie between -{MAX_LATENT:g} and {MAX_LATENT:g}")
        return z
