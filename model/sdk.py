"""Loaders for the CMU Multimodal SDK data the paper used, all returning :class:`EmotionDataset`.

Three sources:

1. **CMU-MOSEI emotion, aligned** (the files the paper's code reads):
   ``text_{split}_emb.h5`` (N, 20, 300), ``audio_{split}.h5`` (N, 20, 74),
   ``video_{split}.h5`` (N, 20, 35) and ``ey_{split}.h5`` (N, 6), each holding
   one dataset under the key ``d1``. Class order anger, disgust, fear, happy,
   sad, surprise; a label is 1 where the value is > 0.
2. **MulT-style pickles** (``iemocap_data.pkl``, ``mosei_senti_data.pkl``): a
   dict split -> {text, audio, vision, labels[, id]}. IEMOCAP has four classes
   (neutral, happy, sad, angry) with (N, 4, 2) labels argmax'ed over the last
   axis, as in the paper's code; MOSEI sentiment labels (N, 1, 1) become the
   two words positive (> 0) and negative (< 0).
3. **Raw SDK computational sequences** (``.csd``, HDF5): per-video
   ``features``/``intervals`` plus ``metadata``. Acoustic and visual frames are
   averaged over each word's interval (the SDK's ``align`` with an ``avg``
   collapse), words are grouped into the labelled segments of a label ``.csd``,
   and each segment keeps its last ``seq_len`` words, padded in front (the SDK's
   ``get_tensors(direction=False)``).

Non-finite feature values (COVAREP's -inf, NaN) become 0, as the paper's code
does for -inf. Every problem with the input is a one-line :class:`DatasetError`
naming the file and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from feature_adapters.errors import LivemerError

from .datasets import EmotionDataset, pad_or_crop

SPLITS = ("train", "valid", "test")
MOSEI_EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")
IEMOCAP_EMOTIONS = ("neutral", "happy", "sad", "angry")
SENTIMENT_EMOTIONS = ("positive", "negative")
COVAREP_DIM = 74
FACET_DIM = 35
# CMU_MOSEI_Labels.csd columns when its metadata does not name them
MOSEI_LABEL_COLUMNS = ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")
DATA_KINDS = ("mosei-aligned", "mult-pkl", "csd")

_LABEL_SYNONYMS = {
    "anger": "anger",
    "angry": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
}


class DatasetError(LivemerError, ValueError):
    """Input data is missing, malformed or not in the expected format (one-line message)."""


# ---------------------------------------------------------------------------------------------
# feature spaces of SDK data
# ---------------------------------------------------------------------------------------------
def sdk_feature_spaces(text_space) -> dict:
    """Feature spaces for SDK data: the given text space, COVAREP-74 and Facet-35.

    The acoustic/visual spaces come from ``feature_adapters`` when those modules
    define them (so checkpoints match the live extractors exactly).
    """
    from feature_adapters.spaces import FeatureSpace

    spaces = {"text": text_space}
    try:
        from feature_adapters.covarep import COVAREP74

        spaces["acoustic"] = COVAREP74
    except Exception:  # noqa: BLE001
        spaces["acoustic"] = FeatureSpace("covarep-74", COVAREP_DIM, description="COVAREP acoustic features (CMU SDK)")
    try:
        from feature_adapters.facet import FACET35

        spaces["visual"] = FACET35
    except Exception:  # noqa: BLE001
        spaces["visual"] = FeatureSpace("facet-35", FACET_DIM, description="Facet 4.2 facial features (CMU SDK)")
    return spaces


# ---------------------------------------------------------------------------------------------
# shared checks
# ---------------------------------------------------------------------------------------------
def _check_features(x: np.ndarray, where: str, what: str, dim: int | None, ndim: int = 3) -> np.ndarray:
    """Shape check + sanitising of a (N, T, d) feature array; raise on a wholly non-finite feature."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"{where}: expected numeric {what}, got dtype {x.dtype}")
    shape_txt = "(N, T, d)" if dim is None else f"(N, T, {dim})"
    if x.ndim != ndim or (dim is not None and x.shape[-1] != dim):
        raise DatasetError(f"{where}: expected {what} of shape {shape_txt}, got {tuple(x.shape)}")
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x)
    if not finite.all():
        if x.size and not finite.any():
            raise DatasetError(f"{where}: {what} contain no finite value (all NaN/inf); expected real features")
        col_ok = finite.reshape(-1, x.shape[-1]).any(axis=0)
        if x.shape[0] and not col_ok.all():
            bad = int(np.flatnonzero(~col_ok)[0])
            raise DatasetError(f"{where}: {what} column {bad} is NaN/inf in every sample; expected real features")
        if not x.flags.writeable:
            x = x.copy()
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _open_h5(path: Path, expected: str):
    import h5py

    if not path.exists():
        raise DatasetError(f"{path}: file not found (expected {expected})")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file (expected {expected})") from None


# ---------------------------------------------------------------------------------------------
# 1. CMU-MOSEI emotion, aligned h5 files
# ---------------------------------------------------------------------------------------------
MOSEI_ALIGNED_FILES = {
    "text": "text_{split}_emb.h5",
    "acoustic": "audio_{split}.h5",
    "visual": "video_{split}.h5",
    "labels": "ey_{split}.h5",
}


def _read_d1(path: Path, what: str, key: str = "d1") -> np.ndarray:
    expected = f"{what} under the HDF5 dataset key '{key}'"
    with _open_h5(path, expected) as f:
        if key not in f:
            keys = ", ".join(sorted(f.keys())) or "none"
            raise DatasetError(f"{path}: no dataset '{key}' (found keys: {keys}); expected {what} under '{key}'")
        node = f[key]
        if not hasattr(node, "shape"):
            raise DatasetError(f"{path}: '{key}' is a group, expected a dataset of {what}")
        return np.asarray(node[()])


def load_mosei_aligned(directory: str | os.PathLike, split: str, text_dim: int | None = None) -> EmotionDataset:
    """One split of the paper's CMU-MOSEI emotion data (see module doc)."""
    d = Path(directory)
    if not d.is_dir():
        raise DatasetError(f"{d}: not a directory (expected the CMU-MOSEI aligned files text_{split}_emb.h5, ...)")
    paths = {k: d / v.format(split=split) for k, v in MOSEI_ALIGNED_FILES.items()}
    text = _check_features(
        _read_d1(paths["text"], "word vectors (N, T, d_t)"), str(paths["text"]), "word vectors", text_dim
    )
    acoustic = _check_features(
        _read_d1(paths["acoustic"], f"COVAREP features (N, T, {COVAREP_DIM})"),
        str(paths["acoustic"]),
        "COVAREP features",
        COVAREP_DIM,
    )
    visual = _check_features(
        _read_d1(paths["visual"], f"Facet features (N, T, {FACET_DIM})"),
        str(paths["visual"]),
        "Facet features",
        FACET_DIM,
    )
    n, t = text.shape[:2]
    for m, x in (("acoustic", acoustic), ("visual", visual)):
        if x.shape[:2] != (n, t):
            raise DatasetError(
                f"{paths[m]}: {x.shape[0]} samples x {x.shape[1]} steps, but {paths['text'].name} has {n} x {t}"
            )
    y = _read_d1(paths["labels"], f"emotion intensities (N, {len(MOSEI_EMOTIONS)})")
    y = np.asarray(y)
    if y.ndim == 3 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 2 or y.shape != (n, len(MOSEI_EMOTIONS)):
        raise DatasetError(
            f"{paths['labels']}: expected emotion intensities of shape ({n}, {len(MOSEI_EMOTIONS)}) "
            f"({', '.join(MOSEI_EMOTIONS)}), got {tuple(y.shape)}"
        )
    if y.dtype.kind not in "fiu" or not np.isfinite(y.astype(np.float64)).all():
        raise DatasetError(f"{paths['labels']}: emotion intensities must be finite numbers")
    labels = (y > 0).astype(np.float32)
    return EmotionDataset(
        text=text,
        acoustic=acoustic,
        visual=visual,
        labels=labels,
        emotions=list(MOSEI_EMOTIONS),
        ids=[f"{split}:{i}" for i in range(n)],
        name=f"mosei-aligned/{split}",
    )


# ---------------------------------------------------------------------------------------------
# 2. MulT-style pickles
# ---------------------------------------------------------------------------------------------
def find_mult_pickle(path: str | os.PathLike) -> Path:
    """A pickle path from a file or a directory holding exactly one of the known pickles."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        found = [p / n for n in ("iemocap_data.pkl", "mosei_senti_data.pkl") if (p / n).exists()]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DatasetError(f"{p}: holds both iemocap_data.pkl and mosei_senti_data.pkl; pass the file itself")
        raise DatasetError(f"{p}: no iemocap_data.pkl or mosei_senti_data.pkl found")
    raise DatasetError(f"{p}: not found (expected a MulT pickle such as iemocap_data.pkl)")


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found (expected a MulT pickle)") from None
    except Exception as exc:  # noqa: BLE001
        try:  # pickles written by Python 2 numpy
            with open(path, "rb") as fh:
                return pickle.load(fh, encoding="latin1")
        except Exception:  # noqa: BLE001
            raise DatasetError(
                f"{path}: not a readable pickle ({type(exc).__name__}); expected a MulT data pickle"
            ) from None


def _mult_ids(raw: Any, n: int, split: str) -> list[str]:
    if raw is None:
        return [f"{split}:{i}" for i in range(n)]
    arr = np.asarray(raw)
    if len(arr) != n:
        return [f"{split}:{i}" for i in range(n)]

    def s(v: Any) -> str:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)

    if arr.ndim == 2 and arr.shape[1] == 3:  # (video, start, end)
        return [f"{s(a)}[{s(b)},{s(c)}]" for a, b, c in arr]
    if arr.ndim == 2:
        return ["/".join(s(v) for v in row) for row in arr]
    return [s(v) for v in arr]


def load_mult_pickle(path: str | os.PathLike, split: str, kind: str = "auto", data: Any = None) -> EmotionDataset:
    """One split of a MulT-style pickle; ``kind`` is 'iemocap', 'sentiment' or 'auto'."""
    p = find_mult_pickle(path)
    data = _load_pickle(p) if data is None else data
    if not isinstance(data, dict):
        raise DatasetError(f"{p}: expected a dict of splits (train/valid/test), got {type(data).__name__}")
    key = split
    if key not in data and split == "valid" and "dev" in data:
        key = "dev"
    if key not in data:
        raise DatasetError(f"{p}: no split '{split}' (found: {', '.join(map(str, data.keys())) or 'none'})")
    part = data[key]
    if not isinstance(part, dict):
        raise DatasetError(f"{p}: split '{split}' should be a dict with text/audio/vision/labels")
    missing = [k for k in ("text", "audio", "vision", "labels") if k not in part]
    if missing:
        raise DatasetError(
            f"{p}: split '{split}' lacks {', '.join(missing)} (expected text, audio, vision, labels[, id])"
        )
    where = f"{p}[{split}]"
    text = _check_features(part["text"], f"{where}.text", "word vectors", None)
    acoustic = _check_features(part["audio"], f"{where}.audio", "COVAREP features", COVAREP_DIM)
    visual = _check_features(part["vision"], f"{where}.vision", "Facet features", FACET_DIM)
    n, t = text.shape[:2]
    for name, x in (("audio", acoustic), ("vision", visual)):
        if x.shape[:2] != (n, t):
            raise DatasetError(f"{where}.{name}: {x.shape[0]} samples x {x.shape[1]} steps, but text has {n} x {t}")
    y = np.asarray(part["labels"])
    if len(y) != n:
        raise DatasetError(f"{where}.labels: {len(y)} labels for {n} samples")
    if y.dtype.kind not in "fiub" or not np.isfinite(y.astype(np.float64)).all():
        raise DatasetError(f"{where}.labels: labels must be finite numbers")
    if kind == "auto":
        kind = "iemocap" if (y.ndim == 3 and y.shape[1:] == (4, 2)) or "iemocap" in p.name.lower() else "sentiment"
    if kind == "iemocap":
        if y.ndim == 3 and y.shape[1:] == (4, 2):
            labels = np.argmax(y, axis=-1).astype(np.float32)
        elif y.ndim == 2 and y.shape[1] == 4:
            labels = (y > 0).astype(np.float32)
        else:
            raise DatasetError(f"{where}.labels: expected IEMOCAP labels of shape (N, 4, 2), got {tuple(y.shape)}")
        emotions = list(IEMOCAP_EMOTIONS)
    elif kind == "sentiment":
        s = y.reshape(n, -1)
        if s.shape[1] != 1:
            raise DatasetError(f"{where}.labels: expected sentiment scores of shape (N, 1, 1), got {tuple(y.shape)}")
        s = s[:, 0].astype(np.float32)
        labels = np.stack([s > 0, s < 0], axis=1).astype(np.float32)
        emotions = list(SENTIMENT_EMOTIONS)
    else:
        raise ValueError(f"unknown MulT pickle kind '{kind}' (use iemocap, sentiment or auto)")
    return EmotionDataset(
        text=text,
        acoustic=acoustic,
        visual=visual,
        labels=labels,
        emotions=emotions,
        ids=_mult_ids(part.get("id"), n, split),
        name=f"{p.stem}/{split}",
    )


def load_mult_pickle_splits(
    path: str | os.PathLike, splits: Sequence[str] = SPLITS, kind: str = "auto"
) -> dict[str, EmotionDataset]:
    p = find_mult_pickle(path)
    data = _load_pickle(p)
    return {s: load_mult_pickle(p, s, kind=kind, data=data) for s in splits}


# ---------------------------------------------------------------------------------------------
# 3. Raw computational sequences (.csd)
# ---------------------------------------------------------------------------------------------
def _decode_meta(value: Any) -> Any:
    v = value
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size else ""
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, str):
        try:
            return json.loads(v)
        except (json.JSONDecodeError, ValueError):
            return v
    return v


class ComputationalSequence:
    """A ``.csd`` file opened lazily: ``seq[video_id]`` -> (features (n, d), intervals (n, 2))."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        self._h5 = _open_h5(self.path, "a CMU SDK computational sequence (.csd, HDF5)")
        roots = list(self._h5.keys())
        if len(roots) != 1:
            self._h5.close()
            raise DatasetError(
                f"{self.path}: expected one root group holding 'data' and 'metadata', found {len(roots)} ({', '.join(roots)})"
            )
        self.root_name = roots[0]
        root = self._h5[self.root_name]
        if not isinstance(root, h5py.Group) or "data" not in root:
            self._h5.close()
            raise DatasetError(
                f"{self.path}: root '{self.root_name}' has no 'data' group (expected data/<video>/features, intervals)"
            )
        self._data = root["data"]
        self.metadata: dict[str, Any] = {}
        if "metadata" in root:
            for k in root["metadata"].keys():
                try:
                    self.metadata[k] = _decode_meta(root["metadata"][k][()])
                except Exception:  # noqa: BLE001
                    self.metadata[k] = None

    # mapping interface
    def keys(self) -> list[str]:
        return list(self._data.keys())

    def __contains__(self, vid: str) -> bool:
        return vid in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, vid: str) -> tuple[np.ndarray, np.ndarray]:
        if vid not in self._data:
            raise DatasetError(f"{self.path}: no entry '{vid}'")
        g = self._data[vid]
        for part in ("features", "intervals"):
            if part not in g:
                raise DatasetError(
                    f"{self.path}: entry '{vid}' has no '{part}' (each entry holds 'features' and 'intervals')"
                )
        feats = np.asarray(g["features"][()])
        iv = np.asarray(g["intervals"][()], dtype=np.float64)
        if iv.ndim != 2 or iv.shape[1] != 2:
            raise DatasetError(
                f"{self.path}: entry '{vid}' intervals should be (n, 2) [start, end], got {tuple(iv.shape)}"
            )
        if feats.ndim == 1:
            feats = feats[:, None]
        if feats.shape[0] != iv.shape[0]:
            raise DatasetError(
                f"{self.path}: entry '{vid}' has {feats.shape[0]} feature rows but {iv.shape[0]} intervals"
            )
        return feats, iv

    @property
    def dimension_names(self) -> list[str] | None:
        v = self.metadata.get("dimension names")
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
        return None

    def feature_dim(self) -> int | None:
        for vid in self._data:
            shape = self._data[vid]["features"].shape
            return int(shape[1]) if len(shape) == 2 else 1
        return None

    def close(self) -> None:
        try:
            self._h5.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> ComputationalSequence:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_csd(path: str | os.PathLike) -> ComputationalSequence:
    return ComputationalSequence(path)


def average_over_intervals(
    ref: np.ndarray, intervals: np.ndarray, features: np.ndarray, eps: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """The SDK's word alignment with the ``avg`` collapse, for every reference interval.

    A frame belongs to reference interval [r0, r1] when their intersection is
    longer than ``eps`` (the SDK's ``__intersect_and_copy``). Returns the mean
    of those frames (R, d) and the frame counts (R,); intervals with no frame
    get zeros and count 0 (the SDK's ``impute`` with zeros). Non-finite frame
    values count as 0.
    """
    ref = np.asarray(ref, np.float64).reshape(-1, 2)
    iv = np.asarray(intervals, np.float64).reshape(-1, 2)
    f = np.asarray(features, np.float32)
    if f.ndim == 1:
        f = f[:, None]
    out = np.zeros((len(ref), f.shape[1]), np.float32)
    counts = np.zeros(len(ref), np.int64)
    if len(iv) == 0 or len(ref) == 0:
        return out, counts
    f = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
    order = np.argsort(iv[:, 0], kind="stable")
    iv = iv[order]
    f = f[order]
    starts = iv[:, 0]
    max_len = float(np.max(iv[:, 1] - iv[:, 0])) if len(iv) else 0.0
    lo_idx = np.searchsorted(starts, ref[:, 0] - max_len - eps, side="left")
    hi_idx = np.searchsorted(starts, ref[:, 1] + eps, side="left")
    for r in range(len(ref)):
        lo, hi = int(lo_idx[r]), int(hi_idx[r])
        if hi <= lo:
            continue
        s = iv[lo:hi]
        overlap = np.minimum(s[:, 1], ref[r, 1]) - np.maximum(s[:, 0], ref[r, 0])
        ok = overlap > eps
        c = int(ok.sum())
        if c:
            out[r] = f[lo:hi][ok].mean(axis=0)
            counts[r] = c
    return out, counts


def intervals_within(ref: np.ndarray, intervals: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Indices of ``intervals`` that intersect the single interval ``ref`` by more than ``eps``, in time order."""
    ref = np.asarray(ref, np.float64).reshape(2)
    iv = np.asarray(intervals, np.float64).reshape(-1, 2)
    overlap = np.minimum(iv[:, 1], ref[1]) - np.maximum(iv[:, 0], ref[0])
    idx = np.flatnonzero(overlap > eps)
    return idx[np.argsort(iv[idx, 0], kind="stable")]


@dataclass
class LabelColumns:
    """How the columns of a label ``.csd`` map to emotion words."""

    emotions: list[str]  # output emotion words
    columns: list[int]  # source column of each output emotion
    kind: str  # 'emotion' (value > 0 is positive) or 'sentiment' (positive / negative)


def label_columns(dim: int, names: Sequence[str] | None, kind: str = "auto") -> LabelColumns:
    """Decide the label layout from the metadata's dimension names (or MOSEI's known layout)."""
    if names is None or len(names) != dim:
        if dim == len(MOSEI_LABEL_COLUMNS):
            names = MOSEI_LABEL_COLUMNS
        elif dim == 1:
            names = ("sentiment",)
        else:
            names = tuple(f"column {i}" for i in range(dim))
    emo_cols: dict[str, int] = {}
    senti_col = None
    for i, nm in enumerate(names):
        key = re.sub(r"[^a-z]", "", str(nm).lower())
        if key in _LABEL_SYNONYMS and _LABEL_SYNONYMS[key] not in emo_cols:
            emo_cols[_LABEL_SYNONYMS[key]] = i
        elif key.startswith("sentiment") and senti_col is None:
            senti_col = i
    if kind in ("auto", "emotion") and emo_cols:
        ems = [e for e in MOSEI_EMOTIONS if e in emo_cols]
        return LabelColumns(ems, [emo_cols[e] for e in ems], "emotion")
    if kind in ("auto", "sentiment") and senti_col is not None:
        return LabelColumns(list(SENTIMENT_EMOTIONS), [senti_col, senti_col], "sentiment")
    raise DatasetError(
        f"cannot tell emotion columns from the label dimension names {list(names)} "
        f"(expected names such as {', '.join(MOSEI_LABEL_COLUMNS)})"
    )


def _segment_labels(row: np.ndarray, layout: LabelColumns) -> np.ndarray:
    if layout.kind == "sentiment":
        s = float(row[layout.columns[0]])
        return np.array([s > 0, s < 0], np.float32)
    return (row[layout.columns] > 0).astype(np.float32)


def load_folds(path: str | os.PathLike) -> dict[str, set[str]]:
    """A JSON file {"train": [video ids], "valid": [...], "test": [...]} ("dev" is read as "valid")."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except FileNotFoundError:
        raise DatasetError(
            f'{p}: folds file not found (expected JSON {{"train": [ids], "valid": [...], "test": [...]}})'
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DatasetError(
            f'{p}: not JSON (expected {{"train": [video ids], "valid": [...], "test": [...]}})'
        ) from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{p}: expected a JSON object with train/valid/test lists of video ids")
    out = {}
    for k, v in raw.items():
        kk = "valid" if k in ("dev", "val", "validation") else k
        if not isinstance(v, list):
            raise DatasetError(f"{p}: fold '{k}' should be a list of video ids")
        out[kk] = {str(x) for x in v}
    missing = [s for s in SPLITS if s not in out]
    if missing:
        raise DatasetError(f"{p}: missing fold(s) {', '.join(missing)}")
    return out


def hash_fold(video_id: str, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> str:
    """A deterministic split for a video id when no standard folds are given."""
    h = int(hashlib.sha1(video_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if h < fractions[0]:
        return "train"
    if h < fractions[0] + fractions[1]:
        return "valid"
    return "test"


@dataclass
class CsdFiles:
    """The four computational sequences a dataset is built from (+ optional words and folds)."""

    text: Path
    acoustic: Path
    visual: Path
    labels: Path
    words: Path | None = None
    folds: Path | None = None


_CSD_PATTERNS = {
    "text": ("wordvectors", "glovevectors", "glove"),
    "acoustic": ("covarep",),
    "visual": ("facet",),
    "labels": ("labels",),
    "words": ("timestampedwords",),
}


def find_csd_files(directory: str | os.PathLike) -> CsdFiles:
    """Find the word-vector, COVAREP, Facet and label ``.csd`` files in ``directory`` by name."""
    d = Path(directory)
    if not d.is_dir():
        raise DatasetError(f"{d}: not a directory (expected CMU SDK .csd files)")
    files = sorted(p for p in d.iterdir() if p.suffix == ".csd")
    found: dict[str, Path] = {}
    for role, pats in _CSD_PATTERNS.items():
        for pat in pats:  # patterns in order of preference (WordVectors before GloveVectors_with_SP)
            for p in files:
                key = re.sub(r"[^a-z]", "", p.stem.lower())
                if role == "words" and "vector" in key:
                    continue
                if role == "labels" and "timestamped" in key:
                    continue
                if pat in key and p not in found.values():
                    found[role] = p
                    break
            if role in found:
                break
    need = {"text": "*WordVectors*.csd", "acoustic": "*COVAREP*.csd", "visual": "*Facet*.csd", "labels": "*Labels*.csd"}
    missing = [f"{role} ({pat})" for role, pat in need.items() if role not in found]
    if missing:
        raise DatasetError(
            f"{d}: no .csd file for {', '.join(missing)}; expected e.g. CMU_MOSEI_TimestampedWordVectors.csd, "
            "CMU_MOSEI_COVAREP.csd, CMU_MOSEI_VisualFacet42.csd, CMU_MOSEI_Labels.csd"
        )
    folds = d / "folds.json"
    return CsdFiles(
        found["text"],
        found["acoustic"],
        found["visual"],
        found["labels"],
        found.get("words"),
        folds if folds.exists() else None,
    )


@dataclass
class CsdBuildReport:
    segments: int = 0
    skipped_no_words: int = 0
    skipped_missing_video: int = 0
    words_without_acoustic: int = 0
    words_without_visual: int = 0
    notes: list[str] = field(default_factory=list)


def build_csd_splits(
    files: CsdFiles,
    seq_len: int = 20,
    folds: dict[str, set[str]] | None = None,
    label_kind: str = "auto",
    eps: float = 1e-6,
    progress: bool = False,
    report: CsdBuildReport | None = None,
    video_ids: Iterable[str] | None = None,
) -> dict[str, EmotionDataset]:
    """Word-align the SDK sequences, cut them into labelled segments and split them into folds.

    Each labelled segment of a video becomes one sample: the words that
    intersect it, in time order, each with its word vector and the acoustic
    and visual frames averaged over its interval; the last ``seq_len`` words
    are kept, padded in front. Without ``folds`` the split is a deterministic
    hash of the video id (70/10/20), noted in ``report``.
    """
    report = report if report is not None else CsdBuildReport()
    seqs = {}
    words = None
    try:
        for role in ("text", "acoustic", "visual", "labels"):
            seqs[role] = read_csd(getattr(files, role))
        words = read_csd(files.words) if files.words else None
        checks = {"acoustic": COVAREP_DIM, "visual": FACET_DIM}
        for role, dim in checks.items():
            got = seqs[role].feature_dim()
            if got is not None and got != dim:
                raise DatasetError(
                    f"{seqs[role].path}: features are {got}-d, expected {dim}-d ({'COVAREP' if role == 'acoustic' else 'Facet'})"
                )
        text_dim = seqs["text"].feature_dim()
        if text_dim is None:
            raise DatasetError(f"{seqs['text'].path}: no entries")
        lab = seqs["labels"]
        layout = label_columns(lab.feature_dim() or 0, lab.dimension_names, label_kind)
        if folds is None and files.folds is not None:
            folds = load_folds(files.folds)
        if folds is None:
            report.notes.append(
                "no folds given: videos split 70/10/20 by a hash of their id (not the SDK's standard folds)"
            )
        vids = list(video_ids) if video_ids is not None else lab.keys()
        buckets: dict[str, dict[str, list]] = {
            s: {"t": [], "a": [], "v": [], "y": [], "id": [], "mt": [], "ma": [], "mv": []} for s in SPLITS
        }
        it = vids
        if progress:
            from tqdm import tqdm

            it = tqdm(vids, desc="aligning", unit="video")
        for vid in it:
            if folds is not None:
                split = next((s for s in SPLITS if vid in folds.get(s, ())), None)
                if split is None:
                    continue
            else:
                split = hash_fold(vid)
            if any(vid not in seqs[r] for r in ("text", "acoustic", "visual")):
                report.skipped_missing_video += 1
                continue
            y_feats, y_iv = lab[vid]
            y_feats = np.asarray(y_feats, np.float64)
            t_feats, t_iv = seqs["text"][vid]
            t_feats = _check_features(t_feats, f"{seqs['text'].path}[{vid}]", "word vectors", text_dim, ndim=2)
            keep = (t_iv[:, 1] - t_iv[:, 0]) >= eps  # the SDK skips zero-length reference intervals
            if words is not None and vid in words:
                w_feats, _ = words[vid]
                tokens = [
                    (x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x))
                    for x in np.asarray(w_feats).reshape(len(w_feats), -1)[:, 0]
                ]
                if len(tokens) == len(keep):
                    keep &= np.array([tok != "sp" for tok in tokens])
            t_feats, t_iv = t_feats[keep], t_iv[keep]
            a_feats, a_iv = seqs["acoustic"][vid]
            v_feats, v_iv = seqs["visual"][vid]
            a_avg, a_cnt = average_over_intervals(t_iv, a_iv, a_feats, eps=eps)
            v_avg, v_cnt = average_over_intervals(t_iv, v_iv, v_feats, eps=eps)
            for i in range(len(y_iv)):
                seg = y_iv[i]
                if abs(seg[1] - seg[0]) < eps:
                    continue
                if not np.isfinite(y_feats[i]).all():
                    raise DatasetError(f"{lab.path}: entry '{vid}' segment {i} has non-finite labels")
                idx = intervals_within(seg, t_iv, eps)
                if len(idx) == 0:
                    report.skipped_no_words += 1
                    continue
                b = buckets[split]
                t, mt = pad_or_crop(t_feats[idx], seq_len)
                a, ma = pad_or_crop(a_avg[idx], seq_len)
                v, mv = pad_or_crop(v_avg[idx], seq_len)
                ca = pad_or_crop(a_cnt[idx, None].astype(np.float32), seq_len)[0][:, 0] > 0
                cv = pad_or_crop(v_cnt[idx, None].astype(np.float32), seq_len)[0][:, 0] > 0
                report.words_without_acoustic += int((mt & ~ca).sum())
                report.words_without_visual += int((mt & ~cv).sum())
                b["t"].append(t)
                b["a"].append(a)
                b["v"].append(v)
                b["mt"].append(mt & np.any(t != 0, axis=1))
                b["ma"].append(ma & ca)
                b["mv"].append(mv & cv)
                b["y"].append(_segment_labels(y_feats[i], layout))
                b["id"].append(f"{vid}[{i}]")
                report.segments += 1
    finally:
        for s in seqs.values():
            s.close()
        if words is not None:
            words.close()
    out = {}
    for split, b in buckets.items():
        n = len(b["id"])
        dims = {"t": text_dim, "a": COVAREP_DIM, "v": FACET_DIM}

        def stack(k: str, dim: int | None = None) -> np.ndarray:
            if n:  # noqa: B023
                return np.stack(b[k])  # noqa: B023
            return np.zeros((0, seq_len, dim), np.float32) if dim is not None else np.zeros((0, seq_len), bool)

        out[split] = EmotionDataset(
            text=stack("t", dims["t"]),
            acoustic=stack("a", dims["a"]),
            visual=stack("v", dims["v"]),
            labels=np.stack(b["y"]) if n else np.zeros((0, len(layout.emotions)), np.float32),
            emotions=list(layout.emotions),
            ids=b["id"],
            step_masks={"text": stack("mt"), "acoustic": stack("ma"), "visual": stack("mv")},
            name=f"csd/{split}",
        )
    return out


# ---------------------------------------------------------------------------------------------
# one entry point for the CLI
# ---------------------------------------------------------------------------------------------
def load_splits(
    kind: str,
    path: str | os.PathLike,
    splits: Sequence[str] = SPLITS,
    seq_len: int = 20,
    folds: str | os.PathLike | None = None,
    progress: bool = False,
    notes: list[str] | None = None,
) -> dict[str, EmotionDataset]:
    """Load ``splits`` of a dataset of ``kind`` ('mosei-aligned', 'mult-pkl' or 'csd') from ``path``."""
    if kind == "mosei-aligned":
        return {s: load_mosei_aligned(path, s) for s in splits}
    if kind == "mult-pkl":
        return load_mult_pickle_splits(path, splits)
    if kind == "csd":
        report = CsdBuildReport()
        all_splits = build_csd_splits(
            find_csd_files(path),
            seq_len=seq_len,
            folds=load_folds(folds) if folds else None,
            progress=progress,
            report=report,
        )
        if notes is not None:
            notes.extend(report.notes)
            notes.append(
                f"{report.segments} segments; {report.skipped_no_words} without words and "
                f"{report.skipped_missing_video} videos missing a modality were skipped"
            )
        return {s: all_splits[s] for s in splits}
    raise DatasetError(f"unknown data kind '{kind}' (use one of {', '.join(DATA_KINDS)})")


def write_h5(path: str | os.PathLike, array: np.ndarray, key: str = "d1") -> Path:
    """Write one array under ``key`` atomically (the aligned-MOSEI layout); used by tests and converters."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(key, data=array)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_csd(
    path: str | os.PathLike,
    root_name: str,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a computational sequence in the SDK's layout (root/data/<vid>/{features,intervals}, root/metadata)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            root = f.create_group(root_name)
            dg = root.create_group("data")
            for vid, (feats, iv) in data.items():
                g = dg.create_group(vid)
                g.create_dataset("features", data=feats)
                g.create_dataset("intervals", data=iv)
            mg = root.create_group("metadata")
            for k, v in (metadata or {}).items():
                ds = mg.create_dataset(k, (1,), dtype=h5py.special_dtype(vlen=str))
                ds[0] = json.dumps(v)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


__all__ = [
    "DatasetError",
    "SPLITS",
    "MOSEI_EMOTIONS",
    "IEMOCAP_EMOTIONS",
    "SENTIMENT_EMOTIONS",
    "DATA_KINDS",
    "sdk_feature_spaces",
    "load_mosei_aligned",
    "load_mult_pickle",
    "load_mult_pickle_splits",
    "find_mult_pickle",
    "ComputationalSequence",
    "read_csd",
    "average_over_intervals",
    "intervals_within",
    "label_columns",
    "LabelColumns",
    "load_folds",
    "hash_fold",
    "CsdFiles",
    "find_csd_files",
    "build_csd_splits",
    "CsdBuildReport",
    "load_splits",
    "write_h5",
    "write_csd",
]
