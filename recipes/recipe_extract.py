"""Cached feature extraction for the default recipe, through livemer's own live extractors.

Every RAVDESS clip goes through exactly what ``livemer file`` runs on audio:
``load_audio`` (16 kHz mono) -> ``extract_acoustic`` (native frames) and the
bundled Whisper recogniser (``load_asr().transcribe_file_audio``). The raw
outputs (native acoustic frames; timed words) are cached per file with
:class:`~recipes.feature_cache.FeatureCache`; the cheap adapters (COVAREP-74,
tokenisation and GloVe vectors, Facet-35) run on every build, so the training
windows always match the adapters that are running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feature_adapters.errors import LivemerError

from .feature_cache import Extractor, FeatureCache, source_digest

log = logging.getLogger(__name__)


#: Decode options of the recipe's ASR: those ``livemer file`` uses for a short recording.
FILE_MODE_ASR = {"fit_window": True}


class ExtractionError(LivemerError, RuntimeError):
    """A training file could not be analysed; the message names the file."""


# ----------------------------------------------------------------------------- extractor identities


def acoustic_extractor() -> Extractor:
    """Native acoustic frames (``feature_adapters.acoustic``); the version follows its code."""
    import librosa

    from feature_adapters import acoustic, audio_io

    return Extractor("acoustic", source_digest(acoustic, audio_io.load_audio, librosa.__version__))


def asr_extractor(engine) -> Extractor:
    """Timed words from a loaded :class:`feature_adapters.asr.ASREngine`; the version follows
    the model, its decode options and the code that turns decoder output into words."""
    import faster_whisper

    from feature_adapters import asr, audio_io

    version = source_digest(
        engine.name,
        engine.options,
        faster_whisper.__version__,
        asr.FasterWhisperEngine.transcribe,
        asr.ASREngine.transcribe_file_audio,
        asr.keep_segment,
        asr.monotonic_words,
        asr.as_audio16k,
        audio_io.load_audio,
    )
    return Extractor(f"asr-{engine.name}", version)


# ----------------------------------------------------------------------------- typed results


@dataclass
class ClipAudioFeatures:
    """The raw (pre-adapter) audio analysis of one clip."""

    path: Path
    duration: float  # seconds
    acoustic_times: np.ndarray  # (n,)
    acoustic_native: np.ndarray  # (n, k) native acoustic features
    acoustic_names: tuple[str, ...]
    words: list  # feature_adapters.text.TimedWord

    def acoustic_frames(self):
        from feature_adapters.acoustic import AcousticFrames

        return AcousticFrames(self.acoustic_times, self.acoustic_native, self.acoustic_names)


# ----------------------------------------------------------------------------- extraction


def _acoustic_arrays(path: Path) -> dict[str, np.ndarray]:
    from feature_adapters.acoustic import extract_acoustic
    from feature_adapters.audio_io import load_audio

    audio = load_audio(path, 16000)
    fr = extract_acoustic(audio, 16000)
    return {
        "times": fr.times.astype(np.float64),
        "features": fr.features.astype(np.float32),
        "names": np.asarray(fr.names, dtype=str),
        "duration": np.float64(audio.size / 16000.0),
    }


def _asr_arrays(path: Path, engine) -> dict[str, np.ndarray]:
    from feature_adapters.audio_io import load_audio

    audio = load_audio(path, 16000)
    words = list(engine.transcribe_file_audio(audio))
    return {
        "words": np.asarray([w.word for w in words], dtype=str).reshape(-1),
        "starts": np.asarray([w.start for w in words], np.float64).reshape(-1),
        "ends": np.asarray([w.end for w in words], np.float64).reshape(-1),
        "probs": np.asarray([w.probability for w in words], np.float64).reshape(-1),
        "duration": np.float64(audio.size / 16000.0),
    }


def _words_from(arrays: dict[str, np.ndarray]) -> list:
    from feature_adapters.text import TimedWord

    return [
        TimedWord(str(w), float(s), float(e), float(p))
        for w, s, e, p in zip(arrays["words"].tolist(), arrays["starts"], arrays["ends"], arrays["probs"])
    ]


def extract_clip(
    path: str | Path,
    cache: FeatureCache,
    acoustic_x: Extractor | None = None,
    engine=None,
    asr_x: Extractor | None = None,
) -> ClipAudioFeatures:
    """One file's acoustic frames (and, with a recogniser ``engine``, its words), cached.

    Raises :class:`ExtractionError` (one line naming the file) when the file cannot be analysed.
    """
    p = Path(path)
    aco_x = acoustic_x or acoustic_extractor()
    try:
        a = cache.get_or_compute(p, aco_x, _acoustic_arrays)
        words: list = []
        if engine is not None:
            w = cache.get_or_compute(p, asr_x or asr_extractor(engine), lambda q: _asr_arrays(q, engine))
            words = _words_from(w)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExtractionError(
            f"{p}: feature extraction failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from exc
    return ClipAudioFeatures(
        path=p,
        duration=float(a["duration"]),
        acoustic_times=a["times"],
        acoustic_native=a["features"],
        acoustic_names=tuple(str(n) for n in a["names"].tolist()),
        words=words,
    )


def extract_clips(
    paths: Sequence[str | Path],
    cache: FeatureCache | None = None,
    asr_threads: int | None = None,
    text: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[ClipAudioFeatures]:
    """Acoustic frames and (with ``text``) ASR words of each file, from the cache or computed now.

    The recogniser is loaded only when some clip misses the cache.
    """
    cache = cache or FeatureCache()
    aco_x = acoustic_extractor()
    engine = None
    asr_x: Extractor | None = None
    if text:
        from feature_adapters.asr import load_asr

        # the fitted encoder window, as ``livemer file`` decodes a short clip (4x cheaper than 30 s)
        engine = load_asr(threads=asr_threads).with_options(**FILE_MODE_ASR)
        asr_x = asr_extractor(engine)
    out: list[ClipAudioFeatures] = []
    t0 = time.perf_counter()
    for i, p in enumerate(paths):
        out.append(extract_clip(p, cache, aco_x, engine, asr_x))
        if progress is not None:
            progress(i + 1, len(paths))
    log.info(
        "extracted %d clips in %.1f s (cache hits %d, misses %d)",
        len(out),
        time.perf_counter() - t0,
        cache.hits,
        cache.misses,
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recipes.recipe_extract RAVDESS_AUDIO_DIR``: fill the cache (for a background run)."""
    import argparse

    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("audio_dir", type=Path)
    ap.add_argument("--threads", type=int, default=1, help="ASR CPU threads")
    ap.add_argument("--no-text", action="store_true")
    ap.add_argument("--actors", default="", help="comma-separated actor numbers (default: all)")
    args = ap.parse_args(argv)
    files = sorted(args.audio_dir.glob("Actor_*/*.flac"))
    if args.actors:
        keep = {int(a) for a in args.actors.split(",")}
        files = [f for f in files if int(f.stem.split("-")[-1]) in keep]
    bar = tqdm(total=len(files), mininterval=5.0)
    extract_clips(files, asr_threads=args.threads, text=not args.no_text, progress=lambda i, n: bar.update(1))
    bar.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
