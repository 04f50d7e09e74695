"""What ``livemer file`` writes for each input, every file written atomically (temp file + rename).

* ``<stem>.csv`` — one row per window (see :func:`result_table` for the columns);
* ``<stem>.json`` — summary: per-emotion mean, max and seconds above 0.5, the
  settings, the checkpoint and its provenance, library versions;
* ``<stem>.annotated.mp4`` — the overlay burned into every frame, original audio
  kept (H.264 + AAC through an ffmpeg pipe);
* ``<stem>.timeline.png`` — emotion probabilities over time, transcript marked;
* ``index.csv`` — one summary row per input (:func:`index_row`, :func:`write_index`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LivemerError

MODALITIES = ("text", "acoustic", "visual")
INDEX_NAME = "index.csv"
#: Frame rate of the annotated video of an audio-only input (a canvas with the overlay).
AUDIO_ONLY_FPS = 10
AUDIO_ONLY_SIZE = (640, 360)


#: Text and voice are the scene's (one camera, one microphone), not any one face's.
SCENE_NOTE = (
    "text and voice belong to the scene, not to a face: words, voice and the text_* and acoustic_* scores "
    "are the same on every face's rows; face_id, face_present, visual_* and the fused p_* are the face's own"
)


class OutputError(LivemerError):
    """An output file could not be written; one line naming the file."""


@dataclass(frozen=True)
class OutputPaths:
    csv: Path
    json: Path
    video: Path
    timeline: Path

    def as_dict(self) -> dict[str, str]:
        return {"csv": str(self.csv), "json": str(self.json), "video": str(self.video), "timeline": str(self.timeline)}


def output_paths(out_dir: str | os.PathLike, stem: str) -> OutputPaths:
    d = Path(out_dir)
    return OutputPaths(d / f"{stem}.csv", d / f"{stem}.json", d / f"{stem}.annotated.mp4", d / f"{stem}.timeline.png")


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """An output stem per input: the file's stem, suffixed ``-2``, ``-3``... on clashes (pure).

    ``index`` is reserved for ``index.csv``.
    """
    taken = {"index"}
    out = []
    for p in paths:
        base = Path(p).stem or "input"
        stem, k = base, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem.lower())
        out.append(stem)
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{path}: nothing was written")
        os.replace(tmp, path)
    except PermissionError:
        raise OutputError(f"{path}: permission denied") from None
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


def check_writable(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and prove a file can be written there, else :class:`OutputError`."""
    d = Path(out_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"--out {d}: exists and is not a folder") from None
    except OSError as exc:
        raise OutputError(f"--out {d}: cannot create the folder ({exc.strerror or type(exc).__name__})") from None
    if not d.is_dir():
        raise OutputError(f"--out {d}: exists and is not a folder")
    probe_file = d / f".livemer-write-test.{os.getpid()}"
    try:
        with open(probe_file, "wb") as fh:
            fh.write(b"ok")
    except OSError as exc:
        raise OutputError(f"--out {d}: not writable ({exc.strerror or type(exc).__name__})") from None
    finally:
        with contextlib.suppress(OSError):
            probe_file.unlink()
    return d


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    """NaN/inf -> None, numpy -> Python, Paths -> str, recursively."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _finite(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def versions() -> dict[str, str | None]:
    """Versions of livemer, Python and the libraries the results depend on (no heavy imports; read once per
    process: the package metadata cost 35 ms an input)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str | None]:
    from importlib import metadata

    from . import __version__

    out: dict[str, str | None] = {"livemer": __version__, "python": sys.version.split()[0]}
    for dist in (
        "torch",
        "mediapipe",
        "faster-whisper",
        "ctranslate2",
        "py-feat",
        "opencv-python",
        "numpy",
        "librosa",
        "gensim",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --------------------------------------------------------------------------- CSV


def result_columns(emotions: Sequence[str]) -> list[str]:
    """The per-window CSV columns for ``emotions`` (pure)."""
    cols = ["start", "end", "words", "new_words", "face_present", "voice_present", "voice", "modalities_used"]
    cols += [f"p_{e}" for e in emotions]
    cols += [f"{m}_{e}" for m in MODALITIES for e in emotions]
    return cols


def result_table(result):
    """A pandas DataFrame with one row per window.

    ``start``: start of the first real step in the window (empty when the
    window is empty); ``end``: the time the window ends at (its result time);
    ``words``: the words in the window; ``new_words``: words that ended since
    the previous row; ``face_present``/``voice_present``: 0/1; ``voice``:
    ``speech``, or why there is no voice (``no speech (silence)``, ``no speech
    detected (...)``; empty without audio);
    ``modalities_used``: letters such as ``tav``; ``p_<emotion>``: the model's
    probability (empty when no modality was observed); ``<modality>_<emotion>``:
    that modality's raw score (empty when the modality was not used).

    With several faces tracked (``--max-faces`` above 1), a ``face_id`` column
    comes first and each window has one row per face present (ids in order
    of first appearance), sorted by ``end`` then ``face_id``; a window with
    no face has one row with an empty ``face_id``. ``face_present``,
    ``modalities_used``, ``visual_*`` and ``p_*`` are the face's own (its
    visual scores fused with the scene's); ``words``, ``new_words``,
    ``voice_present``, ``voice``, ``text_*`` and ``acoustic_*`` belong to the
    scene and repeat on every face's row (:data:`livemer.table.SCENE_COLUMNS`).
    """
    import pandas as pd

    n = result.n
    data: dict[str, Any] = {
        "start": np.round(result.window_start, 4),
        "end": np.round(result.times, 4),
        "words": list(result.words),
        "new_words": list(result.new_words),
        "face_present": result.face_present.astype(int),
        "voice_present": result.voice_present.astype(int),
        "voice": list(result.voice) if len(result.voice) == n else [""] * n,
        "modalities_used": list(result.modalities_used),
    }
    for k, e in enumerate(result.emotions):
        data[f"p_{e}"] = result.probabilities[:, k]
    for m in MODALITIES:
        arr = result.modality_scores.get(m)
        for k, e in enumerate(result.emotions):
            data[f"{m}_{e}"] = arr[:, k] if arr is not None else np.full(n, np.nan)
    scene = pd.DataFrame(data, columns=result_columns(result.emotions))
    if not getattr(result, "tracks_faces", False):
        return scene
    return _face_rows_table(result, scene)


def _face_rows_table(result, scene):
    """The scene's rows -> one row per window and face present (see :func:`result_table`)."""
    import pandas as pd

    parts = []
    covered = np.zeros(result.n, dtype=bool)
    for fr in result.face_rows:
        df = scene.iloc[fr.index].copy()
        df["face_present"] = 1
        df["modalities_used"] = list(fr.modalities_used)
        for k, e in enumerate(result.emotions):
            df[f"p_{e}"] = fr.probabilities[:, k]
            df[f"visual_{e}"] = fr.visual_scores[:, k]
        df.insert(0, "face_id", pd.array([fr.face_id] * fr.n, dtype="Int64"))
        covered[fr.index] = True
        parts.append(df)
    rest = scene[~covered].copy()
    rest.insert(0, "face_id", pd.array([None] * len(rest), dtype="Int64"))
    parts.append(rest)
    out = pd.concat(parts) if parts else rest
    out["_row"] = out.index
    out = out.sort_values(["_row", "face_id"], kind="stable", na_position="last")
    return out.drop(columns="_row").reset_index(drop=True)


def write_csv(result, path: str | os.PathLike) -> Path:
    df = result_table(result)
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path


# --------------------------------------------------------------------------- JSON


def result_summary(
    result, *, engine=None, outputs: OutputPaths | None = None, extra_settings: dict | None = None
) -> dict[str, Any]:
    """The ``<stem>.json`` document (JSON-safe)."""
    info = result.info
    settings = dict(engine.describe()) if engine is not None else {}
    settings.update(result.settings)
    if extra_settings:
        settings.update(extra_settings)
    ck: dict[str, Any] = {}
    if engine is not None:
        c = engine.checkpoint
        prov = dict(c.provenance or {})
        ck = {
            "path": str(c.path) if c.path else None,
            "embedding_space": c.embedding_space,
            "emotion_words": list(c.emotion_words),
            "provenance": prov,
        }
    from .faces import face_summaries

    top = result.top_emotion()
    face = result.face
    return _jsonable(
        {
            "input": str(result.path),
            "duration": result.duration,
            "media": {
                "has_video": info.has_video,
                "has_audio": info.has_audio,
                "fps": info.fps,
                "width": info.width,
                "height": info.height,
                "video_codec": info.video_codec,
                "audio_codec": info.audio_codec,
                "sample_rate": info.sample_rate,
            },
            "modalities": {
                "requested": "".join(m[0] for m in result.modalities_requested),
                "present": "".join(m[0] for m in result.modalities_present),
                "masked": dict(result.masked),
            },
            "notices": list(result.notices),
            "scene": {
                "note": SCENE_NOTE,
                "scene_columns": ["words", "new_words", "voice_present", "voice", "text_*", "acoustic_*"],
            },
            "emotions": list(result.emotions),
            "user_added": list(result.user_added),
            "windows": result.n,
            "hop": result.hop,
            "summary": result.summary(),
            "top_emotion": {"emotion": top[0], "mean": top[1]} if top else None,
            "transcript": result.transcript_text,
            "words": [
                {"word": w.word.strip(), "start": w.start, "end": w.end, "probability": getattr(w, "probability", None)}
                for w in result.transcript
            ],
            "face": None
            if face is None
            else {
                "backend": face.backend,
                "frames_analysed": int(len(face.times)),
                "frames_decoded": face.frames_decoded,
                "face_fraction": face.face_fraction,
                "tracked": face.tracked is not None,
            },
            "faces": face_summaries(result),
            "settings": settings,
            "checkpoint": ck,
            "versions": versions(),
            "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
            "outputs": outputs.as_dict() if outputs is not None else {},
        }
    )


def write_json(doc: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, allow_nan=False)
            fh.write("\n")
    return path


# --------------------------------------------------------------------------- timeline PNG


def write_timeline(result, path: str | os.PathLike) -> Path:
    """Probabilities over time (one line per emotion), transcript words and face/voice presence."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(12, 5.2), dpi=100)
    gs = fig.add_gridspec(2, 1, height_ratios=[4, 1.2], hspace=0.08)
    ax = fig.add_subplot(gs[0])
    axw = fig.add_subplot(gs[1], sharex=ax)
    t = result.times
    dur = max(result.duration, float(t[-1]) if len(t) else 0.0, 1e-3)
    colours = matplotlib.colormaps["tab10"]
    for k, e in enumerate(result.emotions):
        label = f"+{e}" if e in result.user_added else e
        ax.plot(
            t,
            result.probabilities[:, k],
            lw=1.6,
            color=colours(k % 10),
            label=label,
            ls="--" if e in result.user_added else "-",
        )
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, dur)
    ax.set_ylabel("probability")
    title = f"{result.path.name} — modalities {''.join(m[0] for m in result.modalities_present) or 'none'}"
    if result.masked:
        title += " (masked: " + ", ".join(f"{m}: {why}" for m, why in result.masked.items()) + ")"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    ax.tick_params(labelbottom=False)
    # presence bands and words
    hop = result.hop
    for y, present, colour, name in (
        (0.82, result.face_present, "tab:green", "face"),
        (0.62, result.voice_present, "tab:orange", "voice"),
    ):
        if len(t):
            lo = np.maximum(np.concatenate([[0.0], t[:-1]]), t - hop)
            spans = [(float(a), float(b - a)) for a, b, p in zip(lo, t, present) if p]
            if spans:
                axw.broken_barh(spans, (y - 0.07, 0.14), color=colour, alpha=0.6, lw=0)
        axw.text(-0.005 * dur, y, name, ha="right", va="center", fontsize=7, transform=axw.transData)
    lanes = (0.38, 0.18)
    for i, w in enumerate(result.transcript):
        x = 0.5 * (float(w.start) + float(w.end))
        axw.axvline(float(w.start), color="0.85", lw=0.6, zorder=0)
        axw.text(x, lanes[i % 2], w.word.strip(), ha="center", va="center", fontsize=7, rotation=0, clip_on=True)
    if not result.transcript:
        axw.text(
            0.5 * dur,
            0.28,
            "no transcript" if "text" not in result.masked else f"no transcript ({result.masked['text']})",
            ha="center",
            va="center",
            fontsize=8,
            color="0.5",
        )
    axw.set_ylim(0, 1)
    axw.set_yticks([])
    axw.set_xlabel("time (s)")
    fig.subplots_adjust(left=0.06, right=0.86, top=0.93, bottom=0.11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", pil_kwargs={"compress_level": 1})
    return path


# --------------------------------------------------------------------------- annotated video


def smoothed_series(probs: np.ndarray, times: np.ndarray, tau: float, names: Sequence[str] | None = None) -> np.ndarray:
    """The rows smoothed over time exactly as the live overlay smooths them (:class:`livemer.engine.Smoother`)."""
    from .engine import Smoother

    probs = np.asarray(probs, dtype=np.float64)
    names = list(names) if names is not None else [str(k) for k in range(probs.shape[1] if probs.ndim == 2 else 0)]
    sm = Smoother(tau)
    out = np.full_like(probs, np.nan)
    for i in range(len(times)):
        out[i] = sm.update(names, probs[i], float(times[i]))
    return out


class _OverlayTimeline:
    """Looks up, for any frame time, what the overlay shows (latest result, face, transcript)."""

    def __init__(self, result, tau: float | None = None):
        self.r = result
        if tau is None and getattr(result, "smoothed", None) is not None:
            self.smoothed = result.smoothed  # smoothed by the session, as live smooths
        else:
            self.smoothed = smoothed_series(
                result.probabilities, result.times, 1.0 if tau is None else tau, result.emotions
            )
        self.word_ends = np.array([float(w.end) for w in result.transcript], dtype=np.float64)
        self.face = result.face
        self.face_hold = 1.0
        # tracked faces: window index -> {face id: top emotion}, smoothed as the bars are, for the box labels
        self.face_tops: dict[int, dict[int, tuple[str, float]]] = {}
        for fr in getattr(result, "face_rows", ()):
            sm = smoothed_series(fr.probabilities, result.times[fr.index], 1.0 if tau is None else tau, result.emotions)
            for r, i in enumerate(fr.index):
                p = sm[r]
                if np.isfinite(p).any():
                    k = int(np.nanargmax(p))
                    self.face_tops.setdefault(int(i), {})[fr.face_id] = (result.emotions[k], float(p[k]))

    def state(self, t: float, camera_on: bool = True):
        from .overlay import OverlayState

        r = self.r
        i = int(np.searchsorted(r.times, t + 1e-9, "right")) - 1
        st = OverlayState(
            emotions=list(r.emotions),
            user_added=set(r.user_added),
            modalities_requested=tuple(r.modalities_requested),
            camera_on=camera_on,
            mic_on=r.info.has_audio,
            message=None if camera_on else "audio only (no video stream)",
        )
        if i >= 0:
            st.probabilities = self.smoothed[i]
            st.contributions = {m: v[i] for m, v in r.contributions.items() if np.isfinite(v[i]).any()}
            st.modalities_used = tuple(m for m in MODALITIES if m[0] in r.modalities_used[i])
            st.voice_present = bool(r.voice_present[i]) if r.info.has_audio else None
            st.voice_reason = r.voice[i] if i < len(r.voice) and r.voice[i] != "speech" else None
            st.face_present = bool(r.face_present[i]) if camera_on else None
        else:
            st.probabilities = np.full(len(r.emotions), np.nan)
        nw = int(np.searchsorted(self.word_ends, t + 1e-9, "right"))
        st.transcript = " ".join(w.word.strip() for w in r.transcript[:nw])
        if camera_on and self.face is not None and len(self.face.times):
            j = self.face.index_at(t)
            if j is not None and t - self.face.times[j] <= self.face_hold:
                fr = self.face.results[j]
                if fr.face_found:
                    st.face_box = self._box_at(j, t)
                    st.other_boxes = [o.box for o in getattr(fr, "others", ()) if o.box is not None]
                    if self.face.tracked is not None:
                        self._track_boxes(st, i, j, t)
                    st.aus = dict(fr.aus)
                    st.face_present = True
                else:
                    st.face_present = False
        return st

    def _track_boxes(self, st, i: int, j: int, t: float) -> None:
        """Sample ``j``'s tracked faces: every box moved towards the same id's next box, and its label
        (``#id`` and, where the face has a row at window ``i``, its top emotion)."""
        tr = self.face.tracked
        ids = tr.ids[j]
        if not ids:
            return
        boxes, labels = [], []
        tops = self.face_tops.get(i, {})
        for fid in ids:
            box = tr.box(j, fid)
            if j + 1 < len(tr.ids):
                box = self._towards(box, tr.box(j + 1, fid), j, t)
            boxes.append(box)
            top = tops.get(fid)
            labels.append(f"#{fid} {top[0]} {top[1]:.2f}" if top else f"#{fid}")
        st.face_box, st.other_boxes, st.face_labels = boxes[0], boxes[1:], labels

    def _towards(self, box, nxt, j: int, t: float):
        """``box`` (sample ``j``'s) moved linearly towards ``nxt`` (sample ``j + 1``'s) at time ``t``."""
        f = self.face
        if box is None or nxt is None:
            return box
        t0, t1 = float(f.times[j]), float(f.times[j + 1])
        if t1 - t0 > self.face_hold or t1 <= t0:
            return box
        a = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        return tuple(float(b0 + a * (b1 - b0)) for b0, b1 in zip(box, nxt))

    def _box_at(self, j: int, t: float):
        """The face box at ``t``: sample ``j``'s, moved linearly towards the next sample's when both have a face.

        Faces are analysed at a few frames per second; interpolating keeps the
        drawn box on the face in every frame in between.
        """
        f = self.face
        box = f.results[j].box
        if box is None or j + 1 >= len(f.times) or not f.results[j + 1].face_found:
            return box
        return self._towards(box, f.results[j + 1].box, j, t)


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise OutputError("ffmpeg is not installed (needed for the annotated video; use --no-video to skip it)")
    return exe


def _encoder_args() -> list[str]:
    # superfast: half the CPU of veryfast for ~1.7x the size (about 3.5 MB a minute at 640x360)
    return ["-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-pix_fmt", "yuv420p"]


def write_annotated_video(result, path: str | os.PathLike, tau: float | None = None, progress=None) -> Path:
    """Burn the overlay into every frame and mux the original audio (ffmpeg pipe, H.264/AAC).

    The bars show ``result.smoothed`` (the session's smoothing); a ``tau`` re-smooths the raw rows.

    A video input keeps its frame rate, size and frame count. An audio-only
    input gets a dark canvas at :data:`AUDIO_ONLY_FPS` with the overlay.
    ``progress(seconds)`` receives increments of media time written.
    """
    from .media import VideoReader
    from .overlay import blank_canvas, render

    info = result.info
    path = Path(path)
    tl = _OverlayTimeline(result, tau)
    if info.has_video:
        w, h = int(info.width), int(info.height)
        rate = info.frame_rate or f"{info.fps or 25.0:.6f}"
        fps = float(info.fps or 25.0)
    else:
        w, h = AUDIO_ONLY_SIZE
        rate, fps = str(AUDIO_ONLY_FPS), float(AUDIO_ONLY_FPS)
    with atomic_path(path) as tmp:
        cmd = [
            _ffmpeg(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{w}x{h}",
            "-r",
            rate,
            "-i",
            "pipe:0",
        ]
        if info.has_audio:
            cmd += ["-i", str(info.path), "-map", "0:v:0", "-map", "1:a:0"]
            cmd += ["-c:a", "copy"] if info.audio_codec in ("aac",) else ["-c:a", "aac", "-b:a", "128k"]
        else:
            cmd += ["-map", "0:v:0"]
        cmd += _encoder_args() + ["-movflags", "+faststart", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        n_written = 0
        reported = 0.0
        try:
            if info.has_video:
                with VideoReader(info) as reader:
                    for _i, t, frame in reader.frames():
                        if frame.shape[1] != w or frame.shape[0] != h:
                            import cv2

                            frame = cv2.resize(frame, (w, h))
                        render(frame, tl.state(t))
                        proc.stdin.write(frame.tobytes())
                        n_written += 1
                        if progress is not None and t - reported >= 1.0:
                            progress(t - reported)
                            reported = t
            else:
                n = max(1, int(math.ceil(result.duration * fps - 1e-6)))
                base = blank_canvas(w, h)
                for k in range(n):
                    t = k / fps
                    frame = base.copy()
                    render(frame, tl.state(t, camera_on=False))
                    proc.stdin.write(frame.tobytes())
                    n_written += 1
                    if progress is not None and t - reported >= 1.0:
                        progress(t - reported)
                        reported = t
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read().decode("utf-8", "replace")
        rc = proc.wait()
        if rc != 0 or n_written == 0:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            raise OutputError(
                f"{path}: ffmpeg could not write the annotated video ({lines[-1] if lines else f'exit {rc}'})"
            )
    if progress is not None:
        progress(max(0.0, result.duration - reported))
    return path


# --------------------------------------------------------------------------- index.csv


def index_columns(emotions: Sequence[str]) -> list[str]:
    return (
        [
            "input",
            "status",
            "message",
            "duration",
            "has_video",
            "has_audio",
            "modalities",
            "masked",
            "windows",
            "top_emotion",
            "top_mean",
        ]
        + [f"mean_{e}" for e in emotions]
        + ["csv", "json"]
    )


def index_row(
    input_path: str | os.PathLike, result=None, error: str | None = None, outputs: OutputPaths | None = None
) -> dict[str, Any]:
    """One ``index.csv`` row: a finished result, or an error message."""
    row: dict[str, Any] = {"input": str(input_path)}
    if result is None:
        row.update(status="error", message=error or "failed")
        return row
    top = result.top_emotion()
    row.update(
        status="ok",
        message="; ".join(result.notices),
        duration=round(result.duration, 3),
        has_video=int(result.info.has_video),
        has_audio=int(result.info.has_audio),
        modalities="".join(m[0] for m in result.modalities_present),
        masked="; ".join(f"{m}: {why}" for m, why in result.masked.items()),
        windows=result.n,
        top_emotion=top[0] if top else "",
        top_mean=top[1] if top else None,
    )
    for e, s in result.summary().items():
        row[f"mean_{e}"] = s["mean"]
    if outputs is not None:
        row["csv"] = outputs.csv.name
        row["json"] = outputs.json.name
    return row


def write_index(rows: Sequence[dict], emotions: Sequence[str], path: str | os.PathLike) -> Path:
    import pandas as pd

    cols = index_columns(emotions)
    extra = [k for r in rows for k in r if k not in cols]
    cols += list(dict.fromkeys(extra))
    df = pd.DataFrame(list(rows), columns=cols)
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path
