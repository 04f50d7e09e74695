"""Acted emotional speech in four languages (``shared/data/speech``) through the live acoustic path, as windows.

Each clip goes through exactly what the RAVDESS recipe runs
(:func:`recipes.recipe_extract.extract_clip`: ``load_audio`` at 16 kHz mono ->
``extract_acoustic``, native frames cached by :class:`recipes.feature_cache.FeatureCache`),
then :func:`recipes.recipe_data.clip_windows` (COVAREP-74, voiced frames
observed, live window settings). The languages are not English, so the bundled
recogniser gives no usable words: the text modality is absent (masked), and so
is the visual one (no face). Steps are therefore live mode's 0.5 s pseudo-steps.

Groups: ``speaker`` (``corpus:speaker``, unique across corpora), ``corpus``
(nemo / ased / urdu / spanish), ``language``, ``clip`` (its key); each corpus
annotates only its own emotions (``label_mask``). Clips that cannot be decoded
are counted and skipped with a one-line warning; clips with no voiced frame
give no window (counted too).

``python -m recipes.speech`` extracts every clip into the cache (2 worker
processes) and prints the report.
"""

from __future__ import annotations

import csv
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.datasets import EmotionDataset
from recipes.feature_cache import FeatureCache
from recipes.recipe_data import WindowSettings, clip_windows, windows_to_arrays
from recipes.recipe_extract import ClipAudioFeatures, acoustic_extractor, extract_clip

from .extraction import FAILED, OK, ExtractionReport, ItemStatus, first_per_class, one_line, run_pool

log = logging.getLogger(__name__)

CORPORA = ("nemo", "ased", "urdu", "spanish")
EMOTIONS = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")


class SpeechDataError(ValueError):
    """A corpus folder or labels file that cannot be read (one line naming it)."""


@dataclass(frozen=True)
class SpeechClip:
    path: Path
    emotion: str
    speaker: str  # as in labels.csv
    language: str
    corpus: str
    file: str  # as in labels.csv (clips/...opus)

    @property
    def key(self) -> str:
        return f"{self.corpus}/{self.file}"

    @property
    def speaker_id(self) -> str:
        """Unique across corpora (two corpora both have a 'spk01')."""
        return f"{self.corpus}:{self.speaker}"


def read_clips(speech_root: str | Path, corpora: Sequence[str] = CORPORA) -> list[SpeechClip]:
    """Every labelled clip of ``corpora`` under ``speech_root`` (``shared/data/speech``), in labels.csv order."""
    root = Path(speech_root)
    out: list[SpeechClip] = []
    for corpus in corpora:
        labels = root / corpus / "labels.csv"
        try:
            with open(labels, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise SpeechDataError(f"{labels}: cannot read the labels file ({exc.strerror})") from None
        for row in rows:
            emo = (row.get("emotion") or "").strip()
            if emo not in EMOTIONS:
                raise SpeechDataError(f"{labels}: unknown emotion {emo!r} for {row.get('file')}")
            out.append(
                SpeechClip(
                    root / corpus / row["file"],
                    emo,
                    row["speaker"].strip(),
                    (row.get("language") or "").strip(),
                    corpus,
                    row["file"],
                )
            )
    return out


def corpus_emotions(clips: Sequence[SpeechClip]) -> dict[str, list[str]]:
    """corpus -> the emotions it labels (only these are annotated for its clips)."""
    got: dict[str, set[str]] = {}
    for c in clips:
        got.setdefault(c.corpus, set()).add(c.emotion)
    return {k: [e for e in EMOTIONS if e in v] for k, v in got.items()}


# ----------------------------------------------------------------------------- extraction (the recipe's own)


_acoustic_x = functools.lru_cache(maxsize=1)(acoustic_extractor)  # its version digests source code: once per process


def extract_speech_clip(path: str, cache_root: str | None = None) -> ItemStatus:
    """Cache one clip's native acoustic frames (the recipe's extractor); never raises."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        cache = FeatureCache(cache_root)
        extract_clip(path, cache, _acoustic_x())
        cached = cache.hits > 0
        if cached:
            return ItemStatus(path, OK, cached=True)
        return ItemStatus(path, OK, time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    except Exception as exc:  # noqa: BLE001 - any failure of one clip is reported in one line and skipped
        return ItemStatus(path, FAILED, time.perf_counter() - t0, False, one_line(exc), time.process_time() - c0)


def extract_speech(
    clips: Sequence[SpeechClip],
    *,
    cache: FeatureCache | None = None,
    workers: int = 1,
    progress: bool = False,
    name: str = "speech",
) -> ExtractionReport:
    """Fill the cache for ``clips`` (``workers`` processes); the report names the clips that failed."""
    root = str((cache or FeatureCache()).root)
    return run_pool(
        functools.partial(extract_speech_clip, cache_root=root),
        [str(c.path) for c in clips],
        name=name,
        workers=workers,
        progress=progress,
    )


# ----------------------------------------------------------------------------- windows


def build_speech(
    clips: Sequence[SpeechClip],
    audio: Sequence[ClipAudioFeatures],
    ends: Sequence[float] = (1.0,),
    *,
    settings: WindowSettings = WindowSettings(),  # noqa: B008
    corpus_labels: dict[str, Sequence[str]] | None = None,
    name: str = "speech",
) -> EmotionDataset:
    """One window per (clip, end) (``ends``: fractions of the clip, 1.0 = its end), acoustic only.

    A window with no voiced frame (nothing observed) is dropped. Labels: each
    corpus annotates only its own emotions (``corpus_labels``, default
    :func:`corpus_emotions` of ``clips``).
    """
    if len(clips) != len(audio):
        raise ValueError(f"{len(clips)} clips but {len(audio)} audio analyses")
    per_corpus = {k: list(v) for k, v in (corpus_labels or corpus_emotions(clips)).items()}
    names = [e for e in EMOTIONS if any(e in v for v in per_corpus.values())] or list(EMOTIONS)
    wins, rows, ids = [], [], []
    silent = 0
    for i, (c, a) in enumerate(zip(clips, audio)):
        for f, w in zip(ends, clip_windows(a, None, ends, None, settings)):
            if not w.modality_mask.any():
                silent += 1
                continue
            wins.append(w)
            rows.append(i)
            ids.append(f"{c.key}@{f:g}")
    if silent:
        log.warning("%s: %d of %d windows dropped (no voiced frame)", name, silent, len(clips) * len(ends))
    n = len(wins)
    y = np.zeros((n, len(names)), np.float32)
    lm = np.zeros((n, len(names)), bool)
    for r, i in enumerate(rows):
        y[r, names.index(clips[i].emotion)] = 1.0
        lm[r] = [e in per_corpus[clips[i].corpus] for e in names]
    if n:
        arr = windows_to_arrays(wins)
    else:
        from recipes.recipe_data import DIMS

        t = settings.n_steps
        arr = {m: np.zeros((0, t, d), np.float32) for m, d in zip(("text", "acoustic", "visual"), DIMS)}
        arr.update({f"{m}_mask": np.zeros((0, t), bool) for m in ("text", "acoustic", "visual")})
        arr["modality_mask"] = np.zeros((0, 3), bool)
    sel = [clips[i] for i in rows]
    return EmotionDataset(
        text=arr["text"],
        acoustic=arr["acoustic"],
        visual=arr["visual"],
        labels=y,
        emotions=names,
        ids=ids,
        step_masks={"text": arr["text_mask"], "acoustic": arr["acoustic_mask"], "visual": arr["visual_mask"]},
        modality_mask=arr["modality_mask"],
        label_mask=lm,
        name=name,
        groups={
            "speaker": [c.speaker_id for c in sel],
            "corpus": [c.corpus for c in sel],
            "language": [c.language for c in sel],
            "clip": [c.key for c in sel],
        },
    )


def load_speech(
    shared: str | Path,
    *,
    corpora: Sequence[str] = CORPORA,
    ends: Sequence[float] = (1.0,),
    settings: WindowSettings = WindowSettings(),  # noqa: B008
    cache: FeatureCache | None = None,
    workers: int = 1,
    limit: int | None = None,
    report: list | None = None,
    name: str = "speech",
) -> EmotionDataset:
    """Speech windows of ``corpora`` from ``shared`` (``../shared``); features from the cache, extracted on a miss.

    Undecodable clips are excluded (one warning line each, and a count; ``report``,
    when given, receives the :class:`ExtractionReport`). ``limit`` keeps the first
    N clips of each (corpus, speaker, emotion) (quick runs).
    """
    cache = cache or FeatureCache()
    clips = read_clips(Path(shared) / "data" / "speech", corpora)
    labels = corpus_emotions(clips)
    if limit:
        clips = first_per_class(clips, limit, lambda c: (c.corpus, c.speaker, c.emotion))
    rep = extract_speech(clips, cache=cache, workers=workers, name=name)
    if report is not None:
        report.append(rep)
    status = {i.key: i.status for i in rep.items}
    keep = [c for c in clips if status[str(c.path)] == OK]
    if len(keep) < len(clips):
        log.warning("%s: %d of %d clips excluded (cannot be decoded)", name, len(clips) - len(keep), len(clips))
    aco = _acoustic_x()
    audio = [extract_clip(c.path, cache, aco) for c in keep]  # cache hits now
    return build_speech(keep, audio, ends, settings=settings, corpus_labels=labels, name=name)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recipes.speech``: run every clip through the live acoustic extractor into the feature cache."""
    import argparse

    from .extraction import extract_by_group

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--report", type=Path, default=None, help="write the report as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        clips = read_clips(args.shared / "data" / "speech", [c for c in args.corpora.split(",") if c])
    except SpeechDataError as exc:
        print(f"error: {exc}")
        return 2
    extract_by_group(clips, lambda c: c.corpus, extract_speech, "speech", workers=args.workers, report=args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
