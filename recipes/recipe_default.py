"""The recipe of the embedded default checkpoint (``assets/default.ckpt``, model v2) and its model card.

    python -m recipes.recipe_default --shared ../shared --out assets/default.ckpt --card assets/MODEL_CARD.md
    livemer train --recipe default --out assets/default.ckpt        (the same; see also `make checkpoint`)

Every modality is trained and validated on what livemer's own live extractors
produce (features cached by :mod:`recipes.feature_cache`):

* RAVDESS speech, actors 01-16 train / 17-20 validation: text from the bundled
  recogniser (fitted encoder window, as ``livemer file``), COVAREP-74 from the
  acoustic extractor, Facet-35 from the clip's OpenFace AUs (an extra visual
  source). *Calm* is never trained: it is a zero-shot check.
* Face photos (:mod:`recipes.faces`): MediaPipe -> AUs -> Facet-35 (with ``visual_space``
  ``facet-35+mediapipe-blendshapes-52``, then the 52 raw blendshapes), visual only;
  20 % of the photos of every (source, emotion) held out. Each training photo is
  seen as it is and inside a 25 % grey border (``face_borders``: tight crops
  leave the detector no margin); held-out photos are scored as they are.
* Acted speech in Polish, Amharic, Urdu, Spanish (:mod:`recipes.speech`):
  COVAREP-74, acoustic only (text masked); 20 % of the speakers of every corpus
  held out.
* GoEmotions and MELD train/dev, text only.

Zero-shot: composition (:mod:`model.zeroshot`): a word the acoustic or visual
modality never saw is mixed from the emotions it did, by their similarity
under the trained text encoder's metric.

Stages (each result is JSON in the work folder, so a rerun only redoes what
changed): ``main`` (the checkpoint), ``spread`` (3 seeds), ``baseline``
(EF-LSTM, same data), ``loco`` (leave one voice corpus out, acoustic
sub-model), ``loso`` (leave one photo source out, visual sub-model), ``loo``
(leave one emotion out, for each of the seven: zero-shot in every modality),
then the model card (:mod:`recipes.model_card`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import corpora
from .recipe_data import WindowSettings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"

#: The version of the default model this recipe trains (the checkpoint's provenance and the card's title).
# v2.3: acoustic steps with within-step dynamics (covarep-74+dynamics-28); v2.4: "ends" pooling and an L2 on the
# acoustic encoder. (v2.5's per-sample acoustic offsets were tried and not shipped: docs/live_training_data.md)
MODEL_VERSION = "v2.4"
#: The few-shot adapter's l2 the shipped checkpoint carries (model.adapt.checkpoint_l2, used by add-emotion
#: --examples): the best "offset" configuration on development actors 1-16 of `python benchmarks/fewshot_eval.py
#: --calibrate` on v2.3 (dev 0.835; v2.2's l2, acoustic 0.1 / visual 0.003, dev 0.797 there).
FEW_SHOT = {
    "l2": {"acoustic": 0.001, "visual": 0.1},
    "recentre": True,  # a calibrated user's examples are re-centred on their own neutral (model.adapt.recentre)
    "chosen_by": "benchmarks/fewshot_eval.py --calibrate (dev actors)",
}
#: The seven emotions of the voice and face corpora (and RAVDESS without calm), in table order.
SEEN = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
#: The word each name is scored by (chosen on RAVDESS validation by the v1 recipe's selection stage).
WORD_FORMS: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "joy",
    "sad": "unhappy",
    "surprise": "surprise",
}
CALM_SUBSETS: tuple[str, ...] = ("tav", "a", "v", "av")
RAVDESS_SUBSETS: tuple[str, ...] = ("tav", "ta", "tv", "av", "t", "a", "v")
VOICE_CORPORA = ("nemo", "ased", "urdu", "spanish", "ravdess")
PHOTO_SOURCES = ("muxspace", "emilmrk")
#: Words a user might add, shown in the card with where composition puts them (none is trained).
ADDED_WORDS = ("calm", "contempt", "bored", "excited", "anxious", "relief")


# ----------------------------------------------------------------------------- settings

#: Settings added after stage results were first cached, with the value that trains as before they existed.
_NEUTRAL_SETTINGS: dict[str, Any] = {
    "acoustic_norm": "",
    "speech_balance": False,
    "acoustic_offset_noise": 0.0,
    "ema_epochs": 0.0,
}


def _settings_hash(d: dict[str, Any], extra: tuple) -> str:
    """A short hash of settings ``d`` (threads and settings left at their neutral value left out, so stage results
    cached before a setting existed stay valid) and ``extra``."""
    d = {k: v for k, v in d.items() if k != "threads" and not (k in _NEUTRAL_SETTINGS and v == _NEUTRAL_SETTINGS[k])}
    blob = json.dumps([d, [repr(e) for e in extra]], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RecipeSettings:
    """Everything that shapes the checkpoint and the protocol runs (recorded in the provenance)."""

    valid_actors: tuple[int, ...] = (17, 18, 19, 20)
    train_actors: tuple[int, ...] | None = None  # None: all the others
    train_ends: tuple[float, ...] = (0.6, 0.8, 1.0)  # RAVDESS training windows end at these fractions of a clip
    # v2.3: acoustic steps carry the within-step dynamics of F0 and MCEP_0-12 (feature_adapters.covarep): dev
    # speakers 75.3 / 74.2 -> 79.5 / 78.9 (seeds 0 / 1), LOCO among training speakers 70.5 / 69.8 -> 71.9 / 71.1
    window: WindowSettings = WindowSettings(acoustic_space="covarep-74+dynamics-28")
    holdout: float = 0.2  # fraction of speakers (speech) / photos (faces) held out, per corpus / source
    split_seed: int = 0
    text_limit: int | None = None  # first N samples of each text split (quick runs)
    train_clips_per_class: int | None = None  # at most N RAVDESS clips per (actor, emotion) (quick runs)
    valid_clips_per_class: int | None = None
    speech_limit: int | None = None  # first N clips per (corpus, speaker, emotion) (quick runs)
    faces_limit: int | None = None  # first N photos per (source, emotion) (quick runs)
    hidden_acoustic: int = 96
    hidden_visual: int = 48  # 64 helped only the 87-column space (recipe_probes.py visual --dev)
    visual_input_layer: int = 0  # width of a Linear + ReLU in front of the visual bi-LSTM (0: the paper's encoder)
    acoustic_input_layer: int = 0  # the same for the acoustic bi-LSTM
    # per-window acoustic standardisation before the global stats (model.normalize): "" none, MODE or
    # MODE:COLUMNS with MODE mean / meanstd and COLUMNS one of ACOUSTIC_WINDOW_COLUMNS (default: every column)
    acoustic_norm: str = ""
    #: the visual feature space (feature_adapters.blendshapes.visual_spaces): "facet-35" (the paper's, SDK) or
    #: "facet-35+mediapipe-blendshapes-52" (Facet-35 then the 52 raw MediaPipe blendshapes; the checkpoint names it)
    visual_space: str = "facet-35"  # the 87-column space: +2.5 on held-out photos, -1 to -2.4 across photo sources
    #: RAVDESS's OpenFace rows as a visual training source: "keep" (in the 87-column space their blendshape
    #: columns come from the AUs, feature_adapters.blendshapes.aus_to_blendshapes), "zeros" (their 52 blendshape
    #: columns are 0, train and validation) or "drop" (visual masked in RAVDESS training; its validation rows are
    #: kept for the card's RAVDESS figures)
    ravdess_visual: str = "zeros"  # v2.2 ("keep" cost 0.3-0.8 on dev photos, mostly disgust)
    face_borders: tuple[float, ...] = (
        0.0,
        0.25,
    )  # training views of every photo (grey border fractions, recipes.faces)
    num_layers: int = 2
    dropout: float = 0.15
    # model.config.POOLINGS: how each bi-LSTM's outputs become r_m. v2.4 "ends" (v2.3 "last": the backward half
    # read the last step only): acoustic dev speakers 78.4 -> 79.1 (3 seeds, protocol size), GoEmotions
    # train-carved dev 85.3 -> 85.6, MELD dev 71.7 -> 72.7, dev photos 81.7 -> 81.4 (benchmarks/recipe_probes.py)
    pooling: str = "ends"
    epochs: int = 9  # v2.2 (v2.1: 6): GoEmotions 85.3 vs 84.9 on a dev carved from train (recipe_probes.py text)
    batch_size: int = 128
    lr: float = 3e-3
    lr_final: float = 0.05
    weight_decay: float = 0.0
    # an L2 penalty on the acoustic encoder, on the batches with a voice (recipes.mixing.MixSchedule.l2_by_modality).
    # Acoustic dev speakers at main size (hidden 96, 9 epochs), seeds 0 / 1: 80.2 / 79.9 -> 81.7 / 81.7 at 3e-3
    # (1e-3: 81.0 / 81.2; 1e-2: 80.2 / 80.7)
    acoustic_l2: float = 3e-3
    # per-sample random offsets of the normalised acoustic steps in training (MixSchedule.offset_noise): 0 = none.
    # Tried as v2.5 at 0.5 (protocol size, seeds 0 / 1 / 2: dev speakers 79.3 / 78.2 / 77.3 -> 79.4 / 79.4 / 79.0, LOCO
    # among the training speakers 71.1 / 71.6 / 70.1 -> 71.9 / 72.4 / 70.8; main size dev 81.7 / 81.7 -> 82.2 / 83.6),
    # but the full run lost on what users get: held-out voices 77.5 -> 76.7, calm 73.8 -> 64.4. Off (v2.4).
    acoustic_offset_noise: float = 0.0
    # > 0: the weights are an exponential moving average over about this many epochs (MixSchedule.ema_epochs)
    ema_epochs: float = 0.0
    clip: float = 1.0
    modality_dropout: float = 0.3
    pos_weight_power: float = 1.0
    pos_weight_cap: float = 20.0
    ravdess_repeat: int = 1
    speech_per_epoch: int = 5000
    speech_balance: bool = False  # speech_per_epoch split evenly over the voice corpora (small ones oversampled)
    faces_per_epoch: int = 5000
    goemotions_per_epoch: int = 43377  # v2.2: every GoEmotions training sentence each epoch (v2.1: 20000)
    meld_per_epoch: int = 8000  # v2.2 (v2.1: 4000)
    text_batch_size: int | None = None  # batch size of the text-only corpora (None: batch_size)
    replay_per_emotion: int = 16  # few-shot replay windows per trained emotion attached to the checkpoint (0: none)
    # zero-shot rule (model.zeroshot; chosen on development data by benchmarks/zeroshot_probe.py, never on
    # held-out words): "compose" (v1: softmax(zsl_beta * text-metric cosine)) or "affect" (v2: softmax(
    # zsl_beta * cosine - zsl_beta_affect * squared distance of affect coordinates), then an affine
    # least-squares fit of the coordinates when zsl_ridge is set); zsl_text also composes the text row.
    # (v2.1 shipped compose, zsl_beta 5; the probe's dev headline chose this among the affect rules)
    zsl_method: str = "affect"
    zsl_beta: float = 0.0
    zsl_beta_affect: float = 30.0
    zsl_ridge: float | None = 0.03
    zsl_text: bool = False
    metric_samples: int = 4000  # GoEmotions training sentences for the text metric
    ef_hidden: int = 96
    # protocol runs (seeds use the main settings; these shrink the many short runs)
    protocol_epochs: int = 3
    protocol_hidden_acoustic: int = 64
    protocol_hidden_visual: int = 32
    protocol_per_epoch_scale: float = 0.5  # per-epoch sample counts of the sources, scaled
    seeds: tuple[int, ...] = (0, 1, 2)
    seed: int = 0
    threads: int = 1

    @classmethod
    def quick(cls) -> RecipeSettings:
        """A few minutes end to end (tests): actor 01 only, a few clips/photos per class, tiny nets, 1-2 epochs."""
        return cls(
            train_actors=(1,),
            train_clips_per_class=2,
            valid_clips_per_class=1,
            train_ends=(1.0,),
            text_limit=300,
            speech_limit=1,
            faces_limit=6,
            hidden_acoustic=16,
            hidden_visual=8,
            epochs=2,
            speech_per_epoch=128,
            faces_per_epoch=128,
            goemotions_per_epoch=256,
            meld_per_epoch=128,
            ravdess_repeat=1,
            metric_samples=200,
            ef_hidden=16,
            protocol_epochs=1,
            protocol_hidden_acoustic=8,
            protocol_hidden_visual=8,
            seeds=(0, 1),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window"] = asdict(self.window)
        return d

    def digest(self, *extra: Any) -> str:
        return _settings_hash(self.to_dict(), extra)

    def training_digest(self, *extra: Any) -> str:
        """As :meth:`digest`, without the zero-shot rule (``zsl_*``): it is applied after training, so a
        trained sub-model can be re-scored under another rule without retraining."""
        return _settings_hash({k: v for k, v in self.to_dict().items() if not k.startswith("zsl_")}, extra)

    def protocol(self) -> RecipeSettings:
        """The smaller settings of the protocol runs (LOCO, LOSO, leave-one-emotion-out)."""
        s = self.protocol_per_epoch_scale

        def sc(n):
            return max(1, int(round(n * s)))

        return replace(
            self,
            epochs=self.protocol_epochs,
            hidden_acoustic=self.protocol_hidden_acoustic,
            hidden_visual=self.protocol_hidden_visual,
            speech_per_epoch=sc(self.speech_per_epoch),
            faces_per_epoch=sc(self.faces_per_epoch),
            goemotions_per_epoch=sc(self.goemotions_per_epoch),
            meld_per_epoch=sc(self.meld_per_epoch),
            ravdess_repeat=1,
        )


# ----------------------------------------------------------------------------- data


@dataclass
class RecipeData:
    ravdess_train: Any  # EmotionDataset: training actors, several window ends per clip, no calm
    ravdess_valid: Any  # validation actors, clip-end windows, all clips, with a 'calm' column
    speech: Any  # every voice clip (groups speaker, corpus)
    speech_train: Any
    speech_valid: Any  # held-out speakers of every corpus
    faces: Any  # every photo with a face (groups source, photo)
    faces_train: Any
    faces_valid: Any  # held-out photos of every (source, emotion)
    goemotions_train: Any
    goemotions_dev: Any
    meld_train: Any
    meld_dev: Any
    reports: list = field(default_factory=list)  # extraction reports (faces, speech)

    def summary(self) -> str:
        return "\n".join(
            getattr(self, k).summary()
            for k in (
                "ravdess_train",
                "ravdess_valid",
                "speech_train",
                "speech_valid",
                "faces_train",
                "faces_valid",
                "goemotions_train",
                "goemotions_dev",
                "meld_train",
                "meld_dev",
            )
        )

    def sizes(self) -> dict[str, int]:
        return {
            k: len(getattr(self, k))
            for k in (
                "ravdess_train",
                "ravdess_valid",
                "speech_train",
                "speech_valid",
                "faces_train",
                "faces_valid",
                "goemotions_train",
                "goemotions_dev",
                "meld_train",
                "meld_dev",
            )
        }


def _label_shell(labels: Sequence[str], groups: dict[str, Sequence[str]]):
    """A feature-less dataset of one-label items (for computing a split from the labels files alone)."""
    from model.datasets import EmotionDataset

    n = len(labels)
    y = np.zeros((n, len(SEEN)), np.float32)
    for i, e in enumerate(labels):
        y[i, SEEN.index(e)] = 1.0
    z = np.zeros((n, 1, 1), np.float32)
    return EmotionDataset(
        text=z,
        acoustic=z,
        visual=z,
        labels=y,
        emotions=list(SEEN),
        modality_mask=np.ones((n, 3), bool),
        groups=dict(groups),
    )


def heldout_photos(shared: str | Path, s: RecipeSettings) -> set[str]:
    """Keys of the held-out photos: ``s.holdout`` of every (source, emotion), drawn from labels.csv alone
    (so a test can find them without extracting every photo)."""
    from .faces import read_photos
    from .splits import holdout

    photos = read_photos(Path(shared) / "data" / "faces")
    shell = _label_shell(
        [p.emotion for p in photos], {"photo": [p.key for p in photos], "source": [p.source for p in photos]}
    )
    _, va = holdout(shell, "photo", s.holdout, seed=s.split_seed, within="source", by_label=True)
    return {photos[i].key for i in va}


def heldout_speakers(shared: str | Path, s: RecipeSettings) -> set[str]:
    """Ids (``corpus:speaker``) of the held-out speakers: ``s.holdout`` of every corpus's speakers."""
    from .speech import read_clips
    from .splits import holdout

    clips = read_clips(Path(shared) / "data" / "speech")
    shell = _label_shell(
        [c.emotion for c in clips], {"speaker": [c.speaker_id for c in clips], "corpus": [c.corpus for c in clips]}
    )
    _, va = holdout(shell, "speaker", s.holdout, seed=s.split_seed, within="corpus")
    return {clips[i].speaker_id for i in va}


def load_recipe_data(shared: str | Path, provider, s: RecipeSettings, workers: int = 1) -> RecipeData:
    """Every dataset of the recipe from ``shared``; features from the cache (extracted on a miss)."""
    from .faces import load_faces
    from .recipe_data import load_data
    from .speech import load_speech
    from .splits import assert_disjoint

    base = load_data(
        shared,
        provider,
        valid_actors=s.valid_actors,
        train_actors=s.train_actors,
        train_ends=s.train_ends,
        settings=s.window,
        text_limit=s.text_limit,
        train_clips_per_class=s.train_clips_per_class,
        valid_clips_per_class=s.valid_clips_per_class,
        visual_space=s.visual_space,
    )
    if s.ravdess_visual not in ("keep", "zeros", "drop"):
        raise ValueError(f"ravdess_visual must be 'keep', 'zeros' or 'drop', got '{s.ravdess_visual}'")
    reports: list = []
    speech = load_speech(shared, settings=s.window, limit=s.speech_limit, workers=workers, report=reports)
    # every training view of the photos (s.face_borders); the first view is the one validated on
    views = [
        load_faces(
            shared,
            settings=s.window,
            limit=s.faces_limit,
            workers=workers,
            border=b,
            space=s.visual_space,
            report=reports,
            name=f"faces (border {100 * b:g} %)" if b else "faces",
        )
        for b in s.face_borders
    ]
    faces = views[0]
    held = sorted(heldout_photos(shared, s))
    sp_va = np.isin(speech.group("speaker"), sorted(heldout_speakers(shared, s)))
    fa_va = np.isin(faces.group("photo"), held)
    sp_tr, sp_va = np.flatnonzero(~sp_va), np.flatnonzero(sp_va)
    fa_tr, fa_va = np.flatnonzero(~fa_va), np.flatnonzero(fa_va)
    assert_disjoint(speech, "speaker", sp_tr, sp_va)
    assert_disjoint(faces, "photo", fa_tr, fa_va)
    faces_train = faces.subset(fa_tr, "faces-train")
    if len(views) > 1:
        from model.datasets import concat

        faces_train = concat(
            [faces_train] + [where_group(v, "photo", held, keep=False) for v in views[1:]], "faces-train"
        )
    d_v = faces.visual.shape[2]
    d_a = s.window.acoustic_dim
    faces, faces_train = with_acoustic_dim(faces, d_a), with_acoustic_dim(faces_train, d_a)
    rav_tr, rav_va = base.ravdess_train, base.ravdess_valid
    if s.ravdess_visual == "zeros":
        rav_tr, rav_va = zero_blendshapes(rav_tr), zero_blendshapes(rav_va)
    if s.ravdess_visual == "drop":
        rav_tr = only_modalities(rav_tr, "ta")
    return RecipeData(
        ravdess_train=rav_tr,
        ravdess_valid=rav_va,
        speech=with_visual_dim(speech, d_v),
        speech_train=with_visual_dim(speech.subset(sp_tr, "speech-train"), d_v),
        speech_valid=with_visual_dim(speech.subset(sp_va, "speech-valid"), d_v),
        faces=faces,
        faces_train=faces_train,
        faces_valid=faces.subset(fa_va, "faces-valid"),
        goemotions_train=with_acoustic_dim(with_visual_dim(base.goemotions_train, d_v), d_a),
        goemotions_dev=with_acoustic_dim(with_visual_dim(base.goemotions_dev, d_v), d_a),
        meld_train=with_acoustic_dim(with_visual_dim(base.meld_train, d_v), d_a),
        meld_dev=with_acoustic_dim(with_visual_dim(base.meld_dev, d_v), d_a),
        reports=reports,
    )


def _with_absent_dim(ds, modality: str, dim: int):
    j = ("text", "acoustic", "visual").index(modality)
    x = np.asarray(getattr(ds, modality))
    if x.shape[2] == dim or ds.modality_mask[:, j].any():
        return ds
    return replace(ds, **{modality: np.broadcast_to(np.zeros((1, 1, 1), np.float32), x.shape[:2] + (int(dim),))})


def with_visual_dim(ds, dim: int):
    """``ds`` with zero visual features of ``dim`` columns when it has no visual modality at all (voice and
    text corpora, built in Facet-35's 35), so every source of a richer visual space stacks; others unchanged."""
    return _with_absent_dim(ds, "visual", dim)


def with_acoustic_dim(ds, dim: int):
    """The same for the acoustic modality (photo and text corpora, built in COVAREP-74's 74), so they stack
    with the voice corpora of a richer acoustic step space."""
    return _with_absent_dim(ds, "acoustic", dim)


def zero_blendshapes(ds):
    """``ds`` (87-column visual space) with its 52 blendshape columns 0 (RAVDESS's OpenFace rows have none)."""
    v = np.array(ds.visual, np.float32)
    if v.shape[2] <= 35:
        return ds
    v[:, :, 35:] = 0.0
    return replace(ds, visual=v)


def only_modalities(ds, mods: str):
    """``ds`` with every modality but ``mods`` (e.g. ``"a"``) marked absent."""
    keep = np.array([m[0] in mods for m in ("text", "acoustic", "visual")], bool)
    return replace(ds, modality_mask=ds.modality_mask & keep[None, :])


def where_group(ds, key: str, values: Sequence[str], keep: bool = True):
    """The samples of ``ds`` whose ``key`` group is (``keep``) or is not in ``values``."""
    inside = np.isin(ds.group(key), list(values))
    return ds.subset(np.flatnonzero(inside if keep else ~inside))


def without_emotions(ds, labels: Sequence[str]):
    """``ds`` without the samples positive for any of ``labels`` (zero-shot training data)."""
    cols = [ds.emotions.index(l) for l in labels if l in ds.emotions]
    if not cols:
        return ds
    keep = ~((ds.labels[:, cols] > 0.5) & ds.label_mask[:, cols]).any(axis=1)
    return ds.subset(np.flatnonzero(keep))


def annotates(ds, emotion: str) -> bool:
    """Whether ``ds`` has annotated positives of ``emotion``."""
    if emotion not in ds.emotions:
        return False
    j = ds.emotions.index(emotion)
    return bool(((ds.labels[:, j] > 0.5) & ds.label_mask[:, j]).any())


# ----------------------------------------------------------------------------- emotion words


def emotion_names(train_sets: Mapping[str, Any]) -> list[str]:
    """Every training name: the seven first, then the others (GoEmotions) in a fixed order."""
    rest = set()
    for ds in train_sets.values():
        rest |= set(ds.emotions)
    rest -= set(SEEN)
    bad = rest & (set(corpora.HELD_OUT) | set(corpora.CALM_SYNONYMS))
    if bad:
        raise ValueError(f"training labels {sorted(bad)} mean calm, the held-out zero-shot emotion")
    return list(SEEN) + sorted(rest)


def word_of(name: str) -> str:
    return WORD_FORMS.get(name, name)


def emotion_vectors(names: Sequence[str], provider) -> tuple[np.ndarray, dict[str, str]]:
    words = {n: word_of(n) for n in names}
    for w in words.values():
        if w.lower() in corpora.CALM_SYNONYMS:
            raise ValueError(f"word form '{w}' means calm, the held-out zero-shot emotion")
    return provider.vectors([words[n] for n in names]).astype(np.float32), words


def feature_spaces(provider, visual: str = "facet-35", acoustic: str = "covarep-74") -> dict:
    """The spaces a checkpoint records: the provider's text space and the named acoustic and visual spaces."""
    from feature_adapters.blendshapes import visual_space
    from feature_adapters.covarep import acoustic_space

    return {"text": provider.space(), "acoustic": acoustic_space(acoustic), "visual": visual_space(visual)}


# ----------------------------------------------------------------------------- training


@dataclass
class RunResult:
    net: Any
    normalization: dict
    names: list[str]
    vectors: np.ndarray
    words: dict[str, str]
    anchors: dict[str, list[str]]
    history: Any
    seconds: float
    visual_space: str = "facet-35"  # the name the checkpoint records (RecipeSettings.visual_space)
    acoustic_space: str = "covarep-74"  # the same for the acoustic step space (RecipeSettings.window)


def main_train_sets(data: RecipeData) -> dict[str, Any]:
    return {
        "ravdess": data.ravdess_train,
        "speech": data.speech_train,
        "faces": data.faces_train,
        "goemotions": data.goemotions_train,
        "meld": data.meld_train,
    }


#: Named COVAREP-74 column groups a per-window acoustic standardisation may be limited to.
ACOUSTIC_WINDOW_COLUMNS = {
    "mcep": tuple(f"MCEP_{i}" for i in range(1, 25)),  # the cepstrum without its energy term (cepstral mean norm.)
    "mcep0": tuple(f"MCEP_{i}" for i in range(25)),
}


def acoustic_window(spec: str) -> tuple[str, tuple[int, ...] | None]:
    """``RecipeSettings.acoustic_norm`` -> (per-window mode, COVAREP-74 column indices or None for all)."""
    from feature_adapters.covarep import COVAREP74

    mode, _, cols = str(spec or "").partition(":")
    if not cols:
        return mode, None
    if cols not in ACOUSTIC_WINDOW_COLUMNS:
        raise ValueError(
            f"acoustic_norm '{spec}': unknown columns '{cols}' (known: {', '.join(ACOUSTIC_WINDOW_COLUMNS)})"
        )
    names = list(COVAREP74.columns)
    return mode, tuple(names.index(c) for c in ACOUSTIC_WINDOW_COLUMNS[cols])


def fit_normalization_over(train_sets: Mapping[str, Any], per_window: Mapping[str, str] | None = None) -> dict:
    """Per-modality mean/std over the observed steps of every training set that has the modality (after the
    modality's ``per_window`` standardisation, if any (a ``RecipeSettings.acoustic_norm`` string):
    :func:`model.normalize.window_standardize`)."""
    from model.normalize import fit_stats

    out = {}
    for m in ("acoustic", "visual"):
        j = ("text", "acoustic", "visual").index(m)
        xs, ms = [], []
        for ds in train_sets.values():
            present = ds.modality_mask[:, j]
            if present.any():
                idx = np.flatnonzero(present)
                xs.append(np.asarray(getattr(ds, m))[idx])
                ms.append(np.asarray(ds.step_masks[m])[idx])
        if xs:
            mode, cols = acoustic_window((per_window or {}).get(m, ""))
            out[m] = fit_stats(np.concatenate(xs), np.concatenate(ms), per_window=mode, window_columns=cols)
    return out


def _per_epoch(name: str, s: RecipeSettings) -> dict[str, Any]:
    return {
        "ravdess": {"repeat": s.ravdess_repeat},
        "speech": {"per_epoch": s.speech_per_epoch},
        "faces": {"per_epoch": s.faces_per_epoch},
        "goemotions": {"per_epoch": s.goemotions_per_epoch, "batch_size": s.text_batch_size},
        "meld": {"per_epoch": s.meld_per_epoch, "batch_size": s.text_batch_size},
    }.get(name, {"repeat": 1})


def mixture_sources(train_sets: Mapping[str, Any], names: Sequence[str], settings: RecipeSettings, normalization: dict):
    from .mixing import MixSource, balanced_pos_weight, normalise_sources

    keys = list(train_sets)
    normed = normalise_sources([train_sets[k] for k in keys], normalization)
    parts = []
    for k, d in zip(keys, normed):
        d = d.select_emotions(list(names))
        if k == "speech" and settings.speech_balance and "corpus" in d.groups:
            cs = sorted(set(d.group("corpus").tolist()))
            parts += [(k, f"speech:{c}", where_group(d, "corpus", [c]), len(cs)) for c in cs]
        else:
            parts.append((k, k, d, 1))
    out = []
    for k, name, d, share in parts:
        if len(d) == 0:
            continue
        pw = (
            balanced_pos_weight(d, settings.pos_weight_power, settings.pos_weight_cap)
            if settings.pos_weight_power > 0
            else None
        )
        how = dict(_per_epoch(k, settings))
        if "per_epoch" in how and share > 1:  # one corpus of a balanced source: its share, cycled if small
            how["per_epoch"] = max(1, int(how["per_epoch"]) // share)
        elif "per_epoch" in how:
            how["per_epoch"] = min(int(how["per_epoch"]), len(d))
        out.append(MixSource(name, d, pos_weight=pw, **how))
    return out


def modality_anchors(sources, names: Sequence[str]) -> dict[str, list[str]]:
    """Per mapped modality, the emotions with annotated positives in a source that has that modality."""
    out: dict[str, list[str]] = {"acoustic": [], "visual": []}
    for m in out:
        j = ("text", "acoustic", "visual").index(m)
        seen = set()
        for s in sources:
            d = s.data
            has = d.modality_mask[:, j]
            if not has.any():
                continue
            pos = ((d.labels > 0.5) & d.label_mask)[has].any(axis=0)
            seen |= {names[k] for k in np.flatnonzero(pos)}
        out[m] = [n for n in names if n in seen]
    return out


def text_representations(net, ds, n: int, seed: int = 0) -> np.ndarray:
    """(n, d_t) text-encoder outputs on ``n`` sentences of ``ds`` (seeded sample)."""
    import torch

    idx = np.random.default_rng(seed).permutation(len(ds))[:n]
    net.eval()
    with torch.no_grad():
        return net.encoders["text"](torch.from_numpy(np.ascontiguousarray(ds.text[idx], np.float32))).numpy()


def train_embedding_model(
    train_sets: Mapping[str, Any],
    provider,
    settings: RecipeSettings,
    *,
    seed: int,
    epochs: int | None = None,
    exclude: Sequence[str] = (),
    metric_text=None,
    log_fn: Callable[[str], None] | None = None,
) -> RunResult:
    """Train the paper's network on the mixture of ``train_sets``; ``exclude`` emotions are held out (their
    positive samples removed, not in the label set). Then fill the zero-shot composition: anchors (the
    emotions each modality was trained on) and the text metric (from ``metric_text``, a text dataset)."""
    import torch

    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from model.zeroshot import text_metric

    from .mixing import train_mixture

    torch.set_num_threads(max(1, settings.threads))
    sets = {k: without_emotions(v, exclude) for k, v in train_sets.items() if v is not None}
    names = [n for n in emotion_names(sets) if n not in exclude]
    vectors, words = emotion_vectors(names, provider)
    normalization = fit_normalization_over(sets, {"acoustic": settings.acoustic_norm})
    sources = mixture_sources(sets, names, settings, normalization)
    anchors = modality_anchors(sources, names)
    if settings.zsl_text:
        anchors["text"] = list(names)
    torch.manual_seed(seed)
    cfg = ModelConfig(
        input_dims={"text": provider.dim, "acoustic": settings.window.acoustic_dim, "visual": _visual_dim(sets)},
        hidden={"text": provider.dim, "acoustic": settings.hidden_acoustic, "visual": settings.hidden_visual},
        emb_dim=provider.dim,
        num_layers=settings.num_layers,
        dropout=settings.dropout,
        input_layers={
            m: w for m, w in (("acoustic", settings.acoustic_input_layer), ("visual", settings.visual_input_layer)) if w
        },
        zero_shot=zero_shot_rule(settings, anchors),
        pooling=settings.pooling,
    )
    net = EmotionEmbeddingNet(cfg)
    E = torch.from_numpy(vectors)

    def forward(t, a, v, m):
        return net(t, a, v, E, m).logits

    hist = train_mixture(net, forward, sources, mix_schedule(settings, epochs, seed), log=log_fn)
    if metric_text is not None and len(metric_text):
        metric = text_metric(text_representations(net, metric_text, settings.metric_samples, seed))
    else:
        metric = np.eye(provider.dim, dtype=np.float32)
    idx = {n: i for i, n in enumerate(names)}
    if cfg.anchor_counts():
        net.set_zero_shot(
            {m: vectors[[idx[n] for n in a]] for m, a in anchors.items() if a},
            metric,
            rule_axes(provider) if cfg.affect_axes() else None,
        )
    return RunResult(
        net,
        normalization,
        names,
        vectors,
        words,
        anchors,
        hist,
        hist.seconds,
        _visual_space_of(settings, sets),
        settings.window.acoustic_space,
    )


def zero_shot_rule(settings: RecipeSettings, anchors: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The checkpoint's config.zero_shot for the settings' rule and the anchors (names per modality)."""
    from model.zeroshot import AFFECT_POLES

    z: dict[str, Any] = {
        "method": settings.zsl_method,
        "beta": float(settings.zsl_beta),
        "anchors": {m: len(a) for m, a in anchors.items()},
    }
    if settings.zsl_method == "affect":
        z.update(version=2, beta_affect=float(settings.zsl_beta_affect), axes=len(AFFECT_POLES))
        z["axis_names"] = list(AFFECT_POLES)
        if settings.zsl_ridge is not None:
            z["ridge"] = float(settings.zsl_ridge)
    return z


def rule_axes(provider) -> np.ndarray:
    """The affect axes (model.zeroshot.AFFECT_POLES) in the provider's word space."""
    from model.zeroshot import affect_axes

    return affect_axes(lambda w: provider.vector(w) if w in provider else None)


def apply_zero_shot_rule(ck, settings: RecipeSettings, provider):
    """``ck`` (a recipe checkpoint with composition) under the settings' zero-shot rule, weights unchanged:
    the rule is applied after training, so a kept sub-model is re-scored without retraining."""
    import copy

    if not ck.config.anchor_counts():
        return ck
    names = {m: list(a) for m, a in ck.provenance.get("zero_shot_anchors", {}).items() if m != "text"}
    if settings.zsl_text:
        names["text"] = list(ck.emotion_words)
    z = zero_shot_rule(settings, names)
    out = copy.copy(ck)
    out.config = replace(ck.config, zero_shot=z)
    out.config.__post_init__()
    sd = {k: v for k, v in ck.state_dict.items() if k not in ("zsl_axes", "zsl_anchors_text")}
    if "text" in names:
        sd["zsl_anchors_text"] = np.stack([ck.vector_of(n) for n in names["text"]]).astype(np.float32)
    if out.config.affect_axes():
        sd["zsl_axes"] = rule_axes(provider)
    out.state_dict = sd
    out.provenance = {**ck.provenance, "zero_shot_anchors": names}
    return out


def _visual_dim(sets: Mapping[str, Any]) -> int:
    """The visual feature dimension of the training sets: of those with a visual modality, else of the (empty,
    padded: :func:`with_visual_dim`) visual arrays of all of them (Facet-35's 35 when there are none)."""
    dims = {int(np.shape(ds.visual)[2]) for ds in sets.values() if ds.modality_mask[:, 2].any()}
    if not dims:
        dims = {int(np.shape(ds.visual)[2]) for ds in sets.values()}
    if len(dims) > 1:
        raise ValueError(f"training sets disagree on the visual dimension: {sorted(dims)}")
    return dims.pop() if dims else 35


def _visual_space_of(settings: RecipeSettings, sets: Mapping[str, Any]) -> str:
    """The settings' visual space, checked against the dimension the training sets have."""
    from feature_adapters.blendshapes import visual_space

    d = _visual_dim(sets)
    if visual_space(settings.visual_space).dim != d:
        raise ValueError(f"visual space '{settings.visual_space}' is not the training sets' {d} columns")
    return settings.visual_space


def to_checkpoint(run: RunResult, provider, provenance: dict[str, Any]):
    from model.checkpoint import Checkpoint

    prov = dict(provenance)
    prov.setdefault("zero_shot_anchors", run.anchors)
    return Checkpoint.from_model(
        run.net,
        feature_spaces(provider, run.visual_space, run.acoustic_space),
        run.normalization,
        run.names,
        run.vectors,
        provider.name,
        display_emotions=list(corpora.PAPER_SIX),
        provenance=prov,
    )


# ----------------------------------------------------------------------------- evaluation


def _predictor(ck, provider, extra: Sequence[str] = ()):
    """A Predictor on ``ck`` that scores ``extra`` names by their word forms (held-out emotions)."""
    from model.inference import Predictor

    pred = Predictor(ck, provider=provider)
    for n in extra:
        if ck.vector_of(n) is None:
            pred.add_emotion(n, provider.vector(word_of(n)))
    return pred


def _eval(ck, ds, mods: str, ems: Sequence[str], pred) -> dict[str, Any]:
    from model.evaluation import evaluate_checkpoint

    ems = [e for e in ems if annotates(ds, e)]
    return evaluate_checkpoint(ck, ds, mods, ems, predictor=pred).to_dict()


def _by_group(ck, ds, key: str, mods: str, ems: Sequence[str], pred) -> dict[str, Any]:
    return {g: _eval(ck, where_group(ds, key, [g]), mods, ems, pred) for g in sorted(set(ds.group(key).tolist()))}


def evaluate_default(ck, data: RecipeData, provider) -> dict[str, Any]:
    """Every held-out figure of the model card, through the live scoring path (:class:`model.inference.Predictor`)."""
    pred = _predictor(ck, provider, ("calm",))
    ems = list(SEEN)
    g_names = [e for e in data.goemotions_dev.emotions if ck.vector_of(e) is not None]
    return {
        "ravdess": {s: _eval(ck, data.ravdess_valid, s, ems, pred) for s in RAVDESS_SUBSETS},
        "speech": _eval(ck, data.speech_valid, "a", ems, pred),
        "speech_by_corpus": _by_group(ck, data.speech_valid, "corpus", "a", ems, pred),
        "faces": _eval(ck, data.faces_valid, "v", ems, pred),
        "faces_by_source": _by_group(ck, data.faces_valid, "source", "v", ems, pred),
        "calm": {s: _eval(ck, data.ravdess_valid, s, ["calm"], pred) for s in CALM_SUBSETS},
        "goemotions_dev": _eval(ck, data.goemotions_dev, "t", g_names, pred),
        "meld_dev": _eval(ck, data.meld_dev, "t", list(data.meld_dev.emotions), pred),
    }


def _avg(t: dict[str, Any], key: str = "auc") -> float:
    v = (t or {}).get("average", {}).get(key)
    return float("nan") if v is None else float(v)


def _min_emotion(t: dict[str, Any], key: str = "auc") -> float:
    vals = [r.get(key) for r in (t or {}).get("per_emotion", {}).values() if r.get(key) is not None]
    return float(min(vals)) if vals else float("nan")


def headline(fig: dict[str, Any]) -> dict[str, float]:
    """The main figures (for the 3-seed spread and the checkpoint's provenance)."""
    return {
        "faces_auc": _avg(fig["faces"]),
        "faces_min_auc": _min_emotion(fig["faces"]),
        "voices_auc": _avg(fig["speech"]),
        "ravdess_tav_auc": _avg(fig["ravdess"]["tav"]),
        "ravdess_av_auc": _avg(fig["ravdess"]["av"]),
        "ravdess_a_auc": _avg(fig["ravdess"]["a"]),
        "ravdess_v_auc": _avg(fig["ravdess"]["v"]),
        "ravdess_tav_wacc": _avg(fig["ravdess"]["tav"], "w_acc"),
        "calm_tav_auc": _avg(fig["calm"]["tav"]),
        "calm_a_auc": _avg(fig["calm"]["a"]),
        "calm_v_auc": _avg(fig["calm"]["v"]),
        "goemotions_auc": _avg(fig["goemotions_dev"]),
        "meld_auc": _avg(fig["meld_dev"]),
        "meld_wacc": _avg(fig["meld_dev"], "w_acc"),
    }


def zero_shot_figures(ck, data: RecipeData, provider, emotion: str) -> dict[str, Any]:
    """Zero-shot figures of one held-out ``emotion`` (scored by its word alone) in every modality."""
    pred = _predictor(ck, provider, (emotion,))
    e = [emotion]
    out = {
        "voices_a": _eval(ck, data.speech_valid, "a", e, pred),
        "faces_v": _eval(ck, data.faces_valid, "v", e, pred),
        "goemotions_t": _eval(ck, data.goemotions_dev, "t", e, pred),
        "meld_t": _eval(ck, data.meld_dev, "t", e, pred),
    }
    for s in ("a", "v", "av", "tav"):
        out[f"ravdess_{s}"] = _eval(ck, data.ravdess_valid, s, e, pred)
    return out


def composition_of(ck, provider, word: str) -> dict[str, dict[str, float]]:
    """The composition weights of ``word`` over each modality's anchors (where a new word lands)."""
    from model.zeroshot import rule_weights

    net = ck.build_runtime()
    if net.zero_shot is None:
        return {}
    anchors, metric = net.zero_shot
    names = ck.provenance.get("zero_shot_anchors", {})
    v = provider.vector(word_of(word))[None].astype(np.float32)
    out = {}
    for m, A in anchors.items():
        w = rule_weights(v, A, ck.config.zero_shot, metric, net.zero_shot_axes)[0]
        out[m] = {n: round(float(x), 3) for n, x in zip(names.get(m, [str(i) for i in range(len(w))]), w)}
    return out


# ----------------------------------------------------------------------------- EF-LSTM baseline


def mix_schedule(
    settings: RecipeSettings, epochs: int | None = None, seed: int = 0, modality_dropout: float | None = None
):
    """The :class:`recipes.mixing.MixSchedule` of ``settings`` (``epochs`` None: the settings' own;
    ``modality_dropout`` None: the settings' own)."""
    from .mixing import MixSchedule

    return MixSchedule(
        epochs=int(epochs or settings.epochs),
        batch_size=settings.batch_size,
        lr=settings.lr,
        lr_final=settings.lr_final,
        weight_decay=settings.weight_decay,
        l2_by_modality=(("acoustic", float(settings.acoustic_l2)),) if settings.acoustic_l2 else (),
        offset_noise=(("acoustic", float(settings.acoustic_offset_noise)),) if settings.acoustic_offset_noise else (),
        ema_epochs=float(settings.ema_epochs),
        clip=settings.clip,
        modality_dropout=settings.modality_dropout if modality_dropout is None else modality_dropout,
        seed=seed,
    )


def train_baseline(
    train_sets: Mapping[str, Any],
    settings: RecipeSettings,
    *,
    seed: int,
    epochs: int,
    log_fn: Callable[[str], None] | None = None,
):
    import torch

    from .baselines import EarlyFusionLSTM, EFLSTMConfig
    from .mixing import train_mixture

    torch.set_num_threads(max(1, settings.threads))
    names = emotion_names(train_sets)
    normalization = fit_normalization_over(train_sets, {"acoustic": settings.acoustic_norm})
    sources = mixture_sources(train_sets, names, settings, normalization)
    torch.manual_seed(seed)
    d_t, d_a = (int(np.shape(getattr(next(iter(train_sets.values())), m))[2]) for m in ("text", "acoustic"))
    net = EarlyFusionLSTM(
        EFLSTMConfig(
            input_dims=(d_t, d_a, _visual_dim(train_sets)),
            hidden=settings.ef_hidden,
            num_layers=settings.num_layers,
            dropout=settings.dropout,
            num_labels=len(names),
            pooling=settings.pooling,
        )
    )
    hist = train_mixture(net, net, sources, mix_schedule(settings, epochs, seed), log=log_fn)
    return net, normalization, names, hist


def evaluate_baseline(net, normalization: dict, names: Sequence[str], data: RecipeData) -> dict[str, Any]:
    from model.inference import parse_modalities
    from model.metrics import evaluate_scores

    from .baselines import predict_ef
    from .mixing import normalise_sources

    def table(ds, ems, mods):
        ds = normalise_sources([ds], normalization)[0]
        ems = [e for e in ems if e in names and annotates(ds, e)]
        sub = ds.select_emotions(list(ems))
        p = predict_ef(net, sub, [list(names).index(e) for e in ems], parse_modalities(mods))
        lm = sub.label_mask & np.isfinite(p)
        return evaluate_scores(sub.labels, np.nan_to_num(p, nan=0.0), list(ems), 0.5, lm).to_dict()

    return {
        "ravdess": {s: table(data.ravdess_valid, SEEN, s) for s in RAVDESS_SUBSETS},
        "speech": table(data.speech_valid, SEEN, "a"),
        "faces": table(data.faces_valid, SEEN, "v"),
        "goemotions_dev": table(data.goemotions_dev, data.goemotions_dev.emotions, "t"),
        "meld_dev": table(data.meld_dev, data.meld_dev.emotions, "t"),
    }


# ----------------------------------------------------------------------------- orchestration


@dataclass
class Recipe:
    """One run of the recipe: data, settings, a work folder for stage results."""

    shared: Path
    settings: RecipeSettings
    work: Path
    provider: Any = None
    data: RecipeData | None = None
    log_fn: Callable[[str], None] = print
    workers: int = 1
    timings: dict[str, float] = field(default_factory=dict)

    def load(self) -> RecipeData:
        if self.data is None:
            from feature_adapters.embeddings import get_provider

            self.provider = self.provider or get_provider()
            t0 = time.perf_counter()
            self.data = load_recipe_data(self.shared, self.provider, self.settings, workers=self.workers)
            self.timings["data_seconds"] = time.perf_counter() - t0
            self.log_fn(f"data ready in {self.timings['data_seconds']:.0f} s:\n{self.data.summary()}")
        return self.data

    def _stage_path(self, stage: str, *extra: Any) -> Path:
        return self.work / f"{stage}-{self.settings.digest(stage, *extra)}.json"

    def stage(self, stage: str, fn: Callable[[], dict[str, Any]], *extra: Any) -> dict[str, Any]:
        path = self._stage_path(stage, *extra)
        if path.exists():
            self.log_fn(f"[{stage}] reusing {path}")
            return json.loads(path.read_text())
        self.log_fn(f"[{stage}] running")
        t0 = time.perf_counter()
        res = fn()
        res.setdefault("stage_seconds", round(time.perf_counter() - t0, 1))
        _write_json(path, res)
        return res

    # stages ----------------------------------------------------------------------
    def main_run(self, out: Path | None, seed: int | None = None, tag: str = "main") -> dict[str, Any]:
        seed = self.settings.seed if seed is None else seed
        ck_path = self.work / f"{tag}-seed{seed}-{self.settings.digest(tag, seed)}.ckpt"

        def run():
            data = self.load()
            r = train_embedding_model(
                main_train_sets(data),
                self.provider,
                self.settings,
                seed=seed,
                metric_text=data.goemotions_train,
                log_fn=self.log_fn,
            )
            ck = to_checkpoint(r, self.provider, self.provenance(r, seed))
            fig = evaluate_default(ck, data, self.provider)
            ck.provenance["metrics"] = headline(fig)
            ck.save(ck_path)
            return {
                "figures": fig,
                "headline": headline(fig),
                "train_seconds": r.seconds,
                "epochs": self.settings.epochs,
                "seed": seed,
                "history": r.history.to_dict(),
                "checkpoint": str(ck_path),
                "data_seconds": self.timings.get("data_seconds"),
                "data_sizes": data.sizes(),
                "anchors": r.anchors,
                "extraction": [_report_dict(x) for x in data.reports],
            }

        res = self.stage(tag, run, seed)
        if out is not None:
            from model.checkpoint import Checkpoint

            if not Path(res["checkpoint"]).exists():
                raise FileNotFoundError(f"{res['checkpoint']} is gone; delete {self._stage_path(tag, seed)} and rerun")
            Checkpoint.load(res["checkpoint"]).save(out)
        return res

    def spread(self) -> dict[str, Any]:
        """The spread over ``seeds`` of the protocol-size model (all data, all emotions), each seed trained anew."""

        def run():
            data = self.load()
            ps = self.settings.protocol()
            rows = {}
            for seed in self.settings.seeds:
                r = train_embedding_model(
                    main_train_sets(data),
                    self.provider,
                    ps,
                    seed=seed,
                    metric_text=data.goemotions_train,
                    log_fn=self.log_fn,
                )
                rows[str(seed)] = headline(evaluate_default(to_checkpoint(r, self.provider, {}), data, self.provider))
                rows[str(seed)]["train_seconds"] = r.seconds
                self.log_fn(f"[spread] seed {seed}: " + format_figures_line(rows[str(seed)]))
            keys = [k for k in next(iter(rows.values())) if k != "train_seconds"]
            summary = {
                k: {
                    "mean": float(np.nanmean([rows[s][k] for s in rows])),
                    "std": float(np.nanstd([rows[s][k] for s in rows], ddof=1)) if len(rows) > 1 else 0.0,
                }
                for k in keys
            }
            return {"per_seed": rows, "summary": summary, "epochs": ps.epochs, "settings": "protocol"}

        return self.stage("spread", run)

    def baseline(self) -> dict[str, Any]:
        def run():
            data = self.load()
            ps = self.settings.protocol()  # the size and schedule of the spread's models (its seed 0 is compared)
            net, norm, names, hist = train_baseline(
                main_train_sets(data), ps, seed=self.settings.seed, epochs=ps.epochs, log_fn=self.log_fn
            )
            fig = evaluate_baseline(net, norm, names, data)
            fig["train_seconds"] = hist.seconds
            fig["parameters"] = int(sum(p.numel() for p in net.parameters()))
            return fig

        return self.stage("baseline", run)

    def _held_out(self, sets: dict[str, Any], test, mods: str, ps: RecipeSettings) -> dict[str, Any]:
        """A protocol-size sub-model trained on ``sets`` and its per-emotion table on ``test`` (modalities ``mods``)."""
        r = train_embedding_model(sets, self.provider, ps, seed=self.settings.seed, log_fn=self.log_fn)
        ck = to_checkpoint(r, self.provider, {})
        row = _eval(ck, test, mods, SEEN, _predictor(ck, self.provider))
        row["train_seconds"] = r.seconds
        return row

    def loco(self) -> dict[str, Any]:
        """Leave one voice corpus out: an acoustic-only sub-model trained without corpus X, tested on all of X."""

        def run():
            data = self.load()
            ps = self.settings.protocol()
            rows = {}
            for x in VOICE_CORPORA:
                if x == "ravdess":
                    sets = {"speech": data.speech}
                    test = only_modalities(data.ravdess_valid, "a")
                else:
                    if x not in set(data.speech.group("corpus").tolist()):
                        continue
                    sets = {
                        "ravdess": only_modalities(data.ravdess_train, "a"),
                        "speech": where_group(data.speech, "corpus", [x], keep=False),
                    }
                    test = where_group(data.speech, "corpus", [x])
                rows[x] = self._held_out(sets, test, "a", ps)
                self.log_fn(f"[loco] {x}: AUC {_avg(rows[x]):.3f}")
            return {"rows": rows, "settings": "protocol"}

        return self.stage("loco", run)

    def loso(self) -> dict[str, Any]:
        """Leave one photo source out: a visual-only sub-model trained on the other source (+ RAVDESS OpenFace rows)."""

        def run():
            data = self.load()
            ps = self.settings.protocol()
            rows = {}
            for x in PHOTO_SOURCES:
                if x not in set(data.faces.group("source").tolist()):
                    continue
                sets = {
                    "ravdess": only_modalities(data.ravdess_train, "v"),
                    "faces": where_group(data.faces, "source", [x], keep=False),
                }
                rows[x] = self._held_out(sets, where_group(data.faces, "source", [x]), "v", ps)
                self.log_fn(f"[loso] test on {x}: AUC {_avg(rows[x]):.3f}")
            return {"rows": rows, "settings": "protocol"}

        return self.stage("loso", run)

    def loo_model_path(self, emotion: str) -> Path:
        """Where the leave-``emotion``-out sub-model is kept (its key ignores the zero-shot rule)."""
        seed = self.settings.seed
        return self.work / f"loo-{emotion}-seed{seed}-{self.settings.training_digest('loo', emotion, seed)}.ckpt"

    def loo_model(self, emotion: str, ps: RecipeSettings | None = None):
        """The protocol-size sub-model trained without ``emotion`` (loaded when kept, else trained and kept),
        with the settings' zero-shot rule applied; returns (checkpoint, training seconds)."""
        from model.checkpoint import Checkpoint

        path = self.loo_model_path(emotion)
        if path.exists():
            ck = Checkpoint.load(path)
        else:
            data = self.load()
            r = train_embedding_model(
                main_train_sets(data),
                self.provider,
                ps or self.settings.protocol(),
                seed=self.settings.seed,
                exclude=(emotion,),
                metric_text=without_emotions(data.goemotions_train, [emotion]),
                log_fn=self.log_fn,
            )
            ck = to_checkpoint(r, self.provider, {"train_seconds": r.seconds, "excluded": emotion})
            ck.save(path)
        return apply_zero_shot_rule(ck, self.settings, self.provider), ck.provenance.get("train_seconds")

    def loo(self) -> dict[str, Any]:
        """Leave one emotion out, for each of the seven: train without it (every corpus), score it by its word."""

        def run():
            data = self.load()
            ps = self.settings.protocol()
            rows = {}
            for e in SEEN:
                ck, seconds = self.loo_model(e, ps)
                rows[e] = zero_shot_figures(ck, data, self.provider, e)
                rows[e]["composition"] = composition_of(ck, self.provider, e)
                rows[e]["train_seconds"] = seconds
                self.log_fn(
                    f"[loo] {e}: voices {_avg(rows[e]['voices_a']):.3f} faces {_avg(rows[e]['faces_v']):.3f} "
                    f"text {_avg(rows[e]['goemotions_t']):.3f} ravdess tav {_avg(rows[e]['ravdess_tav']):.3f}"
                )
            return {"rows": rows, "settings": "protocol"}

        return self.stage("loo", run)

    # provenance ------------------------------------------------------------------
    def provenance(self, run: RunResult, seed: int) -> dict[str, Any]:
        from .recipe_extract import acoustic_extractor

        return {
            "recipe": "default-v2",
            "command": "python -m recipes.recipe_default (livemer train --recipe default; make checkpoint)",
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "data": {
                "ravdess": f"RAVDESS speech, actors {_actors(self.settings, 'train')} train / "
                f"{_actors(self.settings, 'valid')} validation; calm left out - CC BY-NC-SA 4.0",
                "faces": "muxspace/facial_expressions (Apache-2.0) + Emilmrk/preprocessed-facial-emotions-224 "
                "(no licence stated: research only)",
                "speech": "nEMO (CC BY-NC-SA 4.0), ASED (not stated), URDU (research use), Spanish (not stated)",
                "goemotions": "GoEmotions train (CC BY 4.0)",
                "meld": "MELD train (GPL-3.0)",
            },
            "licence": "weights trained on non-commercial and unlicensed data: research, non-commercial use only",
            "emotion_word_forms": dict(run.words),
            "held_out": list(corpora.HELD_OUT),
            "trained_emotions": list(run.names),
            "zero_shot": {
                **zero_shot_rule(self.settings, run.anchors),
                "metric": "text-encoder covariance",
                "anchors": run.anchors,
            },
            "settings": self.settings.to_dict(),
            "seed": seed,
            "epochs": self.settings.epochs,
            "train_seconds": round(run.seconds, 1),
            "acoustic_extractor": acoustic_extractor().version,
            "torch_threads": self.settings.threads,
            "machine": f"{platform.machine()} {os.cpu_count()} CPU(s)",
        }


def _report_dict(rep) -> dict[str, Any]:
    try:
        return {
            "name": rep.name,
            "counts": rep.counts(),
            "wall_s": rep.wall_s,
            "workers": rep.workers,
            "computed": len(rep.computed()),
            "summary": rep.summary(),
        }
    except AttributeError:
        return {"summary": str(rep)}


def _actors(s: RecipeSettings, which: str) -> str:
    a = (
        s.valid_actors
        if which == "valid"
        else (s.train_actors or tuple(x for x in range(1, 21) if x not in s.valid_actors))
    )
    return ",".join(f"{x:02d}" for x in a)


#: What counts as code for the provenance's "-dirty" mark (git pathspecs).
CODE_PATHS = ("*.py", "pyproject.toml", "requirements", "recipes/MODEL_CARD.template.md")


def _git_commit() -> str | None:
    """The short HEAD commit, with "-dirty" when tracked code (:data:`CODE_PATHS`) differs from it: the figures
    then come from code no commit holds. Documentation and the recipe's own outputs (assets/) do not count."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        head = out.stdout.strip()
        if not head:
            return None
        st = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return head + ("-dirty" if st.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_json_default, allow_nan=True))
    os.replace(tmp, path)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def default_work_dir() -> Path:
    from feature_adapters.embeddings import cache_dir

    return cache_dir() / "recipe-default-v2"


# ----------------------------------------------------------------------------- entry points

STAGES = ("main", "baseline", "loco", "loso", "loo", "spread")


def run_recipe(
    shared: str | Path,
    out: str | Path,
    card: str | Path | None,
    settings: RecipeSettings | None = None,
    *,
    work: str | Path | None = None,
    stages: Sequence[str] = STAGES,
    workers: int = 1,
    log_fn: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Build the checkpoint at ``out``; run the protocol ``stages``; write the results JSON and the card."""
    from model.checkpoint import Checkpoint

    settings = settings or RecipeSettings()
    shared = Path(shared)
    if not (shared / "data").is_dir():
        raise FileNotFoundError(f"{shared}: not the shared data folder (expected {shared / 'data'})")
    work = Path(work) if work else default_work_dir()
    rec = Recipe(shared, settings, work, log_fn=log_fn, workers=workers)
    results: dict[str, Any] = {"settings": settings.to_dict()}
    out = Path(out)
    results["main"] = rec.main_run(out)
    ck = Checkpoint.load(out)
    ck.provenance["model_version"] = MODEL_VERSION  # the shipped checkpoint's (stage checkpoints carry none)
    ck.provenance["few_shot"] = dict(FEW_SHOT)  # add-emotion's l2 for this checkpoint (model.adapt.checkpoint_l2)
    results["weights_bytes"] = out.stat().st_size
    if settings.replay_per_emotion:  # the few-shot replay set (model.adapt) travels in the shipped checkpoint
        from model.adapt import attach_replay

        data = rec.load()
        attach_replay(ck, data.ravdess_train.select_emotions(list(SEEN)), settings.replay_per_emotion, settings.seed)
        results["replay"] = ck.provenance["replay"]
    ck.save(out)
    results["provenance"] = ck.provenance
    results["parameters"] = int(
        sum(int(np.prod(v.shape)) for k, v in ck.state_dict.items() if hasattr(v, "shape") and not k.startswith("zsl_"))
    )
    results["checkpoint_bytes"] = out.stat().st_size
    from feature_adapters.embeddings import get_provider

    prov = rec.provider or get_provider()
    results["calm_composition"] = composition_of(ck, prov, "calm")
    results["added_words"] = {w: composition_of(ck, prov, w) for w in ADDED_WORDS if w in prov}
    for st in stages:
        if st == "main":
            continue
        results[st] = getattr(rec, st)()
    results["timings"] = dict(rec.timings)
    ext = work / "extraction.json"  # measured one-off extraction times ({what: "figure, command"}), when recorded
    if ext.exists():
        results["extraction_seconds"] = json.loads(ext.read_text())
    _write_json(work / "results-latest.json", results)
    if card is not None:
        from .model_card import write_card

        write_card(card, results, out, command or _default_command(out, card))
    return results


def run_stages(
    shared: str | Path,
    settings: RecipeSettings,
    stages: Sequence[str],
    *,
    work: str | Path | None = None,
    workers: int = 1,
    log_fn: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run protocol stages alone (no checkpoint), e.g. in a second process beside the main run; their results
    land in the work folder, where a later :func:`run_recipe` with the same settings reuses them."""
    rec = Recipe(Path(shared), settings, Path(work) if work else default_work_dir(), log_fn=log_fn, workers=workers)
    bad = [st for st in stages if st not in STAGES or st == "main"]
    if bad:
        raise ValueError(f"stage '{bad[0]}' cannot run alone (alone: baseline, loco, loso, loo, spread)")
    return {st: getattr(rec, st)() for st in stages}


def _default_command(out: Path, card: Path | str) -> str:
    return f"python -m recipes.recipe_default --shared ../shared --out {out} --card {card}"


def evaluate_shipped(ckpt: str | Path, shared: str | Path, settings: RecipeSettings | None = None) -> dict[str, Any]:
    """The held-out figures of an existing checkpoint (no training)."""
    from feature_adapters.embeddings import get_provider
    from model.checkpoint import Checkpoint

    ck = Checkpoint.load(ckpt)
    s0 = settings or RecipeSettings()
    settings = replace(  # the data in the spaces the checkpoint names (v2.1: Facet-35, COVAREP-74)
        s0,
        visual_space=ck.feature_spaces["visual"].name,
        window=replace(s0.window, acoustic_space=ck.feature_spaces["acoustic"].name),
    )
    rec = Recipe(Path(shared), settings, default_work_dir(), log_fn=lambda m: print(m, file=sys.stderr))
    data = rec.load()
    return evaluate_default(ck, data, rec.provider or get_provider())


def format_figures_line(h: dict[str, float]) -> str:
    return " ".join(f"{k} {_pct(v)}" for k, v in h.items() if k.endswith("auc"))


def format_figures(fig: dict[str, Any]) -> str:
    h = headline(fig)
    return "\n".join(f"{k}: {_pct(v)}" for k, v in h.items())


def _pct(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else f"{100 * v:.1f}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shared", default=str(DEFAULT_SHARED), help="the shared data folder (default: ../shared)")
    p.add_argument("--card", default=None, help="write the model card here (e.g. assets/MODEL_CARD.md)")
    p.add_argument(
        "--work", default=None, help="folder for stage results (default: <user cache>/livemer/recipe-default-v2)"
    )
    p.add_argument("--quick", action="store_true", help="a few-minute version of the recipe (tests)")
    p.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"comma-separated stages to run besides the checkpoint (default: all: {','.join(STAGES)})",
    )
    p.add_argument("--no-report", action="store_true", help="only the checkpoint (same as --stages main)")
    p.add_argument(
        "--only",
        default=None,
        metavar="STAGES",
        help="run these protocol stages alone (baseline, loco, loso, loo, spread), without the checkpoint or card",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--workers", type=int, default=1, help="processes for a first feature extraction (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs of the main run")


def settings_from_args(args) -> RecipeSettings:
    s = RecipeSettings.quick() if args.quick else RecipeSettings()
    if getattr(args, "threads", None):
        s = replace(s, threads=int(args.threads))
    if getattr(args, "epochs", None):
        s = replace(s, epochs=int(args.epochs))
    return s


def stages_from_args(args) -> tuple[str, ...]:
    if getattr(args, "no_report", False):
        return ("main",)
    got = tuple(x.strip() for x in str(getattr(args, "stages", ",".join(STAGES))).split(",") if x.strip())
    bad = [x for x in got if x not in STAGES]
    if bad:
        raise ValueError(f"unknown stage '{bad[0]}' (stages: {', '.join(STAGES)})")
    return got


def run_from_cli(args) -> int:
    """``livemer train --recipe default --out CKPT [--card FILE] [--shared DIR] [--quick] [--no-report]``."""
    settings = settings_from_args(args)
    shared = getattr(args, "shared", None) or str(DEFAULT_SHARED)
    cmd = f"livemer train --recipe default --out {args.out}" + (f" --card {args.card}" if args.card else "")
    res = run_recipe(
        shared,
        args.out,
        args.card,
        settings,
        stages=stages_from_args(args),
        workers=int(getattr(args, "workers", 1) or 1),
        log_fn=lambda m: print(m, file=sys.stderr, flush=True),
        command=cmd,
    )
    print(format_figures(res["main"]["figures"]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(prog="python -m recipes.recipe_default", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="checkpoint to write (e.g. assets/default.ckpt)")
    ap.add_argument("--evaluate", metavar="CKPT", help="only print the held-out figures of CKPT")
    add_arguments(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = settings_from_args(args)
    try:
        stages = stages_from_args(args)
    except ValueError as exc:
        ap.error(str(exc))
    if args.evaluate:
        print(format_figures(evaluate_shipped(args.evaluate, args.shared, settings)))
        return 0
    if args.only:
        try:
            run_stages(
                args.shared,
                settings,
                [x.strip() for x in args.only.split(",") if x.strip()],
                work=args.work,
                workers=args.workers,
                log_fn=lambda m: print(m, file=sys.stderr, flush=True),
            )
        except ValueError as exc:
            ap.error(str(exc))
        return 0
    if not args.out:
        ap.error("--out CKPT is required (or --evaluate CKPT)")
    cmd = "python -m recipes.recipe_default " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        res = run_recipe(
            args.shared,
            args.out,
            args.card,
            settings,
            work=args.work,
            stages=stages,
            workers=args.workers,
            log_fn=lambda m: print(m, file=sys.stderr, flush=True),
            command=cmd,
        )
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_figures(res["main"]["figures"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
