"""The generation API and the shipped checkpoint, as the worker and the CLI use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.checkpoint import shipped
from model.blend import BLEND, crossings_between, half_lines
from model.generate import InputError, Options, PoemGenerator
from model.prosody import Prosody, tone_key_accuracy

ROOT = Path(__file__).resolve().parents[1]
POEM_A = "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。"
POEM_B = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"


# the shipped checkpoint knows the characters of famous poems; the tiny one does not --------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped5():
    if not shipped(5).with_suffix(".json").exists():
        pytest.fail("the shipped 5-character checkpoint is missing from model/checkpoints/")
    return PoemGenerator.from_path(shipped(5))


def test_a_seed_gives_the_same_poem_alone_or_in_any_batch(generator):
    alone = generator.sample_seeds([42])[0].text
    assert generator.sample_seeds([7, 42, 9])[1].text == alone
    assert generator.sample_seeds(list(range(30, 60)) + [42])[-1].text == alone
    assert generator.sample(1, seed=42)[0].text == alone
    assert generator.sample(3, seed=41)[1].text == alone  # poem i of a run uses seed + i
    assert len({p.text for p in generator.sample(8, seed=0)}) == 8


def test_constraints_hold_on_every_sample(generator):
    prosody = Prosody.default()
    for p in generator.sample(64, seed=1000):
        lines = p.lines
        assert len(p.text) == 20 and "<unk>" not in p.text
        assert len(set(p.text)) == 20, f"a character repeats in {p.text}"
        assert prosody.rhymes(lines[1][-1], lines[3][-1]), f"lines 2 and 4 do not rhyme in {p.text}"
        assert prosody.is_level(lines[1][-1])
    first = generator.sample(32, seed=5, opts=Options(rhyme_first=True))
    assert all(prosody.rhymes(p.lines[0][-1], p.lines[1][-1]) for p in first)
    strict = generator.sample(32, seed=5, opts=Options(tone_penalty=100))
    assert all(tone_key_accuracy(prosody, p.lines) == 1.0 for p in strict)


def test_constraints_can_be_turned_off(generator):
    free = Options(no_repeat=False, rhyme=False, tone=False, temperature=1.5, top_k=0)
    poems = generator.sample(64, seed=3, opts=free)
    assert any(len(set(p.text)) < 20 for p in poems), "with repeats allowed some poem repeats"
    prosody = Prosody.default()
    assert any(not prosody.rhymes(p.lines[1][-1], p.lines[3][-1]) for p in poems), "with rhyme off some do not"
    assert any(tone_key_accuracy(prosody, p.lines) < 1.0 for p in poems), "with tone off some break the pattern"


def test_simplified_output_converts_only_the_display(generator):
    p = generator.sample(1, seed=11, opts=Options(simplified=True))[0]
    q = generator.sample(1, seed=11)[0]
    assert p.text == q.text
    import opencc

    assert p.display == opencc.OpenCC("t2s").convert(q.text)


def test_encode_accepts_text_with_or_without_punctuation_and_simplified(shipped5):
    z = shipped5.encode(POEM_A)
    assert len(z) == shipped5.ckpt.cfg.latent
    assert shipped5.encode(POEM_A.replace("，", "").replace("。", "")) == z
    assert shipped5.encode("白日依山盡\n黃河入海流\n欲窮千里目\n更上一層樓") == z
    # a simplified character the model lacks is read as its traditional form
    assert "尽" not in shipped5.vocab.index and "穷" not in shipped5.vocab.index
    parsed = shipped5.parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
    assert parsed[4] == "盡" and parsed[11] == "窮" and set(parsed) <= set(shipped5.vocab.index)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello world", "Chinese characters only"),
        ("白日依山盡，黃河入海流。", "has 20 characters"),
        ("白日依山盡黃，河入海流。欲窮千里目，更上一層樓。", "4 lines of 5"),
        ("白日依山盡，黃河入海流。欲窮千里目，更上一層🙂。", "Chinese characters only"),
        ("白日依山盡，黃河入海流。欲窮千里目，更上一層" + "\U0002a6a5" + "。", "does not know"),
        ("白" * 5000, "too long"),
    ],
)
def test_every_bad_poem_text_gets_a_clear_error(shipped5, text, message):
    with pytest.raises(InputError, match=message):
        shipped5.encode(text)
    with pytest.raises(InputError, match=message):
        shipped5.interpolate(text, POEM_B)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"steps": 1}, "steps"),
        ({"steps": 100}, "steps"),
        ({"method": "cubic"}, "slerp or lerp"),
        ({"opts": Options(temperature=-1)}, "temperature"),
        ({"seed": -4}, "seed"),
    ],
)
def test_bad_blend_options_get_clear_errors(shipped5, kwargs, message):
    with pytest.raises(InputError, match=message):
        shipped5.interpolate(POEM_A, POEM_B, **kwargs)


def test_bad_latents_get_clear_errors(generator):
    for bad in ([1.0, 2.0], "x", [[float("nan")] * generator.ckpt.cfg.latent]):
        with pytest.raises(InputError, match="latent"):
            generator.decode_latents(bad if isinstance(bad, list) and isinstance(bad[0], list) else [bad])


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolation_starts_and_ends_at_the_two_poems(shipped5, method):
    path = shipped5.interpolate(POEM_A, POEM_B, steps=5, method=method)
    assert len(path) == 5
    assert path[0].latent == pytest.approx(shipped5.encode(POEM_A), abs=1e-4)
    assert path[-1].latent == pytest.approx(shipped5.encode(POEM_B), abs=1e-4)
    # the ends are the poems given, not the model's reading of them
    assert (path[0].text, path[-1].text) == (shipped5.parse(POEM_A), shipped5.parse(POEM_B))


def test_a_blend_writes_new_lines_on_the_way_a_few_characters_a_step(shipped5):
    """The shipped blend is its latent path decoded: the steps between the ends hold
    characters found in neither poem at that place, each step keeps much of its neighbour,
    and every step keeps the rules (no character twice, lines 2 and 4 rhyme)."""
    path = [p.text for p in shipped5.interpolate(POEM_A, POEM_B, steps=5)]
    a, b = path[0], path[-1]
    new = [sum(c not in (x, y) for c, x, y in zip(p, a, b)) for p in path[1:-1]]
    assert sum(new) >= 10, new  # the blend writes, it does not only cross the ends
    neighbours = [sum(x == y for x, y in zip(p, q)) for p, q in zip(path, path[1:])]
    assert sum(neighbours) >= 0.3 * 4 * 20, neighbours  # (0.47 of positions over 100 test pairs)
    for text in path[1:-1]:
        assert len(set(text)) == len(text)
        assert shipped5.prosody.rhymes(text[9], text[19])


def test_a_blend_can_cross_the_ends_half_line_by_half_line_instead(shipped5):
    """With crossings, each step between the ends takes some half-lines of one end and the
    rest of the other, in place; each takes one more share of b than the step before, no two
    steps are the same poem, and every step keeps the rules."""
    path = [p.text for p in shipped5.interpolate(POEM_A, POEM_B, steps=5, crossings=True)]
    a, b = path[0], path[-1]
    assert (a, b) == (shipped5.parse(POEM_A), shipped5.parse(POEM_B))
    halves = half_lines(shipped5)
    taken = []  # per step: which halves come from b
    for i, text in enumerate(path):
        assert all(text[lo:hi] in (a[lo:hi], b[lo:hi]) for lo, hi in halves), text
        taken.append({k for k, (lo, hi) in enumerate(halves) if text[lo:hi] == b[lo:hi] != a[lo:hi]})
        if 0 < i < len(path) - 1:  # (the ends are the poems as given: 床前明月光 has 明月 twice)
            assert len(set(text)) == len(text)
            assert shipped5.prosody.rhymes(text[9], text[19])
    assert all(x < y for x, y in zip(taken, taken[1:])), taken  # strictly more of b at each step
    assert len(set(path)) == 5
    decoded = shipped5.interpolate(POEM_A, POEM_B, steps=5)
    assert (decoded[0].text, decoded[-1].text) == (a, b)  # the same ends either way


def test_a_long_blend_repeats_a_step_only_when_no_crossing_is_left(shipped5):
    path = [p.text for p in shipped5.interpolate(POEM_A, POEM_B, steps=32, crossings=True)]
    assert (path[0], path[-1]) == tuple(p.text for p in shipped5.interpolate(POEM_A, POEM_B, steps=2, crossings=True))
    distinct = len(dict.fromkeys(path))
    masks, texts = crossings_between(shipped5, path[0], path[-1], BLEND)
    assert 2 < distinct <= len(texts)
    for text in set(path):  # never returns to an earlier poem: each one's steps are consecutive
        at = [i for i, p in enumerate(path) if p == text]
        assert at == list(range(at[0], at[0] + len(at)))
    assert len(path) - distinct == sum(p == q for p, q in zip(path, path[1:]))


def test_the_shipped_model_decodes_a_poems_latent_back_towards_that_poem(shipped5):
    poems = [
        p
        for p in (ROOT / "tests/fixtures/corpus/5/train.txt").read_text().split()[:40]
        if set(p) <= set(shipped5.vocab.index)
    ][:20]
    plain = Options(temperature=0, guidance=1.0, no_repeat=False, rhyme=False, tone=False)
    decoded = [d.text for d in shipped5.decode_latents([shipped5.encode(p) for p in poems], opts=plain)]

    def kept(a: str, b: str) -> int:
        return sum(x == y for x, y in zip(a, b))

    own = sum(kept(d, p) for d, p in zip(decoded, poems)) / len(poems)
    others = sum(kept(d, q) for i, d in enumerate(decoded) for j, q in enumerate(poems) if i != j)
    others /= len(poems) * (len(poems) - 1)
    assert own >= 14 and own >= 10 * others, f"own poem {own:.2f} of 20 characters, others {others:.2f}"
    blended = [d.text for d in shipped5.decode_latents([shipped5.encode(p) for p in poems])]  # as !blend decodes
    assert sum(kept(d, p) for d, p in zip(blended, poems)) / len(poems) >= 14


def test_the_cli_prints_a_valid_poem_from_the_shipped_checkpoint():
    out = subprocess.run(
        [sys.executable, "-m", "model", "sample", "--seed", "42", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (poem,) = json.loads(out.stdout)
    assert poem["seed"] == 42 and len(poem["lines"]) == 4 and all(len(line) == 5 for line in poem["lines"])
    again = subprocess.run(
        [sys.executable, "-m", "model", "sample", "--seed", "42"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.stdout.splitlines()[1:5] == [line + p for line, p in zip(poem["lines"], "，。，。")]


def test_nucleus_sampling_narrows_to_the_likeliest_characters(generator):
    seeds = list(range(10))
    greedy = [p.text for p in generator.sample_seeds(seeds, Options(temperature=0))]
    narrow = [p.text for p in generator.sample_seeds(seeds, Options(temperature=1.0, top_k=0, top_p=1e-9))]
    assert narrow == greedy  # only the likeliest character is left
    wide = [p.text for p in generator.sample_seeds(seeds, Options(temperature=1.0, top_k=0, top_p=0.95))]
    assert wide != greedy
    with pytest.raises(InputError, match="top_p"):
        Options(top_p=0).check()


def test_a_poem_with_a_supplementary_plane_character_has_the_form_of_its_length():
    from model.text import form_of

    seven = "白日依山盡黃河" * 3 + "白日依山盡黃𠀀"  # 28 characters, one outside the basic plane
    assert form_of(seven) == 7 and form_of(seven[:20]) == 5
    assert form_of("白日依山盡，黃河入海流。欲窮千里目，更上一層樓。") == 5


def test_a_blend_of_a_poem_with_itself_is_that_poem_at_every_step(shipped5):
    path = [p.text for p in shipped5.interpolate(POEM_A, POEM_A, steps=6)]
    assert path == [shipped5.parse(POEM_A)] * 6
