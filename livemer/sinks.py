"""Live output sinks: ``--jsonl`` (one JSON object per result) and ``--record`` (the rendered video).

Both are safe to call from any thread and finalise on :meth:`close`; the video is
written to a temporary sibling and renamed into place, so a crash never leaves
a half-written file under the requested name.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import LivemerError


def _atomic_partial(path: Path) -> Path:
    """A temporary sibling of ``path`` that keeps its suffix (OpenCV picks the container from it)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


class Recorder:
    """``--record``: the rendered frames into a video, written to a temporary file and renamed on close."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.parent.exists():
            raise LivemerError(f"--record {self.path}: folder {self.path.parent} does not exist")
        self.tmp = _atomic_partial(self.path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.size = size
        fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
        self._w = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, size)
        if not self._w.isOpened():
            self._w.release()
            self.tmp.unlink(missing_ok=True)
            raise LivemerError(f"--record {self.path}: cannot write a video there (use .mp4 or .avi)")
        self.frames = 0
        self._t0: float | None = None
        self._lock = threading.Lock()
        self.closed = False

    def write(self, frame: np.ndarray, t: float) -> None:
        """Write ``frame`` shown at stream time ``t``; repeats it to keep a constant frame rate."""
        import cv2

        with self._lock:
            if self.closed:
                return
            if frame.shape[1] != self.size[0] or frame.shape[0] != self.size[1]:
                frame = cv2.resize(frame, self.size)
            if self._t0 is None:
                self._t0 = t
            target = int(round((t - self._t0) * self.fps)) + 1
            n = min(target - self.frames, int(self.fps))  # never more than 1 s of repeats
            if n <= 0:
                return  # rendering ran ahead of the video's frame rate: skip this frame
            for _ in range(n):
                self._w.write(frame)
            self.frames += n

    def close(self) -> Path | None:
        with self._lock:
            if self.closed:
                return None
            self.closed = True
            self._w.release()
            if self.frames == 0:
                self.tmp.unlink(missing_ok=True)
                return None
            os.replace(self.tmp, self.path)
            return self.path


class JsonlSink:
    """One JSON object per line, flushed after each line (stdout or a file), closed on exit."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        if self.path is None:
            self._fh: IO[str] = sys.stdout
        else:
            try:
                self._fh = open(self.path, "w", encoding="utf-8", buffering=1)
            except OSError as exc:
                raise LivemerError(f"--jsonl {self.path}: cannot write ({exc.strerror})") from None
        self._lock = threading.Lock()
        self.lines = 0
        self.closed = False

    def write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        with self._lock:
            if self.closed:
                return
            try:
                self._fh.write(line + "\n")
                self._fh.flush()
                self.lines += 1
            except BrokenPipeError:
                self.closed = True

    def close(self) -> None:
        with self._lock:
            if self.closed and self.path is None:
                return
            self.closed = True
            try:
                self._fh.flush()
            except (OSError, ValueError):
                pass
            if self.path is not None:
                self._fh.close()
