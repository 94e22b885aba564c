"""The corpus, the network, training and checkpoints."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model import corpus
from model.checkpoint import CheckpointError, Checkpoint, Vocab, load, save, shipped
from model.network import Config, PoemVAE, baseline, kl_divergence, loss, tiny
from model.train import TrainArgs, train

RAW = Path(__file__).parent / "fixtures" / "raw" / "poet.tang.0.json"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"


def make_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_quatrains_are_extracted_by_form_and_eight_line_poems_give_two():
    poems = {tuple(p["paragraphs"]) for p in json.loads(RAW.read_text())}
    by_first = {p[0][:5]: list(p) for p in poems}
    assert corpus.extract_quatrains(by_first["白玉誰家郎"], 5) == ["白玉誰家郎回車渡天津看花東上陌驚動洛陽人"]
    two = corpus.extract_quatrains(by_first["胡風激秦樹"], 5)
    assert two == ["胡風激秦樹賤子風中泣家家朱門開得見不可入", "長安十二衢投樹鳥亦急高閣何人家笙簧正喧吸"]
    assert len(corpus.extract_quatrains(by_first["渥洼奇骨本"], 7)) == 2
    assert corpus.extract_quatrains(by_first["渥洼奇骨本"], 5) == []
    assert corpus.extract_quatrains(by_first["長安道，人"], 5) == []  # mixed line lengths
    assert corpus.extract_quatrains(by_first["可汗奉親詔"], 5) == []  # six lines and a bracket
    assert corpus.extract_quatrains(by_first["長安甲第高"], 7) == []  # ten lines


def test_prepare_reads_the_npm_layout_and_splits_deterministically(tmp_path):
    raw = RAW.read_bytes()
    tarball = make_tarball(
        tmp_path / "c.tgz",
        {
            "package/dist/quantangshi/poet.tang.0.json": raw,
            "package/dist/quantangshi/poet.song.3.json": raw,  # duplicates are dropped
            "package/dist/quantangshi/error/poet.tang.0.json": b"not json at all",  # not a source file
        },
    )
    out = tmp_path / "data"
    prepared = {p.form: p for p in corpus.prepare(tarball, out)}
    assert sum(prepared[5].counts.values()) == 3 and sum(prepared[7].counts.values()) == 3
    for form in (5, 7):
        for split in corpus.SPLITS:
            for poem in corpus.load_split(out, form, split):
                assert corpus.split_of(poem) == split


def test_windows_are_every_four_lines_from_a_couplet_and_leave_held_out_lines_unseen(tmp_path):
    poem = [
        "一二三四五，上下左右中。",
        "春夏秋冬月，東南西北風。",
        "甲乙丙丁戊，金木水火土。",
        "七言不算數之乎者也矣。",
    ]
    assert corpus.extract_windows(poem, 5) == [
        "一二三四五上下左右中春夏秋冬月東南西北風",
        "春夏秋冬月東南西北風甲乙丙丁戊金木水火土",
    ]
    assert corpus.extract_windows(poem, 7) == []
    raw = RAW.read_bytes()
    tarball = make_tarball(
        tmp_path / "c.tgz",
        {
            "package/dist/quantangshi/poet.tang.0.json": raw,
            "package/dist/yudingquantangshi/json/001.json": json.dumps([{"paragraphs": poem}]).encode(),
        },
    )
    out = tmp_path / "data"
    corpus.prepare(tarball, out)
    windows = corpus.load_split(corpus.prepare_windows(tarball, out, 5).parent.parent, 5, "windows")
    assert "一二三四五上下左右中春夏秋冬月東南西北風" in windows  # the second edition is read too
    assert len(windows) == len(set(windows)) and all(len(w) == 20 for w in windows)
    # a window sharing a line with a held-out quatrain is never trained on
    (out / "5" / "valid.txt").write_text("一二三四五上下左右中春夏秋冬月東南西北風\n")
    corpus.prepare_windows(tarball, out, 5)
    kept = corpus.load_split(out, 5, "windows")
    assert not [w for w in kept if "春夏秋冬月" in w] and len(kept) == len(windows) - 2


def test_fine_tuning_starts_from_a_checkpoint_and_keeps_its_vocabulary(tmp_path, tiny_checkpoints):
    base = load(tiny_checkpoints[5])
    (tmp_path / "5").mkdir()
    for split in ("train", "valid"):
        shutil.copy(CORPUS / "5" / f"{split}.txt", tmp_path / "5" / f"{split}.txt")
    unknown = "鑫" * 20  # a window with a character the vocabulary lacks is left out
    assert "鑫" not in base.vocab.index
    (tmp_path / "5" / "windows.txt").write_text((CORPUS / "5" / "train.txt").read_text() + unknown + "\n")
    args = TrainArgs(
        form=5, data_dir=tmp_path, out=tmp_path / "ft", epochs=1, batch_size=32, threads=1, init=tiny_checkpoints[5]
    )
    tuned = train(replace(args, windows=True), argv=["train"])
    assert tuned.vocab.chars == base.vocab.chars and tuned.cfg == base.cfg
    assert tuned.card["corpus"]["train_poems"] == len(corpus.load_split(tmp_path, 5, "train"))
    # it began where the checkpoint ended: one epoch from it beats one epoch from scratch
    fresh = train(replace(args, init=None, config="tiny", out=tmp_path / "fresh"), argv=["train"])
    assert tuned.card["metrics"]["nll_char"] < fresh.card["metrics"]["nll_char"]


def test_a_poems_split_depends_on_its_text_alone():
    poems = (CORPUS / "5" / "train.txt").read_text().split()
    # the same in another process with another hash seed: a hash of the text, not Python's hash()
    code = "import sys; from model import corpus; print(' '.join(corpus.split_of(p) for p in sys.stdin.read().split()))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        input="\n".join(poems[:200]),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        check=True,
    ).stdout.split()
    assert other == [corpus.split_of(p) for p in poems[:200]]
    shares = [corpus.split_of(p) for p in poems * 1]
    assert shares.count("train") == len(shares)  # the fixture's train split holds train poems only
    everything = [corpus.split_of(f"{i:05d}") for i in range(20000)]
    assert 0.005 < everything.count("test") / 20000 < 0.015
    assert 0.005 < everything.count("valid") / 20000 < 0.015


def test_fetch_refuses_a_tarball_that_does_not_match_the_published_integrity(tmp_path):
    (tmp_path / corpus.TARBALL).write_bytes(b"tampered")
    with pytest.raises(corpus.CorpusError, match="does not match the published integrity"):
        corpus.fetch(tmp_path)


def test_a_missing_corpus_says_how_to_make_it(tmp_path):
    with pytest.raises(corpus.CorpusError, match="python -m model prepare"):
        corpus.load_split(tmp_path, 5, "train")
    with pytest.raises(corpus.CorpusError, match="python -m model prepare"):
        list(corpus.iter_poems(tmp_path / "missing.tgz"))


@pytest.mark.parametrize("make", [baseline, tiny, lambda form, vocab_size: Config(form=form, vocab_size=vocab_size)])
@pytest.mark.parametrize("form", [5, 7])
def test_shapes(make, form):
    cfg = make(form=form, vocab_size=300)
    model = PoemVAE(cfg)
    x = torch.randint(0, 300, (3, 4 * form))
    nll_p, nll_ar, mu, logvar = model(x)
    assert nll_p.shape == (3, 4 * form) and mu.shape == logvar.shape == (3, cfg.latent)
    assert (nll_ar is None) == (not cfg.ar_dilations)
    assert model.decode_parallel(mu).shape == (3, 4 * form, cfg.emb)
    parts = loss(cfg, nll_p, nll_ar, mu, logvar)
    assert parts.total.ndim == 0 and parts.total.requires_grad


def test_the_ar_head_is_causal():
    cfg = tiny(vocab_size=50)
    model = PoemVAE(cfg).eval()
    hp = torch.randn(1, 20, cfg.emb)
    prev = torch.randint(0, 50, (1, 20))
    changed = prev.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 50
    a, b = model.decode_ar(hp, prev), model.decode_ar(hp, changed)
    assert torch.allclose(a[0, :12], b[0, :12]) and not torch.allclose(a[0, 12:], b[0, 12:])


def test_kl_matches_the_closed_form_of_torch_distributions():
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(4, 6), torch.ones(4, 6))
    assert torch.allclose(kl_divergence(mu, logvar), torch.distributions.kl_divergence(q, p), atol=1e-5)
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))


def test_free_bits_leave_small_kl_unpenalised():
    cfg = tiny(vocab_size=50)
    nll = torch.zeros(2, 20)
    small = loss(cfg, nll, None, torch.zeros(2, cfg.latent), torch.zeros(2, cfg.latent))
    assert small.kl.item() == 0 and small.total.item() == pytest.approx(cfg.free_bits * cfg.latent)


def test_training_is_deterministic_learns_and_resumes(tmp_path):
    args = dict(form=5, config="tiny", data_dir=CORPUS, batch_size=32, seed=3, threads=1, kl_anneal_steps=10)
    a = train(TrainArgs(out=tmp_path / "a", epochs=2, **args), argv=["train", "--config", "tiny"])
    b = train(TrainArgs(out=tmp_path / "b", epochs=1, **args), argv=[])
    b = train(TrainArgs(out=tmp_path / "b", epochs=2, resume=True, **args), argv=[])
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), f"{k} differs after resuming"
    history = a.card["history"]
    assert history[1]["valid"]["nll_char"] < history[0]["valid"]["nll_char"] + 0.5
    assert history[0]["train"]["nll_char"] < 9.0
    assert (tmp_path / "a.png").stat().st_size > 1000
    card = json.loads((tmp_path / "a.json").read_text())
    assert card["training"]["command"] == "python -m model train --config tiny"
    assert {"nll_char", "kl", "recon_acc", "active_units"} <= set(card["metrics"])
    assert card["metrics"] == history[-1]["valid"], "the card reports the last epoch"


def test_a_checkpoint_round_trips_and_describes_itself(tiny_checkpoints, tmp_path):
    ckpt = load(tiny_checkpoints[5])
    path = save(ckpt, tmp_path / "copy")
    again = load(path)
    assert again.cfg == ckpt.cfg and again.vocab.chars == ckpt.vocab.chars
    for k, v in ckpt.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k])
    half = load(save(ckpt, tmp_path / "half", half=True))
    x = ckpt.vocab.encode_batch(["白日依山盡黃河入海流欲窮千里目更上一層樓"])
    assert torch.allclose(half.model.encode(x)[0], ckpt.model.encode(x)[0], atol=1e-2)


def test_the_training_poems_character_shares_travel_in_the_checkpoint(tiny_checkpoints, tmp_path):
    ckpt = load(tiny_checkpoints[5])
    assert ckpt.unigram is None  # measured when a sampler that reads them is chosen
    poems = corpus.load_split(CORPUS, 5, "train")
    ckpt.unigram = ckpt.vocab.log_shares(poems)
    ckpt.card["unigram"] = {"poems": len(poems)}
    again = load(save(ckpt, tmp_path / "shares", half=True))
    assert torch.equal(again.unigram, ckpt.unigram)
    assert float(again.unigram.exp().sum()) == pytest.approx(1.0, abs=1e-4)
    commonest = max(set("".join(poems)), key="".join(poems).count)
    assert int(again.unigram.argmax()) == again.vocab.index[commonest]
    # a card that does not describe them (or describes missing ones) is refused
    card = json.loads((tmp_path / "shares.json").read_text())
    del card["unigram"]
    (tmp_path / "shares.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="character shares"):
        load(tmp_path / "shares")


def _copy(src: Path, dst: Path, unhashed: bool = False) -> Path:
    """A copy of a checkpoint; `unhashed`: its card without the hash of its weights (as old
    cards were), so the checks behind the hash are reached."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(src.with_suffix(suffix), dst.with_suffix(suffix))
    if unhashed:
        card = json.loads(dst.with_suffix(".json").read_text())
        del card["sha256"], card["version"]
        dst.with_suffix(".json").write_text(json.dumps(card))
    return dst


def test_corrupt_or_mismatched_checkpoints_get_clear_errors(tiny_checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match="needs both"):
        load(tmp_path / "nothing")
    bad = _copy(tiny_checkpoints[5], tmp_path / "bad", unhashed=True)
    bad.with_suffix(".safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        load(bad)
    garbled = _copy(tiny_checkpoints[5], tmp_path / "garbled")
    garbled.with_suffix(".json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not a valid checkpoint card"):
        load(garbled)
    # the weights of one model under the card of another
    mixed = _copy(tiny_checkpoints[5], tmp_path / "mixed", unhashed=True)
    shutil.copy(tiny_checkpoints[7].with_suffix(".safetensors"), mixed.with_suffix(".safetensors"))
    with pytest.raises(CheckpointError, match="does not match its card"):
        load(mixed)
    short = _copy(tiny_checkpoints[5], tmp_path / "short")
    card = json.loads(short.with_suffix(".json").read_text())
    card["vocab"] = card["vocab"][:-3]
    short.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="vocabulary has"):
        load(short)


def test_damaged_weights_are_refused_not_loaded_under_the_same_version(tiny_checkpoints, tmp_path):
    flipped = _copy(tiny_checkpoints[5], tmp_path / "flipped")
    data = bytearray(flipped.with_suffix(".safetensors").read_bytes())
    data[-100] ^= 0x01  # one bit of one weight: still a valid file, other poems
    flipped.with_suffix(".safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged or was swapped"):
        load(flipped)
    swapped = _copy(tiny_checkpoints[5], tmp_path / "swapped")  # another model's (valid) weights
    shutil.copy(tiny_checkpoints[7].with_suffix(".safetensors"), swapped.with_suffix(".safetensors"))
    with pytest.raises(CheckpointError, match="damaged or was swapped"):
        load(swapped)
    old = _copy(tiny_checkpoints[5], tmp_path / "old")  # a card from before sha256: its version's hash
    card = json.loads(old.with_suffix(".json").read_text())
    del card["sha256"]
    old.with_suffix(".json").write_text(json.dumps(card))
    assert load(old).version == card["version"]
    old.with_suffix(".safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged or was swapped"):
        load(old)


def test_nan_weights_are_refused_even_when_the_card_vouches_for_them(tiny_checkpoints, tmp_path):
    ckpt = load(tiny_checkpoints[5])
    with torch.no_grad():
        next(ckpt.model.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load(save(ckpt, tmp_path / "nan"))


def test_the_version_names_the_weights_and_the_card_holds_their_sha256(tiny_checkpoints):
    from model.checkpoint import weights_sha256

    for path in (*tiny_checkpoints.values(), *(shipped(f) for f in (5, 7))):
        card = json.loads(path.with_suffix(".json").read_text("utf-8"))
        assert card["sha256"] == weights_sha256(path.with_suffix(".safetensors"))
        assert load(path).version == f"{path.name}-{card['sha256'][:12]}"


def test_the_vocabulary_maps_unknown_characters_to_unk():
    v = Vocab(list("山水"))
    assert v.ids("山雲水") == [0, 2, 1] and v.text([0, 1, 2]) == "山水<unk>"
    assert len(Checkpoint(PoemVAE(tiny(vocab_size=3)), v).vocab) == 3


def test_incremental_decoding_matches_the_full_causal_head():
    cfg = tiny(vocab_size=50)
    model = PoemVAE(cfg).eval()
    hp = torch.randn(2, 20, cfg.emb)
    x = torch.randint(0, 50, (2, 20))
    prev = torch.cat([torch.full((2, 1), model.bos), x[:, :-1]], dim=1)
    full = model.decode_ar(hp, prev)
    cache = model.new_ar_cache(2)
    steps = torch.stack([model.ar_step(hp, prev[:, t], t, cache) for t in range(20)], dim=1)
    assert torch.allclose(full, steps, atol=1e-5)
