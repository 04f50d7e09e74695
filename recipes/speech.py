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

from .extraction import (
    FAILED,
    OK,
    ExtractionReport,
    ItemStatus,
    first_per_class,
    label_sets,
    one_line,
    read_labels,
    run_pool,
)

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
    return [
        SpeechClip(
            root / corpus / row["file"],
            row["emotion"],
            row["speaker"].strip(),
            (row.get("language") or "").strip(),
            corpus,
            row["file"],
        )
        for corpus in corpora
        for row in read_labels(root / corpus / "labels.csv", EMOTIONS, SpeechDataError)
    ]


def corpus_emotions(clips: Sequence[SpeechClip]) -> dict[str, list[str]]:
    """corpus -> the emotions it labels (only these are annotated for its clips)."""
    return label_sets(clips, "corpus", EMOTIONS)


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


def speech_windows(
    clips: Sequence[SpeechClip],
    audio: Sequence[ClipAudioFeatures],
    ends: Sequence[float] = (1.0,),
    settings: WindowSettings = WindowSettings(),  # noqa: B008
    name: str = "speech",
) -> dict[str, np.ndarray]:
    """The windows of each (clip, end) as arrays (``rows``: clip index, ``end``: index into ``ends``).

    Built by :func:`recipes.recipe_data.clip_windows` (no words, no face); a window
    with no voiced frame (nothing observed) is dropped, with one warning line.
    """
    if len(clips) != len(audio):
        raise ValueError(f"{len(clips)} clips but {len(audio)} audio analyses")
    wins, rows, end_idx = [], [], []
    for i, a in enumerate(audio):
        for j, w in enumerate(clip_windows(a, None, ends, None, settings)):
            if w.modality_mask.any():
                wins.append(w)
                rows.append(i)
                end_idx.append(j)
    dropped = len(clips) * len(ends) - len(wins)
    if dropped:
        log.warning("%s: %d of %d windows dropped (no voiced frame)", name, dropped, len(clips) * len(ends))
    from recipes.recipe_data import DIMS

    t = settings.n_steps
    if wins:
        arr = windows_to_arrays(wins)
    else:
        dims = (DIMS[0], settings.acoustic_dim, DIMS[2])
        arr = {m: np.zeros((0, t, d), np.float32) for m, d in zip(("text", "acoustic", "visual"), dims)}
        arr.update({f"{m}_mask": np.zeros((0, t), bool) for m in ("text", "acoustic", "visual")})
        arr["modality_mask"] = np.zeros((0, 3), bool)
    if arr["text"].any() or arr["visual"].any():  # pragma: no cover - clip_windows got words or a face
        raise AssertionError(f"{name}: speech windows with text or visual features")
    keep = ("acoustic", "text_mask", "acoustic_mask", "visual_mask", "modality_mask")
    return {**{k: arr[k] for k in keep}, "rows": np.asarray(rows, np.int64), "end": np.asarray(end_idx, np.int64)}


def build_speech(
    clips: Sequence[SpeechClip],
    windows: dict[str, np.ndarray],
    ends: Sequence[float] = (1.0,),
    *,
    corpus_labels: dict[str, Sequence[str]] | None = None,
    name: str = "speech",
) -> EmotionDataset:
    """The dataset of :func:`speech_windows` arrays of ``clips``: acoustic only, text and visual absent.

    Labels: each corpus annotates only its own emotions (``corpus_labels``,
    default :func:`corpus_emotions` of ``clips``).
    """
    from recipes.recipe_data import DIMS

    per_corpus = {k: list(v) for k, v in (corpus_labels or corpus_emotions(clips)).items()}
    names = [e for e in EMOTIONS if any(e in v for v in per_corpus.values())] or list(EMOTIONS)
    rows = np.asarray(windows["rows"], np.int64)
    sel = [clips[i] for i in rows]
    n, t = windows["acoustic"].shape[:2]
    y = np.zeros((n, len(names)), np.float32)
    lm = np.zeros((n, len(names)), bool)
    for r, c in enumerate(sel):
        y[r, names.index(c.emotion)] = 1.0
        lm[r] = [e in per_corpus[c.corpus] for e in names]
    zeros = lambda d: np.broadcast_to(np.zeros((1, 1, 1), np.float32), (n, t, d))  # noqa: E731 - absent: no memory
    return EmotionDataset(
        text=zeros(DIMS[0]),
        acoustic=windows["acoustic"],
        visual=zeros(DIMS[2]),
        labels=y,
        emotions=names,
        ids=[f"{c.key}@{float(ends[j]):g}" for c, j in zip(sel, windows["end"].tolist())],
        step_masks={
            "text": windows["text_mask"],
            "acoustic": windows["acoustic_mask"],
            "visual": windows["visual_mask"],
        },
        modality_mask=windows["modality_mask"],
        label_mask=lm,
        name=name,
        groups={
            "speaker": [c.speaker_id for c in sel],
            "corpus": [c.corpus for c in sel],
            "language": [c.language for c in sel],
            "clip": [c.key for c in sel],
        },
    )


def windows_extractor(ends: Sequence[float], settings: WindowSettings):
    """Cache identity of a corpus's windows: the acoustic extractor's version and the adapter/aligner code."""
    from feature_adapters import align, covarep
    from recipes import recipe_data
    from recipes.feature_cache import Extractor, source_digest

    return Extractor(
        "speech-windows",
        source_digest(
            _acoustic_x().version,
            covarep,
            align,
            recipe_data.clip_windows,
            recipe_data.windows_to_arrays,
            speech_windows,
            settings,
            tuple(float(e) for e in ends),
        ),
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
    N clips of each (corpus, speaker, emotion) (quick runs). The windows of the
    whole selection are cached as one entry (keyed by every clip's content, the
    window code and settings), so a repeated load reads one file.
    """
    from .extraction import cached_table

    cache = cache or FeatureCache()
    clips = read_clips(Path(shared) / "data" / "speech", corpora)
    labels = corpus_emotions(clips)
    if limit:
        clips = first_per_class(clips, limit, lambda c: (c.corpus, c.speaker, c.emotion))

    def compute():
        rep = extract_speech(clips, cache=cache, workers=workers, name=name)
        ok = [i for i, st in enumerate(rep.items) if st.status == OK]
        aco = _acoustic_x()
        audio = [extract_clip(clips[i].path, cache, aco) for i in ok]  # cache hits now
        w = speech_windows([clips[i] for i in ok], audio, ends, settings, name)
        w["rows"] = np.asarray(ok, np.int64)[w["rows"]] if len(ok) else w["rows"]
        return w, rep

    table, rep = cached_table(cache, [c.path for c in clips], windows_extractor(ends, settings), compute, name)
    if report is not None:
        report.append(rep)
    failed = rep.counts()[FAILED]
    if failed:
        log.warning("%s: %d of %d clips excluded (cannot be decoded)", name, failed, len(clips))
    return build_speech(clips, table, ends, corpus_labels=labels, name=name)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recipes.speech``: run every clip through the live acoustic extractor into the feature cache."""
    import argparse
    import sys

    from .extraction import extract_by_group

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--report", type=Path, default=None, help="write the report as JSON here")
    ap.add_argument(
        "--ends",
        action="append",
        default=None,
        help="window ends (comma-separated fractions) to prebuild the windows table for; repeatable "
        "(default: 1.0 and 0.6,0.8,1.0)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        clips = read_clips(args.shared / "data" / "speech", [c for c in args.corpora.split(",") if c])
    except SpeechDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extract_by_group(clips, lambda c: c.corpus, extract_speech, "speech", workers=args.workers, report=args.report)
    if set(args.corpora.split(",")) == set(CORPORA):  # build the one-file tables the default loader reads
        for ends in args.ends or ["1.0", "0.6,0.8,1.0"]:
            t0 = time.perf_counter()
            ds = load_speech(args.shared, ends=tuple(float(e) for e in ends.split(",")))
            print(f"{ds.summary()}\nload_speech(ends={ends}) (table built): {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
