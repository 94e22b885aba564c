"""Checkpoints that describe themselves: `<name>.safetensors` (weights) beside
`<name>.json` (the card: config, vocabulary, corpus, training, metrics).

Loading reads JSON and safetensors only; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .network import Config, PoemVAE
from .prior import PREFIX as PRIOR_PREFIX
from .prior import GaussianMixture
from .subjects import SubjectIndex, index_path

FORMAT = "poembot-checkpoint/1"
CALIBRATION = "sampler.calibration"  # the sampler's calibration in the safetensors (see Checkpoint)
UNIGRAM = "sampler.unigram"  # the training poems' character log-shares in the safetensors (see Checkpoint)
UNK = "<unk>"
SHIPPED_DIR = Path(__file__).parent / "checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match its card."""


@dataclass
class Vocab:
    """Characters commonest first, then <unk>; ids are list positions."""

    chars: list[str]

    def __post_init__(self):
        if not self.chars or self.chars[-1] != UNK:
            self.chars = [c for c in self.chars if c != UNK] + [UNK]
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def unk(self) -> int:
        return len(self.chars) - 1

    def ids(self, text: str) -> list[int]:
        return [self.index.get(ch, self.unk) for ch in text]

    def text(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def encode_batch(self, poems: list[str]) -> torch.Tensor:
        return torch.tensor([self.ids(p) for p in poems], dtype=torch.long)  # (B, T)

    def log_shares(self, poems: list[str]) -> torch.Tensor:
        """Each character's log share of the characters of `poems`, smoothed by half a count
        (<unk> as rare as the rarest). (V,)"""
        counts = torch.bincount(torch.tensor([i for p in poems for i in self.ids(p)]), minlength=len(self)).double()
        counts[self.unk] = 0.0
        counts += 0.5
        return (counts / counts.sum()).log().float()


@dataclass
class Checkpoint:
    model: PoemVAE
    vocab: Vocab
    card: dict = field(default_factory=dict)
    prior: GaussianMixture | None = None  # where `sample` draws latents; None = N(0, I)
    # per character: log(share in the training poems / share in this checkpoint's samples),
    # what the sampler's `calibration` option adds to log-probabilities (None = none measured)
    calibration: torch.Tensor | None = None  # (V,)
    subjects: SubjectIndex | None = None  # where subject poems come from (model/subjects.py), if built
    # per character: log of its share of the training poems' characters, what ranking candidates
    # discounts (the `unigram_discount` option; None = not measured, no discount)
    unigram: torch.Tensor | None = None  # (V,)

    @property
    def cfg(self) -> Config:
        return self.model.cfg

    @property
    def version(self) -> str:
        """A short id of these weights, stored with every poem they write."""
        return self.card.get("version", "unversioned")


def weights_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save(ckpt: Checkpoint, path: Path, half: bool = False) -> Path:
    """Write `path` (.safetensors) and its card `path.with_suffix('.json')`.

    `half` stores the weights as float16 (they are loaded back as float32),
    which halves the size of a shipped checkpoint.
    """
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in ckpt.model.state_dict().items()}
    if ckpt.prior is not None:  # the mixture's weights stay float32 (some are tiny)
        tensors.update(
            {k: (v if k.endswith("weights") else v.to(dtype)).contiguous() for k, v in ckpt.prior.to_tensors().items()}
        )
    if ckpt.calibration is not None:
        tensors[CALIBRATION] = ckpt.calibration.float().contiguous()
    if ckpt.unigram is not None:
        tensors[UNIGRAM] = ckpt.unigram.float().contiguous()
    save_file(tensors, str(path))
    sha256 = weights_sha256(path)
    card = ckpt.card  # updated in place: a trainer holding the dict keeps writing to the same card
    if ckpt.calibration is None:
        card.pop("calibration", None)
    if ckpt.unigram is None:
        card.pop("unigram", None)
    if ckpt.prior is None:
        card.pop("prior", None)
    else:
        card.setdefault("prior", {}).update(kind="gaussian-mixture", components=ckpt.prior.components)
    card.update(
        format=FORMAT,
        config=ckpt.cfg.to_dict(),
        vocab="".join(ckpt.vocab.chars[:-1]),
        weights=path.name,
        sha256=sha256,  # checked at load: a flipped bit must not write other poems under this version
        version=f"{path.stem}-{sha256[:12]}",
    )
    path.with_suffix(".json").write_text(json.dumps(card, ensure_ascii=False, indent=1, allow_nan=False), "utf-8")
    return path


def stored_half(path: Path | str) -> bool:
    """Whether a checkpoint's weights are stored as float16 (a shipped one)."""
    with safe_open(str(Path(path).with_suffix(".safetensors")), "pt") as f:
        return f.get_slice("embed.weight").get_dtype() == "F16"


def load(path: Path | str) -> Checkpoint:
    """Rebuild a model from its card and weights, with clear errors when they disagree."""
    path = Path(path)
    card_path, weights_path = path.with_suffix(".json"), path.with_suffix(".safetensors")
    if not card_path.exists() or not weights_path.exists():
        raise CheckpointError(f"checkpoint {path.with_suffix('')} needs both {card_path.name} and {weights_path.name}")
    card, cfg, vocab = _read_card(card_path)
    _check_hash(card, card_path, weights_path)
    tensors = _read_weights(weights_path)
    prior = _take_prior(card, tensors, cfg, card_path, weights_path)
    calibration, unigram = _take_sampler_tables(card, tensors, len(vocab), card_path, weights_path)
    return Checkpoint(
        model=_build_model(cfg, tensors, weights_path),
        vocab=vocab,
        card=card,
        prior=prior,
        calibration=None if calibration is None else calibration.float(),
        unigram=None if unigram is None else unigram.float(),
        subjects=_load_subjects(path, cfg),
    )


def _read_card(card_path: Path) -> tuple[dict, Config, Vocab]:
    """A checkpoint's card, with the config and vocabulary it describes, checked against each other."""
    try:
        card = json.loads(card_path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{card_path} is not a valid checkpoint card: {e}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"{card_path} is not a {FORMAT} card")
    try:
        cfg = Config.from_dict(card["config"])
        vocab = Vocab(list(card["vocab"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{card_path} has a broken config or vocabulary: {e}") from None
    if cfg.vocab_size != len(vocab):
        raise CheckpointError(
            f"{card_path}: config says {cfg.vocab_size} characters but the vocabulary has {len(vocab)}"
        )
    return card, cfg, vocab


def _read_weights(weights_path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, each finite."""
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights_path} is corrupt: {e}") from None
    broken = sorted(k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if broken:
        raise CheckpointError(f"{weights_path} holds NaN or infinite weights (in {', '.join(broken[:3])})")
    return tensors


def _take_prior(
    card: dict, tensors: dict[str, torch.Tensor], cfg: Config, card_path: Path, weights_path: Path
) -> GaussianMixture | None:
    """The fitted prior the card names, taken out of `tensors` (None: there is none)."""
    prior_tensors = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(PRIOR_PREFIX)]}
    if "prior" not in card:
        if prior_tensors:
            raise CheckpointError(f"{weights_path} holds a prior that its card does not describe")
        return None
    if not prior_tensors:
        raise CheckpointError(f"{card_path} names a fitted prior that {weights_path.name} does not hold")
    try:
        prior = GaussianMixture.from_tensors(prior_tensors)
    except ValueError as e:
        raise CheckpointError(f"{weights_path}: broken prior: {e}") from None
    if prior.dim != cfg.latent:
        raise CheckpointError(f"{weights_path}: the prior has {prior.dim} dimensions, the latent {cfg.latent}")
    return prior


def _take_sampler_tables(
    card: dict, tensors: dict[str, torch.Tensor], V: int, card_path: Path, weights_path: Path
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The sampler's calibration and the training poems' character log-shares, each (V,) or
    None, taken out of `tensors`; the card must say which it holds."""
    calibration = tensors.pop(CALIBRATION, None)
    if ("calibration" in card) != (calibration is not None):
        raise CheckpointError(f"{card_path} and {weights_path.name} disagree on whether the sampler is calibrated")
    if calibration is not None and calibration.shape != (V,):
        raise CheckpointError(
            f"{weights_path}: the calibration has shape {tuple(calibration.shape)}, "
            f"not one value for each of {V} characters"
        )
    unigram = tensors.pop(UNIGRAM, None)
    if ("unigram" in card) != (unigram is not None):
        raise CheckpointError(f"{card_path} and {weights_path.name} disagree on whether it holds character shares")
    if unigram is not None and (unigram.shape != (V,) or not bool((unigram <= 0).all())):
        raise CheckpointError(f"{weights_path}: the character shares are not one log-share for each of {V}")
    return calibration, unigram


def _build_model(cfg: Config, tensors: dict[str, torch.Tensor], weights_path: Path) -> PoemVAE:
    """The network `cfg` describes with the remaining tensors as its weights, which must be exactly its own."""
    model = PoemVAE(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in expected if k in tensors and tensors[k].shape != expected[k].shape)
    if missing or extra or wrong:
        raise CheckpointError(
            f"{weights_path} does not match its card: missing {missing[:3]}, "
            f"unexpected {extra[:3]}, wrong shape {wrong[:3]}"
        )
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.eval()
    return model


def _load_subjects(path: Path, cfg: Config) -> SubjectIndex | None:
    """The subject index beside a checkpoint, if one was built, checked against it."""
    where = index_path(path)
    if not where.exists():
        return None
    try:
        index = SubjectIndex.load(where)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    dims = cfg.latent_global or cfg.latent
    K = len(index.chars)
    if index.assoc is not None and (
        index.assoc.shape != index.assoc_ids.shape
        or len(index.assoc) != K
        or (K and int(index.assoc_ids.max()) >= cfg.vocab_size)
    ):
        raise CheckpointError(f"{where} was not built for this checkpoint; build it again (index-subjects)")
    if (
        index.means.shape != (K, dims)
        or index.stds.shape != (K, dims)
        or index.positions.shape != (K, cfg.positions)
        or (K and int(index.chars.max()) >= cfg.vocab_size)
        or not torch.isfinite(index.means).all()
    ):
        raise CheckpointError(f"{where} was not built for this checkpoint; build it again (index-subjects)")
    return index


def _check_hash(card: dict, card_path: Path, weights_path: Path) -> None:
    """The weights must be the ones the card describes: its sha256 (or, on cards
    written before it was stored, the hash inside the version string)."""
    want = card.get("sha256")
    if want is None:
        tail = str(card.get("version", "")).rpartition("-")[2]
        want = tail if len(tail) == 12 and all(c in "0123456789abcdef" for c in tail) else None
    if want is None:
        return  # a card from before versions carried a hash: nothing to check against
    got = weights_sha256(weights_path)
    if not got.startswith(want):
        raise CheckpointError(
            f"{weights_path.name} is not the file {card_path.name} describes (sha256 "
            f"{got[:12]}…, the card says {want[:12]}…): it is damaged or was swapped; "
            "restore both files together"
        )


def shipped(form: int = 5) -> Path:
    """The path of the checkpoint shipped for a form."""
    return SHIPPED_DIR / f"quatrain{form}"
