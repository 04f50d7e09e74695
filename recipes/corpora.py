"""Readers for the real corpora used to build the embedded default checkpoint.

- RAVDESS speech (16 kHz FLAC) with clip-level OpenFace action units;
- GoEmotions (28 labels, multi-label) and MELD (7 labels), text only.

Each corpus label is mapped to an emotion *name*; the name's word vector comes
from a chosen word form (see ``WORD_FORMS``). The word 'calm' and anything that
means it is never a training label: it is the zero-shot check for the acoustic
and visual modalities.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# RAVDESS emotion codes (file name field 3)
RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
# corpus label -> emotion name used by the checkpoint (the paper's six names + others)
RAVDESS_TO_NAME = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "anger",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
    # "calm" deliberately absent: held out for zero-shot evaluation
}
MELD_TO_NAME = {
    "neutral": "neutral",
    "joy": "happy",
    "surprise": "surprise",
    "anger": "anger",
    "sadness": "sad",
    "disgust": "disgust",
    "fear": "fear",
}
GOEMOTIONS_TO_NAME = {"joy": "happy", "sadness": "sad"}  # the rest keep their own label as name
HELD_OUT = ("calm",)
CALM_SYNONYMS = ("calm", "calmness", "relaxed", "serene", "peaceful", "tranquil")

PAPER_SIX = ("anger", "disgust", "fear", "happy", "sad", "surprise")


@dataclass(frozen=True)
class RavdessClip:
    path: Path
    actor: int
    emotion: str  # RAVDESS label (neutral, calm, happy, ...)
    intensity: int  # 1 normal, 2 strong
    statement: int
    repetition: int

    @property
    def face_key(self) -> str:
        """Key into face_au_clip_level.npz: the audio-video recording (modality 01) of the same performance."""
        parts = self.path.stem.split("-")
        return "-".join(["01"] + parts[1:])

    @property
    def name(self) -> str | None:
        return RAVDESS_TO_NAME.get(self.emotion)


_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def ravdess_clips(root: str | Path) -> list[RavdessClip]:
    """All speech clips under ``root`` (…/ravdess/audio16k), sorted by name."""
    root = Path(root)
    clips = []
    for p in sorted(root.glob("Actor_*/*.flac")):
        m = _RAVDESS_RE.match(p.stem)
        if not m or m.group(2) != "01":
            continue
        clips.append(
            RavdessClip(
                p, int(m.group(7)), RAVDESS_EMOTIONS[m.group(3)], int(m.group(4)), int(m.group(5)), int(m.group(6))
            )
        )
    if not clips:
        raise FileNotFoundError(f"no RAVDESS speech clips (Actor_NN/*.flac) under {root}")
    return clips


def ravdess_face_aus(npz_path: str | Path) -> dict[str, np.ndarray]:
    """Clip key -> the 35 OpenFace AU columns (intensities then presences)."""
    data = np.load(npz_path, allow_pickle=False)
    keys = [str(k) for k in data["keys"]]
    feats = np.asarray(data["features"], np.float32)
    if feats.ndim != 2 or feats.shape[1] < 35:
        raise ValueError(f"{npz_path}: expected features (N, >=35), got {feats.shape}")
    return {k: feats[i, :35] for i, k in enumerate(keys)}


def split_actor(actor: int, valid_actors=(17, 18, 19, 20)) -> str:
    """Speaker-independent split: actors 01–16 train, 17–20 validation."""
    return "valid" if actor in valid_actors else "train"


@dataclass
class TextSample:
    text: str
    labels: tuple[str, ...]  # emotion names
    corpus: str


def read_goemotions(root: str | Path, split: str) -> tuple[list[TextSample], list[str]]:
    """GoEmotions ``train``/``dev``: samples with label names, and the corpus's own name list."""
    root = Path(root)
    raw_names = [l.strip() for l in (root / "labels.txt").read_text().splitlines() if l.strip()]
    names = [GOEMOTIONS_TO_NAME.get(n, n) for n in raw_names]
    out = []
    with open(root / f"{split}.tsv", encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 2:
                continue
            ids = [int(x) for x in row[1].split(",") if x.strip()]
            out.append(TextSample(row[0], tuple(names[i] for i in ids), "goemotions"))
    return out, names


def read_meld(root: str | Path, split: str) -> tuple[list[TextSample], list[str]]:
    """MELD ``train``/``dev``: one label per utterance."""
    path = Path(root) / f"{split}_sent_emo.csv"
    out = []
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            emo = row["Emotion"].strip().lower()
            text = row["Utterance"].replace("\u2019", "'").replace("\u0092", "'")
            out.append(TextSample(text, (MELD_TO_NAME[emo],), "meld"))
    return out, sorted(set(MELD_TO_NAME.values()))
