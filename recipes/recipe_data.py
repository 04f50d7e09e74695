"""Training and validation datasets of the default recipe, built the way live input is.

RAVDESS clips become windows through the live adapters and aligner:

* acoustic: the clip's native frames -> :class:`~feature_adapters.covarep.CovarepAdapter`
  (COVAREP-74); a frame is observed when voiced (``livemer.stages.VoiceStage.voiced``'s rule);
* visual: the clip-level OpenFace action units -> Facet-35 through the same
  OpenFace adapter live AUs use (:func:`feature_adapters.facet.adapt_openface_rows`),
  repeated as face frames every ``1 / face_fps`` seconds over the clip (a face is present);
* text: the recogniser's words -> :func:`feature_adapters.text.embed_words`
  (GloVe tokens, one step per token, OOV tokens kept without a vector);
* windows: :func:`feature_adapters.align.windows_at` with live mode's settings
  (20 steps, 0.5 s pseudo-steps in silence, file mode's face tolerance), ending at
  chosen fractions of the clip (the clip end for validation; earlier ends too for
  training, since live windows also end mid-utterance).

Text corpora (GoEmotions, MELD) give text-only samples: the GloVe tokens of the
utterance (the last ``n`` non-punctuation tokens, OOV tokens kept as steps with
no vector, as live), acoustic and visual absent. Their acoustic/visual arrays
are read-only zero views, so 50k text samples cost no memory for absent modalities.

Labels are the corpus's emotion *names* (``recipes.corpora``); each dataset only
annotates its own corpus's names (``label_mask``), so concatenated corpora are
never scored on each other's labels. RAVDESS *calm* is never a training label:
calm clips are left out of training and kept in validation, with a ``calm``
column used only for the zero-shot check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.datasets import EmotionDataset

from . import corpora
from .recipe_extract import ClipAudioFeatures

log = logging.getLogger(__name__)

DIMS = (50, 74, 35)  # text (GloVe 6B 50-d), COVAREP-74, Facet-35


@dataclass(frozen=True)
class WindowSettings:
    """How windows are cut: live mode's settings (``EngineConfig`` / ``OfflineSettings`` defaults)."""

    n_steps: int = 20
    pseudo_step: float = 0.5
    face_fps: float = 10.0
    #: the acoustic step space (feature_adapters.covarep.ACOUSTIC_SPACES): "covarep-74" (step means, the SDK's)
    #: or "covarep-74+dynamics-28" (+ within-step std and mean |change| of F0 and MCEP_0-12)
    acoustic_space: str = "covarep-74"

    @property
    def acoustic_dynamics(self) -> tuple[int, ...]:
        """The COVAREP-74 frame columns whose within-step dynamics the acoustic step space appends."""
        from feature_adapters.covarep import acoustic_space, step_dynamics

        return step_dynamics(acoustic_space(self.acoustic_space))

    @property
    def acoustic_dim(self) -> int:
        """Width of an acoustic step in the acoustic space."""
        from feature_adapters.covarep import acoustic_space

        return acoustic_space(self.acoustic_space).dim

    @property
    def tolerance(self) -> float:
        """File mode's nearest-frame tolerance (``OfflineSettings.tolerance``)."""
        from feature_adapters.align import DEFAULT_TOLERANCE

        return max(DEFAULT_TOLERANCE, 0.5 / self.face_fps + 1e-3)


# ----------------------------------------------------------------------------- RAVDESS


def ravdess_visual_rows(face_aus: dict[str, np.ndarray], keys: Sequence[str], space: str = "facet-35") -> np.ndarray:
    """(N, d) visual rows of clips ``keys`` from their OpenFace AU columns: Facet-35 by the live OpenFace
    adapter; in ``facet-35+mediapipe-blendshapes-52`` the 52 blendshape columns come from the AU intensities
    (``AUxx_r`` / 5; AU28 from its presence ``AU28_c``) by
    :func:`feature_adapters.blendshapes.aus_to_blendshapes`, as for any backend without blendshapes."""
    from feature_adapters.blendshapes import BLENDSHAPES52, aus_to_blendshapes, blendshape_row, visual_space
    from feature_adapters.facet import FACET35, OPENFACE_COLUMNS, adapt_openface_rows

    sp = visual_space(space)
    missing = [k for k in keys if k not in face_aus]
    if missing:
        raise KeyError(f"no face action units for clip(s) {', '.join(missing[:3])} in the RAVDESS face file")
    raw = np.stack([face_aus[k] for k in keys]) if keys else np.zeros((0, len(OPENFACE_COLUMNS)))
    parts = [adapt_openface_rows(raw)] if sp.name != BLENDSHAPES52.name else []
    if sp.name != FACET35.name:
        col = {c: j for j, c in enumerate(OPENFACE_COLUMNS)}

        def aus(r):
            d = {c[:-2]: r[j] for c, j in col.items() if c.endswith("_r")}
            d["AU28"] = 5.0 * r[col["AU28_c"]]
            return d

        parts.append(np.stack([blendshape_row(aus_to_blendshapes(aus(r), 5.0)) for r in raw]).reshape(len(raw), -1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def clip_windows(
    audio: ClipAudioFeatures,
    facet_row: np.ndarray | None,
    ends: Sequence[float],
    provider,
    settings: WindowSettings = WindowSettings(),
) -> list:
    """Windows of one clip ending at ``ends`` (fractions of the clip's duration, 1.0 = its end).

    ``facet_row`` None: no face (the visual modality is absent, as live without a camera);
    a clip without words needs no ``provider`` (None).
    """
    from feature_adapters.align import WordInput, windows_at
    from feature_adapters.covarep import CovarepAdapter
    from feature_adapters.text import embed_words

    frames = audio.acoustic_frames()
    a_feats = CovarepAdapter().adapt(frames)
    a_valid = np.asarray(frames.is_voiced, bool) if len(frames) else np.zeros(0, bool)
    dur = float(audio.duration)
    visual = None
    if facet_row is not None:
        v_times = np.arange(0.0, dur, 1.0 / settings.face_fps)
        visual = (v_times, np.repeat(np.asarray(facet_row, np.float32)[None, :], len(v_times), axis=0), None)
    tokens = embed_words(list(audio.words), provider) if audio.words else []  # no words: no provider needed
    words = [
        WordInput(
            t.token, float(t.start), float(t.end), None if t.oov else np.asarray(t.vector, np.float32), bool(t.oov)
        )
        for t in tokens
    ]
    times = [min(dur, max(0.0, float(f) * dur)) for f in ends]
    d_t, d_a, d_v = DIMS
    if facet_row is not None:
        d_v = int(np.size(facet_row))
    return windows_at(
        words,
        (frames.times, a_feats, a_valid) if len(frames) else None,
        visual,
        times,
        t_start=0.0,
        n=settings.n_steps,
        pseudo_step=settings.pseudo_step,
        tolerance=settings.tolerance,
        text_dim=d_t,
        acoustic_dim=d_a,  # the frames' COVAREP-74; the step space's dynamics are appended per step
        visual_dim=d_v,
        acoustic_dynamics=settings.acoustic_dynamics,
    )


def windows_to_arrays(windows: Sequence) -> dict[str, np.ndarray]:
    """Stack windows into dataset arrays (features, per-step and per-window masks)."""
    return {
        "text": np.stack([w.text for w in windows]).astype(np.float32),
        "acoustic": np.stack([w.acoustic for w in windows]).astype(np.float32),
        "visual": np.stack([w.visual for w in windows]).astype(np.float32),
        "text_mask": np.stack([w.text_mask for w in windows]).astype(bool),
        "acoustic_mask": np.stack([w.acoustic_mask for w in windows]).astype(bool),
        "visual_mask": np.stack([w.visual_mask for w in windows]).astype(bool),
        "modality_mask": np.stack([w.modality_mask for w in windows]).astype(bool),
    }


def ravdess_names() -> list[str]:
    """The checkpoint names RAVDESS annotates (calm excluded), in a fixed order."""
    return sorted(set(corpora.RAVDESS_TO_NAME.values()))


def build_ravdess(
    clips: Sequence[corpora.RavdessClip],
    audio: Sequence[ClipAudioFeatures],
    face_aus: dict[str, np.ndarray],
    provider,
    ends: Sequence[float],
    *,
    include_calm: bool,
    settings: WindowSettings = WindowSettings(),
    name: str = "ravdess",
    visual_space: str = "facet-35",
) -> EmotionDataset:
    """One window per (clip, end). Labels: the RAVDESS names, plus a ``calm`` column when ``include_calm``.

    Calm clips are dropped unless ``include_calm``; the ``calm`` column is only
    for zero-shot evaluation and must never reach a training loss.
    """
    if len(clips) != len(audio):
        raise ValueError(f"{len(clips)} clips but {len(audio)} audio analyses")
    names = ravdess_names() + (["calm"] if include_calm else [])
    keep = [i for i, c in enumerate(clips) if include_calm or c.emotion not in corpora.HELD_OUT]
    rows = ravdess_visual_rows(face_aus, [clips[i].face_key for i in keep], visual_space)
    wins, labels, ids = [], [], []
    for r, i in enumerate(keep):
        c = clips[i]
        ws = clip_windows(audio[i], rows[r], ends, provider, settings)
        y = np.zeros(len(names), np.float32)
        label = c.name if c.emotion not in corpora.HELD_OUT else c.emotion
        y[names.index(label)] = 1.0
        for f, w in zip(ends, ws):
            wins.append(w)
            labels.append(y)
            ids.append(f"{c.path.stem}@{f:g}")
    arr = windows_to_arrays(wins)
    return EmotionDataset(
        text=arr["text"],
        acoustic=arr["acoustic"],
        visual=arr["visual"],
        labels=np.stack(labels),
        emotions=names,
        ids=ids,
        step_masks={"text": arr["text_mask"], "acoustic": arr["acoustic_mask"], "visual": arr["visual_mask"]},
        modality_mask=arr["modality_mask"],
        name=name,
    )


# ----------------------------------------------------------------------------- text corpora


PAD_ID = -1  # no step
OOV_ID = -2  # a token without a vector: a step with no text


def _lookup(provider, token: str) -> str | None:
    look = getattr(provider, "lookup", None)
    if look is not None:
        return look(token)
    kv = provider.keyed_vectors.key_to_index
    return token if token in kv else (token.lower() if token.lower() in kv else None)


def text_token_ids(text: str, provider, n_steps: int) -> np.ndarray:
    """(n_steps,) int32 vocabulary rows of the last ``n_steps`` GloVe tokens of ``text``, padded in front.

    Punctuation is not a step (as live); an OOV token is a step with no vector
    (:data:`OOV_ID`); padding is :data:`PAD_ID`.
    """
    from feature_adapters.text import _vocab_of, is_punctuation, tokenize

    toks = [t for t in tokenize(text, _vocab_of(provider)) if not is_punctuation(t)][-n_steps:]
    ids = np.full(n_steps, PAD_ID, np.int32)
    index = provider.keyed_vectors.key_to_index
    for j, t in enumerate(toks):
        key = _lookup(provider, t)
        ids[n_steps - len(toks) + j] = OOV_ID if key is None else index[key]
    return ids


def ids_to_steps(ids: np.ndarray, provider) -> tuple[np.ndarray, np.ndarray]:
    """(..., n) token ids -> ((..., n, d) vectors, (..., n) observed); pad and OOV steps are zero and unobserved."""
    ids = np.asarray(ids)
    known = ids >= 0
    vecs = np.asarray(provider.keyed_vectors.vectors)
    out = np.zeros(ids.shape + (vecs.shape[1],), np.float32)
    out[known] = vecs[ids[known]]
    return out, known


def text_steps(text: str, provider, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """((n, d_t) vectors, (n,) observed) of the last ``n_steps`` GloVe tokens of ``text`` (see :func:`text_token_ids`)."""
    return ids_to_steps(text_token_ids(text, provider, n_steps), provider)


def text_extractor(provider, n_steps: int):
    """Cache identity of the text features: the tokenizer's code, the vocabulary and the window length."""
    from feature_adapters import text as text_mod

    from .feature_cache import Extractor, source_digest

    kv = provider.keyed_vectors
    return Extractor(
        f"text-{provider.name}",
        source_digest(
            text_mod.tokenize,
            text_mod._split_chunk,
            text_mod._split_clitic,
            text_mod._normalise,
            text_mod.is_punctuation,
            text_token_ids,
            _lookup,
            provider.name,
            len(kv.key_to_index),
            n_steps,
        ),
    )


def build_text(
    samples: Sequence[corpora.TextSample],
    names: Sequence[str],
    provider,
    n_steps: int = 20,
    name: str = "text",
    ids: np.ndarray | None = None,
) -> EmotionDataset:
    """Text-only samples with multi-hot labels over ``names`` (the corpus's own); samples with no known token are dropped.

    ``ids`` (N, n_steps), when given, are the samples' :func:`text_token_ids` (e.g. from the cache).
    """
    names = list(names)
    col = {n: j for j, n in enumerate(names)}
    if ids is None:
        ids = (
            np.stack([text_token_ids(s.text, provider, n_steps) for s in samples])
            if len(samples)
            else np.zeros((0, n_steps), np.int32)
        )
    if ids.shape != (len(samples), n_steps):
        raise ValueError(f"{name}: token ids of shape {ids.shape} for {len(samples)} samples of {n_steps} steps")
    keep = np.flatnonzero((ids >= 0).any(axis=1))
    text, tmask = ids_to_steps(ids[keep], provider)
    y = np.zeros((len(keep), len(names)), np.float32)
    for r, i in enumerate(keep):
        for lab in samples[i].labels:
            y[r, col[lab]] = 1.0
    n = len(keep)
    absent = np.zeros((n, n_steps), bool)
    d_t, d_a, d_v = DIMS
    return EmotionDataset(
        text=text,
        acoustic=np.broadcast_to(np.zeros((1, 1, 1), np.float32), (n, n_steps, d_a)),
        visual=np.broadcast_to(np.zeros((1, 1, 1), np.float32), (n, n_steps, d_v)),
        labels=y,
        emotions=names,
        ids=[f"{samples[i].corpus}:{i}" for i in keep],
        step_masks={"text": tmask, "acoustic": absent, "visual": absent},
        modality_mask=np.stack([tmask.any(axis=1), np.zeros(n, bool), np.zeros(n, bool)], axis=1),
        name=name,
    )


def load_text(
    path: str | Path,
    samples: Sequence[corpora.TextSample],
    names: Sequence[str],
    provider,
    n_steps: int = 20,
    name: str = "text",
    cache=None,
) -> EmotionDataset:
    """:func:`build_text` with the token ids of corpus file ``path`` (whose samples are ``samples``) cached."""
    from .feature_cache import FeatureCache

    cache = cache or FeatureCache()
    ex = text_extractor(provider, n_steps)
    got = cache.get_or_compute(
        path,
        ex,
        lambda p: {"ids": np.stack([text_token_ids(s.text, provider, n_steps) for s in samples]).astype(np.int32)},
    )
    ids = got["ids"]
    if ids.shape[0] != len(samples):  # a reader change: recompute rather than misalign
        ids = np.stack([text_token_ids(s.text, provider, n_steps) for s in samples]).astype(np.int32)
        cache.save(path, ex, {"ids": ids})
    return build_text(samples, names, provider, n_steps, name, ids=ids)


# ----------------------------------------------------------------------------- the whole recipe's data


@dataclass
class RecipeData:
    ravdess_train: EmotionDataset  # training actors, several window ends per clip, calm clips left out
    ravdess_valid: EmotionDataset  # validation actors, clip-end windows, all clips, with a 'calm' column
    goemotions_train: EmotionDataset
    goemotions_dev: EmotionDataset
    meld_train: EmotionDataset
    meld_dev: EmotionDataset

    def summary(self) -> str:
        return "\n".join(
            d.summary()
            for d in (
                self.ravdess_train,
                self.ravdess_valid,
                self.goemotions_train,
                self.goemotions_dev,
                self.meld_train,
                self.meld_dev,
            )
        )


def shared_paths(shared: str | Path) -> dict[str, Path]:
    s = Path(shared)
    return {
        "ravdess_audio": s / "data" / "ravdess" / "audio16k",
        "ravdess_face": s / "data" / "ravdess" / "face_au_clip_level.npz",
        "goemotions": s / "data" / "goemotions",
        "meld": s / "data" / "meld",
    }


def select_clips(clips: Sequence[corpora.RavdessClip], per_class: int | None) -> list[corpora.RavdessClip]:
    """At most ``per_class`` clips per (actor, emotion), strong intensity first, then statement and repetition.

    ``None`` keeps all. ``per_class=1`` is one clip per actor and emotion: the
    strong performance of statement 1, repetition 1 (neutral: the normal one).
    """
    if per_class is None:
        return list(clips)
    groups: dict[tuple[int, str], list[corpora.RavdessClip]] = {}
    for c in clips:
        groups.setdefault((c.actor, c.emotion), []).append(c)
    keep = set()
    for g in groups.values():
        g = sorted(g, key=lambda c: (-c.intensity, c.statement, c.repetition))
        keep.update(c.path for c in g[:per_class])
    return [c for c in clips if c.path in keep]


def load_ravdess(
    shared: str | Path,
    provider,
    actors: Sequence[int],
    ends: Sequence[float],
    *,
    include_calm: bool,
    clips_per_class: int | None = None,
    settings: WindowSettings = WindowSettings(),
    cache=None,
    asr_threads: int | None = None,
    progress=None,
    name: str = "ravdess",
    visual_space: str = "facet-35",
) -> EmotionDataset:
    """RAVDESS windows of ``actors`` (features from the cache, extracted on a miss); see :func:`build_ravdess`."""
    from .recipe_extract import extract_clips

    p = shared_paths(shared)
    keep = {int(a) for a in actors}
    clips = [
        c
        for c in corpora.ravdess_clips(p["ravdess_audio"])
        if c.actor in keep and (include_calm or c.emotion not in corpora.HELD_OUT)
    ]
    clips = select_clips(clips, clips_per_class)
    if not clips:
        raise ValueError(f"no RAVDESS clips for actors {sorted(keep)}")
    audio = extract_clips([c.path for c in clips], cache=cache, asr_threads=asr_threads, progress=progress)
    face = corpora.ravdess_face_aus(p["ravdess_face"])
    return build_ravdess(
        clips,
        audio,
        face,
        provider,
        ends,
        include_calm=include_calm,
        settings=settings,
        name=name,
        visual_space=visual_space,
    )


def load_data(
    shared: str | Path,
    provider,
    *,
    valid_actors: Sequence[int] = (17, 18, 19, 20),
    train_actors: Sequence[int] | None = None,
    train_ends: Sequence[float] = (0.6, 0.8, 1.0),
    settings: WindowSettings = WindowSettings(),
    text_limit: int | None = None,
    train_clips_per_class: int | None = None,
    valid_clips_per_class: int | None = None,
    cache=None,
    asr_threads: int | None = None,
    progress=None,
    visual_space: str = "facet-35",
) -> RecipeData:
    """All six datasets of the recipe from ``shared`` (``../shared``), features from the cache.

    ``train_actors`` (default: every actor not in ``valid_actors``) and
    ``text_limit`` (first N samples of each text split) and ``*_clips_per_class``
    (:func:`select_clips`) shrink the data for quick runs. ``visual_space`` names the RAVDESS clips'
    visual rows (:func:`ravdess_visual_rows`).
    """
    p = shared_paths(shared)
    valid_set = {int(a) for a in valid_actors}
    if train_actors is None:
        train_actors = sorted({c.actor for c in corpora.ravdess_clips(p["ravdess_audio"])} - valid_set)
    overlap = set(int(a) for a in train_actors) & valid_set
    if overlap:
        raise ValueError(f"actors {sorted(overlap)} are in both the training and validation split")
    rav_tr = load_ravdess(
        shared,
        provider,
        train_actors,
        train_ends,
        include_calm=False,
        clips_per_class=train_clips_per_class,
        settings=settings,
        cache=cache,
        asr_threads=asr_threads,
        progress=progress,
        name="ravdess-train",
        visual_space=visual_space,
    )
    rav_va = load_ravdess(
        shared,
        provider,
        valid_actors,
        (1.0,),
        include_calm=True,
        clips_per_class=valid_clips_per_class,
        settings=settings,
        cache=cache,
        asr_threads=asr_threads,
        progress=progress,
        name="ravdess-valid",
        visual_space=visual_space,
    )

    n = settings.n_steps

    def text(reader, root, split, file, label):
        samples, names = reader(root, split)
        if text_limit:
            return build_text(samples[:text_limit], names, provider, n, label)
        return load_text(root / file, samples, names, provider, n, label, cache=cache)

    return RecipeData(
        ravdess_train=rav_tr,
        ravdess_valid=rav_va,
        goemotions_train=text(corpora.read_goemotions, p["goemotions"], "train", "train.tsv", "goemotions-train"),
        goemotions_dev=text(corpora.read_goemotions, p["goemotions"], "dev", "dev.tsv", "goemotions-dev"),
        meld_train=text(corpora.read_meld, p["meld"], "train", "train_sent_emo.csv", "meld-train"),
        meld_dev=text(corpora.read_meld, p["meld"], "dev", "dev_sent_emo.csv", "meld-dev"),
    )
