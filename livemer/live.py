"""The live pipeline of ``livemer run``: capture threads, feature workers, inference, rendering.

Threads (all daemon, all watching one stop event)::

    camera ──frames──> face worker ──Facet-35 rows──┐
       └──────frames──> main thread (render / record)│
    mic ──blocks──> acoustic worker ──COVAREP-74────>├─> StreamingAligner ─> inference (>= 5 Hz)
       └──blocks──> ASR worker ──timed words──>──────┘                          │
                                                        results ──> main thread (overlay / JSONL)

Every queue is bounded and drops its oldest item when full, so a slow stage
skips stale data instead of building lag. Modalities are masked from the data:
no face -> no valid visual frame, silence -> no voiced acoustic frame, no
words -> no text step.

When every input is a file, the run ends once all of them are exhausted and
the workers have drained (acoustic and ASR flushed), with one final inference.
``stop()`` (Ctrl-C, ``q``, ``--duration``) ends it at any time; every thread is
joined within a second (a Whisper decode in progress cannot be interrupted: that
daemon thread is left to finish on its own) and the ``--record`` video and
``--jsonl`` file are finalised either way.

Loading: :meth:`LivePipeline.preload` loads the face backend, the recogniser
and the voice analysis in background threads while the engine loads; the clock
starts once the face backend is ready, audio waits in its queues until its
workers are.

A result's ``fps`` is the rate of frames the face worker analyses (what the
visual modality sees); the overlay shows the rendering rate.
"""
from __future__ import annotations

import json
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np

from .capture import EOS, AudioBlock, CameraSource, CaptureError, Clock, Frame, MicSource, open_camera, open_mic
from .engine import Engine, InferenceResult
from .errors import LivemerError, first_line
from .loading import import_heavy, schedule_imports
from .overlay import OverlayState, blank_canvas, render, state_from_result

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 1.0  # seconds for all threads together
_HISTORY = 100_000  # entries kept per statistic


@dataclass
class LiveOptions:
    camera: str | None = "0"  # index, video path, or None
    mic: str | None = None  # device, audio path, or None
    headless: bool = False
    jsonl: str | Path | None = None  # None + headless: JSON lines go to stdout
    record: str | Path | None = None
    duration: float | None = None  # seconds of stream time, then stop
    infer_hz: float = 8.0
    loop_camera: bool = False
    face_max_width: int = 640  # frames wider than this are downscaled for the face backend
    # face analyses per second at most: on 2 cores every camera frame (30/s) would take the CPU the
    # overlay and speech recognition need; 15/s still gives each 0.2 s step 3 face frames
    face_hz: float = 15.0
    asr_interval: float = 0.6  # seconds of new audio between ASR decodes
    asr_beam_size: int | None = 1  # greedy decoding live (each decode re-reads the buffer); None: the model's
    asr_threads: int | None = 1  # CPU threads of the live recogniser (None: its default)
    asr_endpoint_s: float = 0.8  # unvoiced seconds after speech that end an utterance (its words commit)
    asr_trim_s: float = 8.0  # live ASR buffer trimming (bounds the cost of each decode)
    asr_max_buffer_s: float = 12.0
    canvas_size: tuple[int, int] = (640, 360)  # (w, h) of the overlay when there is no camera
    window_title: str = "livemer"
    render: bool | None = None  # draw overlays; default: when a window or --record needs them
    offscreen: Callable[[np.ndarray], None] | None = None  # receives each rendered frame (benchmarks)


@dataclass
class LiveStats:
    """What happened during a run (for the exit summary and benchmarks)."""

    started: float = 0.0  # time.monotonic() when run() began
    first_result: float | None = None
    first_render: float | None = None
    results: int = 0
    rendered: int = 0
    frames_analysed: int = 0
    faces_found: int = 0
    # bounded histories (a long session keeps the most recent ones)
    latencies: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))  # capture -> result, seconds
    transcript_latencies: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))  # word end -> commit, s
    # word end -> the word first on screen (in the caption's pending hypothesis or committed), s
    caption_latencies: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))
    render_times: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))  # monotonic time of each render
    infer_times: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))
    overlay_ms: deque = field(default_factory=lambda: deque(maxlen=_HISTORY))
    max_stall: float = 0.0  # longest gap between two rendered frames, seconds
    final_result: bool = False  # a final result was given after the inputs ended
    words: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used per thread (workers, inference, render)
    stop_requested: float | None = None  # time.monotonic() of the first stop()
    joined: float | None = None  # when every thread had ended (or the join timed out)

    def render_fps(self) -> float:
        t = self.render_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0

    def infer_hz(self) -> float:
        """Results per second while the inputs ran (the final result after the inputs ended is left out)."""
        t = list(self.infer_times)[:-1] if self.final_result else list(self.infer_times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0

    def longest_stall(self) -> float:
        return self.max_stall


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, span: float = 1.0) -> None:
        self.span = span
        self._t: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._t.append(now)
        while self._t and self._t[0] < now - self.span:
            self._t.popleft()

    def value(self) -> float:
        if len(self._t) < 2:
            return 0.0
        dt = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / dt if dt > 0 else 0.0


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


def to_word_inputs(tokens) -> list:
    """Text steps (``TextToken``) -> aligner words (OOV tokens keep their step, without a vector)."""
    from feature_adapters.align import WordInput

    return [WordInput(t.token, t.start, t.end, None if t.oov else t.vector, bool(t.oov)) for t in tokens]


def _load_face(kind: str):
    import_heavy("face")
    from feature_adapters.face import make_face_backend

    return make_face_backend(kind)


def warm_asr(asr) -> None:
    """Run the recogniser once on a short noise burst (VAD and decoder sessions initialise lazily,
    which would otherwise stall the first live decode for seconds)."""
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    try:
        asr.transcribe(noise)  # loads the VAD
        model = getattr(asr, "model", None)
        if model is not None:  # and one decoder pass without the VAD
            segments, _ = model.transcribe(noise, language="en", beam_size=1, vad_filter=False,
                                           without_timestamps=True)
            list(segments)
    except Exception as exc:  # noqa: BLE001 - warming up is best effort
        log.debug("ASR warm-up failed: %s", exc)


class LivePipeline:
    """Runs the capture, feature and inference threads; :meth:`run` renders in the calling thread."""

    def __init__(self, options: LiveOptions, engine: Engine | None = None) -> None:
        self.engine = engine
        self.opt = options
        self.clock = Clock()
        self.stop_event = threading.Event()
        self.inputs_done = threading.Event()
        self.stats = LiveStats()
        self.camera: CameraSource | None = None
        self.mic: MicSource | None = None
        self.aligner = None  # built by start() from the engine's dimensions
        self._components: dict[str, Any] = {}
        self._loaders: dict[str, threading.Thread] = {}
        self._item_errors: dict[str, int] = {}
        self._asr_busy = False  # inside a Whisper decode (native code that cannot be interrupted)
        self._caption_until = -math.inf  # stream time up to which words have been shown in the caption
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._workers_done: dict[str, threading.Event] = {}
        self._results: queue.Queue = queue.Queue(maxsize=64)
        self.latest_result: InferenceResult | None = None
        self.latest_face = None  # FaceResult of the freshest analysed frame
        self._face_box_scale = 1.0
        self._visual_fresh: tuple[float, float] | None = None  # (stream t, monotonic capture) last added
        self._audio_fresh: tuple[float, float] | None = None
        self._last_acoustic_t = -math.inf
        self._last_voiced_t = -math.inf
        self._face_present: bool | None = None
        self._committed_text = ""
        self._pending_text = ""
        self._face_rate = _Rate()
        self._render_rate = _Rate()
        self.notices: list[str] = []
        self.jsonl: JsonlSink | None = None
        self.recorder: Recorder | None = None
        self.prompt: str | None = None
        self.prompt_label = "add emotion"
        self.status_fn: Callable[[], str | None] | None = None  # a running teaching/calibration (teach_live)
        self.message: str | None = None
        self._message_until = 0.0
        self._final_done = threading.Event()

    # ------------------------------------------------------------------ setup
    def open_inputs(self, wait_files: bool = True) -> None:
        """Create and start the sources; raises :class:`CaptureError` (within ~2 s) when a device cannot open.

        With ``wait_files=False`` a file source (which may take a while to decode) is only checked to
        exist here; :meth:`wait_files` waits for it (and :meth:`start` does too).
        """
        self.camera = open_camera(self.opt.camera, self.clock, loop=self.opt.loop_camera)
        self.mic = open_mic(self.opt.mic, self.clock)
        if self.camera is None and self.mic is None:
            raise LivemerError("both --camera and --mic are none: nothing to analyse")
        self._frames_face = self.camera.subscribe(1) if self.camera else None
        self._frames_show = self.camera.subscribe(2) if self.camera else None
        self._blocks_acoustic = self.mic.subscribe(320) if self.mic else None  # ~10 s of 32 ms blocks
        self._blocks_asr = self.mic.subscribe(940) if self.mic else None  # ~30 s: more than the ASR buffer
        for src in (self.camera, self.mic):
            if src is not None:
                src.start()
        deadline = time.monotonic() + 1.9  # devices: a clear error within 2 s
        try:
            for src in (self.camera, self.mic):
                if src is not None and not src.is_file:
                    src.wait_open(max(0.05, deadline - time.monotonic()))
        except CaptureError:
            self.stop()
            raise
        if wait_files:
            self.wait_files()

    def wait_files(self) -> None:
        """Wait until the file sources are open (an audio file decoded); :class:`CaptureError` if one fails."""
        try:
            for src in (self.camera, self.mic):
                if src is not None and src.is_file:
                    src.wait_open()
        except CaptureError:
            self.stop()
            raise

    def attach(self, engine: Engine) -> None:
        self.engine = engine

    def preload(self, config) -> None:
        """Start loading the face backend, the recogniser and the acoustic kernels in background threads.

        None of them needs the model, so they load while the engine (torch,
        checkpoint, word vectors) loads; :meth:`prepare` waits for them.
        ``config`` is the :class:`livemer.engine.EngineConfig` the engine gets.
        """
        if self._loaders:
            return
        # imports in order of need: the face (frames are dropped until it runs), the model, then voice
        # analysis and speech recognition, whose audio waits in their queues meanwhile
        order = (["face"] if self.camera is not None else []) + ["model"]
        order += ["acoustic", "asr"] if self.mic is not None else []
        schedule_imports(order)
        jobs: dict[str, Callable[[], Any]] = {}
        if self.camera is not None:
            jobs["face"] = lambda: _load_face(config.face_backend)
        if self.mic is not None:
            jobs["asr"] = lambda: self._make_transcriber(config.asr_model)
            jobs["acoustic"] = self._make_extractor

        def load(name: str, fn: Callable[[], Any]) -> None:
            try:
                self._components[name] = fn()
            except Exception as exc:  # noqa: BLE001 - reported as a notice, the modality is masked
                msg = first_line(exc)
                what = {"face": "face analysis", "asr": "speech recognition", "acoustic": "voice analysis"}[name]
                mod = {"face": "visual", "asr": "text", "acoustic": "acoustic"}[name]
                self._components[name] = exc
                self.notices.append(f"{what} unavailable ({msg}); the {mod} modality is absent")

        self._loaders = {n: threading.Thread(target=load, args=(n, f), name=f"load-{n}", daemon=True)
                         for n, f in jobs.items()}
        for t in self._loaders.values():
            t.start()

    def prepare(self, wait_all: bool = False) -> None:
        """Get ready to start the clock; needs the engine attached.

        Waits for the face backend (camera frames cannot wait: they would be dropped). Voice
        analysis and speech recognition may finish loading after the start, their audio waits
        in the queues (10 s and 30 s), unless ``wait_all``. A component that cannot load is left
        out with a one-line notice; its modality is then absent (masked), never faked.
        """
        if self.engine is None:
            raise LivemerError("live pipeline: no engine attached")
        self.preload(self.engine.config)
        for name, t in self._loaders.items():
            if wait_all or name == "face":
                t.join()
        face = self._components.get("face")
        if face is not None and not isinstance(face, BaseException):
            self.engine.use_face_backend(face)
            try:
                self.engine.facet_adapter()
            except Exception as exc:  # noqa: BLE001
                self._components["face"] = exc
                self.notices.append(f"face analysis unavailable ({exc}); the visual modality is absent")

    def _make_transcriber(self, model=None):
        import_heavy("asr")
        from feature_adapters.asr import StreamingTranscriber, load_asr

        # one decoding thread live: the face, voice and render threads share the cores, and a
        # two-thread OpenMP decode stalls whenever one of its threads is preempted
        asr = load_asr(model, threads=self.opt.asr_threads)
        # encode only the buffer's length, not a zero-padded 30 s window (about 5x cheaper);
        # one temperature and a token cap: a rare decoder loop is gated out cheaply, not retried
        asr = asr.with_options(fit_window=True, temperatures=(0.0,), max_tokens_per_s=12.0)
        if self.opt.asr_beam_size:
            asr = asr.with_options(beam_size=int(self.opt.asr_beam_size))
        # warmed up by the ASR worker, while the first audio arrives (not on the start-up path)
        return StreamingTranscriber(asr, trim_s=self.opt.asr_trim_s, max_buffer_s=self.opt.asr_max_buffer_s)

    def _make_extractor(self):
        import_heavy("acoustic")
        from feature_adapters.acoustic import StreamingAcousticExtractor
        from feature_adapters.covarep import CovarepAdapter

        ex = StreamingAcousticExtractor(16000)  # warmed up by the acoustic worker (its queue holds 10 s)
        CovarepAdapter()
        return ex

    def _component(self, name: str, build: Callable[[], Any]):
        """A prepared component (waiting for its loader), or build it now; raises its loading error."""
        loader = self._loaders.get(name)
        while loader is not None and loader.is_alive() and not self.stop_event.is_set():
            loader.join(0.1)
        if self.stop_event.is_set() and name not in self._components:
            raise LivemerError("stopped while loading")
        if name not in self._components:
            self._components[name] = build()
        c = self._components[name]
        if isinstance(c, BaseException):
            raise c
        return c

    def _start(self, name: str, target: Callable[[], None]) -> None:
        done = threading.Event()
        self._workers_done[name] = done

        def body() -> None:
            try:
                target()
            except Exception as exc:  # noqa: BLE001 - a worker bug must not hang the run
                msg = f"{name} worker failed: {type(exc).__name__}: {first_line(exc, '')}"
                log.error(msg)
                self.stats.errors.append(msg)
            finally:
                self.stats.cpu[name] = time.thread_time()
                done.set()
                log.debug("%s worker done at stream time %.2f s", name, self.clock.now())

        th = threading.Thread(target=body, name=name, daemon=True)
        self._threads.append(th)
        th.start()

    def start(self) -> None:
        """Open the inputs (if not yet), start the workers and the inference thread, then the clock."""
        if self.engine is None:
            raise LivemerError("live pipeline: no engine attached")
        if self.camera is None and self.mic is None:
            self.open_inputs()
        self.wait_files()
        self.stats.started = self.stats.started or time.monotonic()
        self.aligner = self.engine.new_aligner(t0=0.0)
        self.clock.reset()  # stream time 0 = now; the sources start delivering below
        if self.camera is not None:
            self._start("face", self._face_worker)
        if self.mic is not None:
            self._start("acoustic", self._acoustic_worker)
            self._start("asr", self._asr_worker)
        self._infer_thread = threading.Thread(target=self._infer_loop, name="inference", daemon=True)
        self._infer_thread.start()
        for src in (self.camera, self.mic):
            if src is not None:
                src.begin()

    def stop(self) -> None:
        if self.stats.stop_requested is None:
            self.stats.stop_requested = time.monotonic()
        self.stop_event.set()
        for src in (self.camera, self.mic):
            if src is not None:
                src.stop()

    def join(self, timeout: float = JOIN_TIMEOUT) -> list[str]:
        """Join every thread within ``timeout`` seconds in all; returns the names still alive."""
        deadline = time.monotonic() + timeout
        threads: list[threading.Thread] = [t for t in (self.camera, self.mic) if t is not None]
        threads += self._threads
        if getattr(self, "_infer_thread", None) is not None:
            threads.append(self._infer_thread)
        for t in threads:
            if t.ident is None:
                continue
            if t.name == "asr" and self._asr_busy and self.stop_event.is_set():
                continue  # a decode in progress cannot be interrupted; the thread is a daemon, leave it
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]

    # ------------------------------------------------------------------ workers
    def _face_worker(self) -> None:
        q = self._frames_face
        try:
            backend = self._component("face", lambda: (self.engine.face_backend(), self.engine.facet_adapter())[0])
        except Exception as exc:  # noqa: BLE001 - degrade: the visual modality is then absent
            if self.stop_event.is_set():
                return
            if "face" not in self._components or not isinstance(self._components["face"], BaseException):
                msg = first_line(exc)
                self.notices.append(f"face analysis unavailable ({msg}); the visual modality is absent")
            self._drain_until_eos(q)
            return
        if getattr(backend, "notice", None) and self.engine.config.face_backend != "auto":
            self.notices.append(backend.notice)  # an explicit --face-backend was replaced: say so
        import cv2

        min_gap = 0.9 / self.opt.face_hz if self.opt.face_hz and self.opt.face_hz > 0 else 0.0
        last_t = -math.inf
        while not self.stop_event.is_set():
            try:
                fr: Frame | None = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if fr is EOS:
                return
            if fr.t - last_t < min_gap:
                continue  # over the face rate: the next frame is analysed instead
            last_t = fr.t
            img = fr.image
            scale = 1.0
            if img.shape[1] > self.opt.face_max_width:
                scale = self.opt.face_max_width / img.shape[1]
                img = cv2.resize(img, (self.opt.face_max_width, int(round(img.shape[0] * scale))),
                                 interpolation=cv2.INTER_AREA)
            try:
                res = backend.process(img, fr.t * 1000.0)
                row, ok = self.engine.visual_row(res)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end face analysis
                self._item_error("face", exc)
                continue
            self.aligner.add_visual(np.array([fr.t]), row[None, :], np.array([ok]))
            self._face_rate.tick()
            with self._lock:
                self.latest_face = res
                self._face_box_scale = scale
                self._face_present = bool(res.face_found)
                self._visual_fresh = (fr.t, fr.captured)
                self.stats.frames_analysed += 1
                self.stats.faces_found += int(bool(res.face_found))

    def _item_error(self, stage: str, exc: BaseException) -> None:
        """Count a failure on one frame/block; the first of each stage becomes a notice."""
        with self._lock:
            n = self._item_errors.get(stage, 0) + 1
            self._item_errors[stage] = n
        if n == 1:
            msg = first_line(exc)
            self.notices.append(f"{stage}: skipped input after {type(exc).__name__}: {msg}")
            log.warning(self.notices[-1])

    def _drain_until_eos(self, q: queue.Queue) -> None:
        while not self.stop_event.is_set():
            try:
                if q.get(timeout=0.1) is EOS:
                    return
            except queue.Empty:
                continue

    def _acoustic_worker(self) -> None:
        q = self._blocks_acoustic
        try:
            ex = self._component("acoustic", self._make_extractor)
        except Exception as exc:  # noqa: BLE001 - degrade: the acoustic modality is then absent
            if self.stop_event.is_set():
                return
            if not isinstance(self._components.get("acoustic"), BaseException):
                self.notices.append(f"voice analysis unavailable ({exc}); the acoustic modality is absent")
            self._drain_until_eos(q)
            return
        try:
            ex.warmup()
        except Exception as exc:  # noqa: BLE001 - only a warm-up; the first block pays instead
            log.debug("acoustic warm-up failed: %s", exc)

        def add(frames) -> None:
            if len(frames) == 0:
                return
            t, f, v = self.engine.acoustic_rows(frames)
            self.aligner.add_acoustic(t, f, v)
            with self._lock:
                self._last_acoustic_t = float(t[-1])
                if v.any():
                    self._last_voiced_t = float(t[np.flatnonzero(v)[-1]])

        while not self.stop_event.is_set():
            try:
                blk: AudioBlock | None = q.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                if blk is EOS:
                    add(ex.flush())
                    return
                add(ex.push(blk.samples, t0=blk.t_start))
            except Exception as exc:  # noqa: BLE001 - one bad block must not end voice analysis
                self._item_error("acoustic", exc)
                if blk is EOS:
                    return
                ex.reset()
            with self._lock:
                self._audio_fresh = (blk.t_end, blk.captured)

    def _asr_worker(self) -> None:
        q = self._blocks_asr
        try:
            tr = self._component("asr", lambda: self._make_transcriber(self.engine.config.asr_model))
        except Exception as exc:  # noqa: BLE001 - degrade: the text modality is then absent
            if self.stop_event.is_set():
                return
            if not isinstance(self._components.get("asr"), BaseException):
                msg = first_line(exc)
                self.notices.append(f"speech recognition unavailable ({msg}); the text modality is absent")
            self._drain_until_eos(q)
            return
        self._asr_busy = True
        try:
            warm_asr(tr.engine)  # while the first audio arrives: the first decode would otherwise stall
        finally:
            self._asr_busy = False
        new_audio = 0.0
        audio_end = 0.0
        flushed_upto = -math.inf  # stream time up to which an utterance end was already committed
        ended = False
        while not self.stop_event.is_set() and not ended:
            try:
                blk = q.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [blk]
            while True:  # take everything queued: one decode covers it
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            for b in batch:
                if b is EOS:
                    ended = True
                    break
                tr.push(b.samples, b.t_end)
                new_audio += b.samples.size / 16000
                audio_end = b.t_end
            t0 = time.monotonic()
            self._asr_busy = True
            try:
                kind = "decode"
                if ended:
                    words = tr.flush()
                elif self._pause_after_speech(flushed_upto, audio_end):
                    kind = "end of utterance"
                    # end of an utterance: one decode commits it all, instead of waiting for a second,
                    # agreeing hypothesis (LocalAgreement) after the speaker has stopped
                    new_audio = 0.0
                    flushed_upto = audio_end
                    words = tr.flush()
                elif new_audio >= self.opt.asr_interval:
                    new_audio = 0.0
                    words = tr.process()
                else:
                    continue
            except Exception as exc:  # noqa: BLE001 - a failed decode loses its words, not the recogniser
                self._item_error("asr", exc)
                continue
            finally:
                self._asr_busy = False
            if self.stop_event.is_set() and not ended:
                return  # stopped during a decode: its words are no longer wanted
            log.debug("asr: %s %.2f s (buffer %.1f s, %d new words) at %.2f", kind, time.monotonic() - t0,
                      tr.buffer_duration, len(words), self.clock.now())
            self._add_words(words, tr)

    def _pause_after_speech(self, after: float, audio_end: float) -> bool:
        """An utterance has ended: the voice analysis saw voiced audio after stream time ``after``, then
        at least ``asr_endpoint_s`` seconds without voice, and it has analysed the audio up to (nearly)
        ``audio_end``, the end of what the recogniser holds, so no new speech hides at the end."""
        with self._lock:
            last, voiced = self._last_acoustic_t, self._last_voiced_t
        return (math.isfinite(voiced) and voiced > after and last >= audio_end - 0.25
                and last - voiced >= self.opt.asr_endpoint_s)

    def _add_words(self, words, tr) -> None:
        now = time.monotonic()
        # caption latency: speech up to a word's end first shown (pending or committed)
        for w in sorted([*words, *tr.pending_words], key=lambda w: w.end):
            if w.end > self._caption_until:
                self.stats.caption_latencies.append(now - self.clock.to_monotonic(w.end))
                self._caption_until = w.end
        if words:
            tokens = self.engine.embed(words)
            self.aligner.add_words(to_word_inputs(tokens))
            for w in words:
                self.stats.transcript_latencies.append(now - self.clock.to_monotonic(w.end))
            self.stats.words += len(words)
        committed = " ".join(w.word.strip() for w in tr.committed_words)
        with self._lock:
            self._committed_text = committed
            self._pending_text = tr.pending_text

    # ------------------------------------------------------------------ inference
    def transcript(self) -> str:
        with self._lock:
            return self._committed_text

    def _voice_present(self) -> bool | None:
        if self.mic is None:
            return None
        with self._lock:
            if not math.isfinite(self._last_acoustic_t):
                return False
            return self._last_acoustic_t - self._last_voiced_t <= 0.5

    def _fresh_capture(self) -> float | None:
        with self._lock:
            fresh = self._visual_fresh if self._visual_fresh is not None else self._audio_fresh
        return fresh[1] if fresh else None

    def infer_once(self, t: float | None = None) -> InferenceResult | None:
        """One inference on the window ending at stream time ``t`` (default: now)."""
        captured = self._fresh_capture()
        origin = self.aligner.latest
        if not math.isfinite(origin):  # nothing captured yet
            return None
        t = self.clock.now() if t is None else t
        window = self.aligner.window(t)
        with self._lock:
            face_present = bool(self._face_present)
        res = self.engine.infer(
            window, t, transcript=self.transcript(), face_present=face_present,
            voice_present=bool(self._voice_present()), fps=self._face_rate.value(), captured_at=captured,
        )
        now = time.monotonic()
        with self._lock:
            self.latest_result = res
            self.stats.results += 1
            self.stats.infer_times.append(now)
            if captured is not None:
                self.stats.latencies.append(res.latency)
            if self.stats.first_result is None:
                self.stats.first_result = now
        self._emit(res)
        return res

    def _emit(self, res: InferenceResult) -> None:
        from .capture import put_latest

        put_latest(self._results, res)

    def _files_ended(self) -> bool:
        """Every input is a file and has been played to its end."""
        srcs = [s for s in (self.camera, self.mic) if s is not None]
        return bool(srcs) and all(s.is_file and s.finished.is_set() for s in srcs)

    def _inputs_exhausted(self) -> bool:
        """Every input file has ended and every worker has drained (acoustic and ASR flushed)."""
        return self._files_ended() and all(ev.is_set() for ev in self._workers_done.values())

    def _infer_loop(self) -> None:
        torch = sys.modules.get("torch")  # inference runs on numpy; torch only when something loaded it
        if torch is not None:
            torch.set_num_threads(1)
        period = 1.0 / max(0.5, self.opt.infer_hz)
        nxt = time.monotonic()
        cpu0 = time.thread_time()
        try:
            while not self.stop_event.is_set():
                if self._inputs_exhausted():
                    # one last result at the end of the data (not later: trailing empty pseudo-steps
                    # would push real steps out of the window)
                    latest = self.aligner.latest
                    self.infer_once((latest if math.isfinite(latest) else self.clock.now()) + 1e-3)
                    self.stats.final_result = True
                    self._final_done.set()
                    self.inputs_done.set()
                    return
                if self.opt.duration is not None and self.clock.now() >= self.opt.duration:
                    self.infer_once()
                    self._final_done.set()
                    self.inputs_done.set()
                    return
                if self._files_ended():
                    # nothing new arrives: wait for the workers to drain, then give one final result
                    self.stop_event.wait(0.02)
                    continue
                now = time.monotonic()
                if now < nxt:
                    self.stop_event.wait(nxt - now)
                    continue
                nxt += period
                if nxt < now:  # fell behind: do not try to catch up
                    nxt = now + period
                self.infer_once()
        except Exception as exc:  # noqa: BLE001
            msg = f"inference failed: {type(exc).__name__}: {first_line(exc, '')}"
            log.error(msg)
            self.stats.errors.append(msg)
            self.inputs_done.set()
        finally:
            self.stats.cpu["inference"] = time.thread_time() - cpu0

    # ------------------------------------------------------------------ main thread
    def overlay_state(self) -> OverlayState:
        with self._lock:
            res = self.latest_result
            face = self.latest_face
            scale = self._face_box_scale
            face_present = self._face_present
            pending = self._pending_text
            committed = self._committed_text
        if face is not None and scale != 1.0 and face.box is not None:
            from dataclasses import replace

            face = replace(face, box=tuple(v / scale for v in face.box))
        transcript = (committed + (" " + pending if pending else "")).strip()
        msg = self.message if time.monotonic() < self._message_until else None
        if msg is None and self.status_fn is not None:
            msg = self.status_fn()
        st = state_from_result(
            res, face=face, transcript=transcript, camera_on=self.camera is not None, mic_on=self.mic is not None,
            fps=self._render_rate.value(), prompt=self.prompt, message=msg,
            modalities=self.engine.modalities, face_present=face_present, voice_present=self._voice_present(),
        )
        st.prompt_label = self.prompt_label
        st.calibrated = bool(getattr(self.engine, "calibrated", False))
        if res is None:
            st.emotions = self.engine.emotions
            st.probabilities = np.full(len(st.emotions), np.nan)
            st.user_added = self.engine.user_added
        return st

    def show_message(self, text: str, seconds: float = 3.0) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds

    def _needs_render(self) -> bool:
        if self.opt.render is not None:
            return self.opt.render
        return (not self.opt.headless) or self.recorder is not None or self.opt.offscreen is not None

    def _drain_results(self) -> None:
        while True:
            try:
                res = self._results.get_nowait()
            except queue.Empty:
                return
            if self.jsonl is not None:
                self.jsonl.write(res.to_json_dict())

    def run(self, on_key: Callable[[int], None] | None = None) -> None:
        """Start everything and render/write in this thread until the end, a stop or a key."""
        self.stats.started = self.stats.started or time.monotonic()
        show = not self.opt.headless
        frame_period = 1.0 / (self.camera.fps if self.camera is not None and self.camera.fps else 30.0)
        if self.opt.record and self.recorder is None:
            size = self.camera.size if self.camera is not None and self.camera.size else self.opt.canvas_size
            self.recorder = Recorder(self.opt.record, 1.0 / frame_period, size)
        render_on = self._needs_render()
        if show:
            import cv2

            cv2.namedWindow(self.opt.window_title, cv2.WINDOW_NORMAL | getattr(cv2, "WINDOW_KEEPRATIO", 0))
        self.start()
        last_frame: Frame | None = None
        camera_ended = self.camera is None
        cpu0 = time.thread_time()
        try:
            while not self.stop_event.is_set():
                if self.inputs_done.is_set() and self._final_done.is_set():
                    break
                if not render_on:
                    try:
                        res = self._results.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if self.jsonl is not None:
                        self.jsonl.write(res.to_json_dict())
                    continue
                # rendering: one overlay per camera frame (or at the camera's frame rate on a canvas
                # or on the last frame once a camera file has ended)
                fr = None
                if not camera_ended:
                    try:
                        fr = self._frames_show.get(timeout=frame_period)
                    except queue.Empty:
                        fr = None
                    if fr is EOS:
                        camera_ended = True
                        fr = None
                else:
                    self.stop_event.wait(frame_period)
                self._drain_results()
                if fr is None and not camera_ended:
                    if show:
                        self._pump_keys(on_key)
                    continue  # no new camera frame yet
                if fr is not None:
                    last_frame = fr
                    img = fr.image.copy()
                    t_shown = fr.t
                elif last_frame is not None:
                    img = last_frame.image.copy()
                    t_shown = self.clock.now()
                else:
                    img = blank_canvas(*self.opt.canvas_size)
                    t_shown = self.clock.now()
                t0 = time.perf_counter()
                render(img, self.overlay_state())
                self.stats.overlay_ms.append((time.perf_counter() - t0) * 1000.0)
                now = time.monotonic()
                self._render_rate.tick(now)
                self.stats.rendered += 1
                if self.stats.render_times:
                    self.stats.max_stall = max(self.stats.max_stall, now - self.stats.render_times[-1])
                self.stats.render_times.append(now)
                if self.stats.first_render is None:
                    self.stats.first_render = now
                if self.recorder is not None:
                    self.recorder.write(img, t_shown)
                if self.opt.offscreen is not None:
                    self.opt.offscreen(img)
                if show:
                    import cv2

                    cv2.imshow(self.opt.window_title, img)
                    self._pump_keys(on_key)
        finally:
            self.stats.cpu["main"] = time.thread_time() - cpu0
            self.stop()
            self.join(JOIN_TIMEOUT)
            self._drain_results()
            self.close_outputs()
            self._close_face()
            self.stats.joined = time.monotonic()
            if show:
                try:
                    import cv2

                    cv2.destroyAllWindows()
                    cv2.waitKey(1)
                except Exception:  # noqa: BLE001
                    pass

    def _pump_keys(self, on_key: Callable[[int], None] | None) -> None:
        """Let the window process events; hand a pressed key to ``on_key``; a closed window stops the run."""
        import cv2

        key = cv2.waitKey(1)
        if key != -1 and on_key is not None:
            on_key(key & 0xFFFF)
        try:
            if cv2.getWindowProperty(self.opt.window_title, cv2.WND_PROP_VISIBLE) < 1:
                self.stop()  # the window was closed
        except Exception:  # noqa: BLE001
            pass

    def _close_face(self) -> None:
        """Close the face backend this pipeline loaded, once its worker has ended.

        Closing explicitly matters: a MediaPipe landmarker left to the garbage collector is
        closed from ``__del__`` at an arbitrary point (even inside an import), which can deadlock.
        """
        face = self._components.get("face")
        if face is None or isinstance(face, BaseException):
            return
        if any(t.name == "face" and t.is_alive() for t in self._threads):
            return
        try:
            face.close()
        except Exception as exc:  # noqa: BLE001
            log.debug("closing the face backend failed: %s", exc)
        if self.engine is not None and getattr(self.engine, "_face", None) is face:
            self.engine.use_face_backend(None)
        self._components.pop("face", None)

    def close_outputs(self) -> Path | None:
        out = None
        if self.recorder is not None:
            out = self.recorder.close()
        if self.jsonl is not None:
            self.jsonl.close()
        return out


class StopOnSignals:
    """Context manager: SIGINT/SIGTERM set ``stop`` instead of raising (restored on exit)."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self._old: dict[int, Any] = {}
        self.received: int | None = None

    def _handler(self, signum, _frame) -> None:
        self.received = signum
        self.stop()

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
