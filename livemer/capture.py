"""Capture sources for ``livemer run``: a camera or a video file, a microphone or an audio file.

Each source is a thread that stamps its data with a shared :class:`Clock`
(stream seconds since the session started) and fans it out to subscriber
queues. Queues are bounded; a full queue drops its *oldest* item, so a slow
consumer always sees fresh data and never builds lag.

* :class:`CameraSource` reads ``cv2.VideoCapture(index)``, or plays a video
  file at its own frame rate in real time (frame ``i`` is due at ``i / fps``
  stream seconds; frames that are already late are skipped, as a real camera
  would have overwritten them).
* :class:`MicSource` reads a sounddevice input stream, or plays an audio file
  (or a video's audio track) in real time in 32 ms blocks. Audio always leaves
  the source as 16 kHz mono float32.

:func:`open_camera` / :func:`open_mic` build a source; after ``subscribe``
and ``start()``, ``wait_open()`` returns once the device or file is open, or
raises :class:`CaptureError` with a one-line message (a missing camera index
or microphone device fails within ``OPEN_TIMEOUT`` seconds). Nothing is
delivered until ``begin()``: the pipeline loads its models in between and then
starts the session clock, so a file's time 0 is the clock's time 0. At the end
of a file a source puts :data:`EOS` into every queue and sets ``finished``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LivemerError, first_line
from .loading import import_heavy

log = logging.getLogger(__name__)

SR = 16000
BLOCK = 512  # samples per audio block (32 ms at 16 kHz)
OPEN_TIMEOUT = 1.8  # seconds to wait for a device to open
FILE_OPEN_TIMEOUT = 120.0  # seconds to wait for a file to be opened (and an audio file decoded)
EOS = None  # end-of-stream marker put into subscriber queues


class CaptureError(LivemerError):
    """A camera or microphone that cannot be opened or read; one-line message."""


class Clock:
    """Stream time: seconds since :meth:`reset` on ``time.monotonic()``."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def reset(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def to_monotonic(self, t: float) -> float:
        return self.t0 + t

    def sleep_until(self, t: float, stop: threading.Event) -> bool:
        """Sleep until stream time ``t``; False when ``stop`` was set meanwhile."""
        delay = t - self.now()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


@dataclass
class Frame:
    """One camera frame: BGR uint8 image, stream time ``t`` and ``time.monotonic()`` at capture."""

    image: np.ndarray
    t: float
    captured: float
    index: int


@dataclass
class AudioBlock:
    """16 kHz mono float32 samples; ``t_end`` = stream time just after the last sample."""

    samples: np.ndarray
    t_end: float
    captured: float

    @property
    def t_start(self) -> float:
        return self.t_end - self.samples.size / SR


def put_latest(q: queue.Queue, item) -> int:
    """Put ``item`` into ``q`` without blocking, dropping the oldest items while it is full.

    Returns how many items were dropped.
    """
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                q.get_nowait()
                dropped += 1
            except queue.Empty:
                pass


def put_eos(q: queue.Queue) -> None:
    """Put the end-of-stream marker, dropping the oldest item only if the queue is full."""
    put_latest(q, EOS)


def is_device_index(spec: str) -> bool:
    return spec.strip().lstrip("-").isdigit()


class Source(threading.Thread):
    """A capture thread with subscriber queues, a stop event and an opened/finished handshake."""

    kind = "source"

    def __init__(self, clock: Clock, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.clock = clock
        self.stop_event = threading.Event()
        self.opened = threading.Event()
        self.go = threading.Event()  # set by the pipeline when the session clock starts
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.is_file = False
        self.description = name
        self._subs: list[queue.Queue] = []
        self._lossless: set[int] = set()  # ids of queues that block instead of dropping (unpaced files)
        self.paced = True  # a file plays in real time; False: as fast as the lossless subscribers take it
        self.dropped = 0
        self.delivered = 0

    def subscribe(self, maxsize: int, lossless: bool = False) -> queue.Queue:
        """A new bounded queue that receives every item (oldest dropped when full).

        ``lossless`` (for a file source that is not paced) makes the source wait for room instead.
        """
        q: queue.Queue = queue.Queue(maxsize=max(1, int(maxsize)))
        self._subs.append(q)
        if lossless:
            self._lossless.add(id(q))
        return q

    def _put(self, q: queue.Queue, item) -> None:
        if id(q) in self._lossless and not self.paced:
            while not self.stop_event.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        self.dropped += put_latest(q, item)

    def _publish(self, item) -> None:
        self.delivered += 1
        for q in self._subs:
            self._put(q, item)

    def _end(self) -> None:
        for q in self._subs:
            self._put(q, EOS)
        self.finished.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.go.set()

    def begin(self) -> None:
        """Start delivering (call after the clock was reset)."""
        self.go.set()

    def _wait_go(self) -> bool:
        """Wait for :meth:`begin`; False when stopped first."""
        self.go.wait()
        return not self.stop_event.is_set()

    def run(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def wait_open(self, timeout: float | None = None) -> None:
        """Block until the source is open or failed; raise :class:`CaptureError` on failure or timeout.

        The default timeout is :data:`OPEN_TIMEOUT` for a device and :data:`FILE_OPEN_TIMEOUT` for a file.
        """
        if timeout is None:
            timeout = FILE_OPEN_TIMEOUT if self.is_file else OPEN_TIMEOUT
        if not self.opened.wait(timeout):
            self.stop()
            raise CaptureError(f"{self.description}: did not open within {timeout:.1f} s")
        if self.error is not None:
            raise self.error


# --------------------------------------------------------------------------- camera


def _quiet_opencv():
    """Silence OpenCV's own logging (it prints multi-line warnings for missing cameras)."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except Exception:  # pragma: no cover - older builds  # noqa: BLE001
        pass
    return cv2


class CameraSource(Source):
    """Frames from a camera index or a video file played in real time."""

    kind = "camera"

    def __init__(self, spec: str | int, clock: Clock, loop: bool = False) -> None:
        super().__init__(clock, "camera")
        self.spec = str(spec).strip()
        self.loop = loop
        self.fps = 0.0
        self.size: tuple[int, int] | None = None
        # the frame read when the source opened (a device: the latest read before the stream starts); the
        # session warms its face stage and the overlay on it before the stream (see :meth:`preview`)
        self._preview: np.ndarray | None = None
        if is_device_index(self.spec):
            self.index: int | None = int(self.spec)
            self.path: Path | None = None
            self.description = f"camera {self.index}"
        else:
            self.index = None
            self.path = Path(self.spec).expanduser()
            self.is_file = True
            self.description = f"camera file {self.path}"
            if not self.path.is_file():
                raise CaptureError(f"--camera {self.spec}: no such video file or camera index")

    def _open(self):
        cv2 = _quiet_opencv()
        if self.index is not None:
            if self.index < 0:
                raise CaptureError(f"--camera {self.index}: camera indexes start at 0")
            if os.name == "posix" and Path("/dev").is_dir() and not Path(f"/dev/video{self.index}").exists():
                raise CaptureError(
                    f"--camera {self.index}: no camera with index {self.index} "
                    f"(/dev/video{self.index} does not exist); use a video file or --camera none"
                )
            cap = cv2.VideoCapture(self.index)
        else:
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            what = f"camera index {self.index}" if self.index is not None else f"{self.path}: not a readable video"
            raise CaptureError(f"--camera: cannot open {what}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return cap

    def run(self) -> None:
        try:
            cap = self._open()
        except BaseException as exc:  # noqa: BLE001 - reported to the opener
            self.error = exc if isinstance(exc, CaptureError) else CaptureError(f"{self.description}: {exc}")
            self.opened.set()
            self._end()
            return
        try:
            ok, img = cap.read()
            if not ok or img is None:
                self.error = CaptureError(f"{self.description}: no frame could be read")
                self.opened.set()
                return
            self._preview = img.copy()
            self.opened.set()
            if self.is_file:
                if self._wait_go():
                    self._play_file(cap, img)
            else:
                while not self.go.is_set():  # keep the device running; frames before begin() are dropped
                    ok, img = cap.read()
                    if not ok or img is None:
                        self.error = CaptureError(f"{self.description}: the camera stopped delivering frames")
                        return
                    self._preview = img
                if not self.stop_event.is_set():
                    self._read_device(cap, img)
        except Exception as exc:  # noqa: BLE001
            self.error = CaptureError(f"{self.description}: {type(exc).__name__}: {exc}")
        finally:
            cap.release()
            self._end()

    def preview(self, timeout: float = 5.0) -> np.ndarray | None:
        """A copy of the frame the camera shows before the stream starts (a file: its first frame), waiting
        up to ``timeout`` s for the source to open; None when it failed or has not opened."""
        if not self.opened.wait(timeout) or self.error is not None:
            return None
        img = self._preview
        return None if img is None else img.copy()

    def _read_device(self, cap, img) -> None:
        i = 0
        while not self.stop_event.is_set():
            now = time.monotonic()
            self._publish(Frame(img, self.clock.now(), now, i))
            i += 1
            ok, img = cap.read()
            if not ok or img is None:
                self.error = CaptureError(f"{self.description}: the camera stopped delivering frames")
                return

    def _play_file(self, cap, img) -> None:
        period = 1.0 / self.fps
        i = 0
        offset = 0.0  # stream time of the first frame of the current loop
        while not self.stop_event.is_set():
            due = offset + i / self.fps  # as file mode's reader times frame i (i * period differs by an ulp)
            if self.paced and not self.clock.sleep_until(due, self.stop_event):
                return
            self._publish(Frame(img, due, time.monotonic(), i))
            i += 1
            # skip frames that are already late (a camera would have overwritten them)
            while self.paced and self.clock.now() > offset + (i + 1) * period:
                if not cap.grab():
                    break
                i += 1
            ok, img = cap.read()
            if not ok or img is None:
                if not self.loop:
                    return
                import cv2

                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                offset += i * period
                i = 0
                ok, img = cap.read()
                if not ok:
                    return


# --------------------------------------------------------------------------- microphone


def _device_list(sd) -> str:
    try:
        devs = [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
    except Exception:  # noqa: BLE001
        devs = []
    return "; ".join(devs) if devs else "none found"


class MicSource(Source):
    """16 kHz mono audio from a sounddevice input, or an audio file played in real time."""

    kind = "mic"

    def __init__(self, spec: str | int, clock: Clock, block: int = BLOCK, loop: bool = False) -> None:
        super().__init__(clock, "mic")
        self.spec = str(spec).strip()
        self.block = int(block)
        self.loop = bool(loop)  # an audio file starts again at its end (soak runs); a device ignores it
        p = Path(self.spec).expanduser()
        if p.is_file():
            self.path: Path | None = p
            self.is_file = True
            self.description = f"mic file {p}"
        else:
            self.path = None
            self.description = f"microphone '{self.spec}'"
            if os.sep in self.spec or p.suffix.lower() in (".wav", ".flac", ".mp3", ".ogg", ".mp4", ".m4a"):
                raise CaptureError(f"--mic {self.spec}: no such audio file")
        self.duration = 0.0

    def run(self) -> None:
        if self.is_file:
            self._play_file()
        else:
            self._read_device()

    # file -------------------------------------------------------------------
    def _play_file(self) -> None:
        try:
            from feature_adapters.audio_io import load_audio

            import_heavy("acoustic")  # resampling imports librosa/scipy: not at the same time as other threads
            audio = load_audio(self.path, SR)
        except Exception as exc:  # noqa: BLE001 - AudioDecodeError and friends, one line
            msg = first_line(exc)
            self.error = CaptureError(f"--mic: {msg}")
            self.opened.set()
            self._end()
            return
        self.duration = audio.size / SR
        self.opened.set()
        try:
            if not self._wait_go():
                return
            n = self.block
            offset = 0  # samples played before the current loop
            while True:
                for k in range(0, audio.size, n):
                    chunk = audio[k : k + n]
                    t_end = (offset + k + chunk.size) / SR
                    if self.paced and not self.clock.sleep_until(t_end, self.stop_event):
                        return
                    if self.stop_event.is_set():
                        return
                    self._publish(AudioBlock(np.ascontiguousarray(chunk, np.float32), t_end, time.monotonic()))
                offset += audio.size
                if not self.loop or audio.size == 0:
                    return
        finally:
            self._end()

    # device -----------------------------------------------------------------
    def _resolve_device(self, sd):
        spec = self.spec
        dev = int(spec) if is_device_index(spec) else (None if spec in ("", "default") else spec)
        try:
            info = sd.query_devices(dev, "input")
        except Exception as exc:  # noqa: BLE001 - ValueError/PortAudioError
            first = first_line(exc)
            raise CaptureError(
                f"--mic {spec}: no such input device ({first}); input devices: {_device_list(sd)}"
            ) from None
        return dev, info

    def _read_device(self) -> None:
        try:
            try:
                import sounddevice as sd
            except OSError as exc:  # PortAudio library missing
                raise CaptureError(f"--mic {self.spec}: audio input unavailable ({exc})") from None
            dev, info = self._resolve_device(sd)
            sr = SR
            try:
                sd.check_input_settings(device=dev, channels=1, samplerate=SR, dtype="float32")
            except Exception:  # noqa: BLE001 - the device does not do 16 kHz: resample
                sr = int(info.get("default_samplerate") or 48000)
            block = int(round(self.block * sr / SR))
            try:
                stream = sd.InputStream(device=dev, channels=1, samplerate=sr, dtype="float32", blocksize=block)
                stream.start()
            except Exception as exc:  # noqa: BLE001
                first = first_line(exc)
                raise CaptureError(f"--mic {self.spec}: cannot open the input device ({first})") from None
        except BaseException as exc:  # noqa: BLE001
            self.error = exc if isinstance(exc, CaptureError) else CaptureError(f"{self.description}: {exc}")
            self.opened.set()
            self._end()
            return
        self.description = f"microphone '{info.get('name', self.spec)}'"
        self.opened.set()
        resampler = None
        if sr != SR:
            import soxr

            resampler = soxr.ResampleStream(sr, SR, 1, dtype="float32")
        samples_out = 0
        try:
            while not self.go.is_set():  # keep the stream running; audio before begin() is dropped
                stream.read(block)
            first_t: float | None = None
            while not self.stop_event.is_set():
                data, _overflow = stream.read(block)
                now = time.monotonic()
                x = np.asarray(data, np.float32).reshape(-1)
                if resampler is not None:
                    x = np.asarray(resampler.resample_chunk(x), np.float32)
                if x.size == 0:
                    continue
                if first_t is None:
                    first_t = self.clock.now() - x.size / SR
                samples_out += x.size
                # stream time from the sample count keeps blocks contiguous; re-anchor if we drift (overflow)
                t_end = first_t + samples_out / SR
                drift = self.clock.now() - t_end
                if abs(drift) > 0.25:
                    first_t += drift
                    t_end += drift
                self._publish(AudioBlock(x, t_end, now))
        except Exception as exc:  # noqa: BLE001
            self.error = CaptureError(f"{self.description}: {type(exc).__name__}: {exc}")
        finally:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001
                pass
            self._end()


def open_camera(spec: str | int | None, clock: Clock, loop: bool = False, paced: bool = True) -> CameraSource | None:
    """A camera source for ``spec`` (None for ``none``); subscribe, then ``start()`` and ``wait_open()``.

    Raises :class:`CaptureError` at once for a path that is not a file. ``paced=False``: a file is
    delivered as fast as its lossless subscribers take it (a device is always real time).
    """
    if spec is None or str(spec).strip().lower() in ("none", "off", ""):
        return None
    src = CameraSource(spec, clock, loop=loop)
    src.paced = paced or not src.is_file
    return src


def open_mic(spec: str | int | None, clock: Clock, paced: bool = True, loop: bool = False) -> MicSource | None:
    """A mic source (None for ``none``); call ``start()`` then ``wait_open()``. ``paced`` and ``loop`` (an
    audio file starts again at its end) as for the camera."""
    if spec is None or str(spec).strip().lower() in ("none", "off"):
        return None
    src = MicSource(spec, clock, loop=loop)
    src.paced = paced or not src.is_file
    return src
