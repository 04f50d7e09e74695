"""The live driver of ``livemer run``: capture threads, bounded queues, stage workers, inference, rendering.

Threads (all daemon, all watching one stop event)::

    camera ──frames──> face worker ──Facet-35 rows──┐
       └──────frames──> main thread (render / record)│
    mic ──blocks──> acoustic worker ──COVAREP-74────>├─> StreamingAligner ─> inference (>= 5 Hz)
       └──blocks──> ASR worker ──timed words──>──────┘                          │
                                                        results ──> main thread (overlay / JSONL)

Every queue is bounded and drops its oldest item when full, so a slow stage
skips stale data instead of building lag (``LiveOptions(paced=False)``: file inputs
are delivered as fast as the workers take them, nothing dropped; the parity
test runs so). Modalities are masked from the data:
no face -> no valid visual frame, silence -> no voiced acoustic frame, no
words -> no text step.

When every input is a file, the run ends once all of them are exhausted and
the workers have drained (acoustic and ASR flushed), with one final inference.
``stop()`` (Ctrl-C, ``q``, ``--duration``) ends it at any time; every thread is
joined within a second (a Whisper decode in progress cannot be interrupted: that
daemon thread is left to finish on its own) and the ``--record`` video and
``--jsonl`` file are finalised either way.

Every worker pushes into one :class:`livemer.session.Session` (the stages, the
aligner, smoothing and presence rules that file mode runs too); the main
thread's render loop is :class:`livemer.live_view.LiveView`.

Start-up: :meth:`LiveDriver.open_inputs` (a missing device fails within ~2 s),
then :meth:`LiveDriver.load` (the session's stages load in background threads
while the engine loads; the clock starts once the face stage is ready, audio
waits in its queues until its workers are), then :meth:`LiveDriver.run`.

A result's ``fps`` is the rate of frames the face worker analyses (what the
visual modality sees); the overlay shows the rendering rate.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .capture import CameraSource, CaptureError, Clock, MicSource, open_camera, open_mic, put_latest
from .engine import Engine, EngineConfig, InferenceResult
from .errors import LivemerError, first_line
from .loading import import_heavy
from .session import Session, SessionOptions
from .sinks import JsonlSink, Recorder
from .stages import FaceOptions, SpeechOptions, VoiceOptions

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 1.0  # seconds for all threads together
_HISTORY = 5_000  # entries kept per statistic: the recent ones (render times: about 3 min at 30 fps)


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
    loop_mic: bool = False  # an audio file as the microphone starts again at its end (soak runs)
    face_max_width: int = 640  # frames wider than this are downscaled for the face backend
    # face analyses per second at most: on 2 cores every camera frame (30/s) would take the CPU the
    # overlay and speech recognition need; 15/s still gives each 0.2 s step 3 face frames
    face_hz: float = 15.0
    paced: bool = True  # files play in real time; False: as fast as the workers take them (tests, parity)
    asr_interval: float = 0.6  # seconds of new audio between ASR decodes
    asr_beam_size: int | None = 1  # greedy decoding live (each decode re-reads the buffer); None: the model's
    asr_threads: int | None = 1  # CPU threads of the live recogniser (None: its default)
    asr_endpoint_s: float = 0.8  # unvoiced seconds after speech that end an utterance (its words commit)
    asr_trim_s: float = 8.0  # live ASR buffer trimming (bounds the cost of each decode)
    asr_max_buffer_s: float = 12.0
    canvas_size: tuple[int, int] = (640, 360)  # (w, h) of the overlay when there is no camera
    max_faces: int = 1  # faces boxed in the overlay (the bars are the largest face's)
    window_title: str = "livemer"
    render: bool | None = None  # draw overlays; default: when a window or --record needs them
    offscreen: Callable[[np.ndarray], None] | None = None  # receives each rendered frame (benchmarks)
    # the C heap (livemer.live_memory): pin glibc's mmap threshold, and return free pages every heap_trim_s
    tune_heap: bool = True
    heap_trim_s: float | None = 30.0
    # before the stream: every stage runs representative input as it loads (SessionOptions.warmup) and the
    # overlay is drawn once off screen, so their working memory exists when the stream starts
    warmup: bool = True

    def session_options(self, config: EngineConfig) -> SessionOptions:
        """The stage options of a live session (the recogniser's live preset with these settings)."""
        speech = SpeechOptions.live(
            model=config.asr_model,
            threads=self.asr_threads,
            beam_size=self.asr_beam_size,
            interval_s=self.asr_interval,
            endpoint_s=self.asr_endpoint_s,
            trim_s=self.asr_trim_s,
            max_buffer_s=self.asr_max_buffer_s,
        )
        stages = (("face",) if self.camera is not None else ()) + (("voice", "speech") if self.mic is not None else ())
        return SessionOptions(
            face=FaceOptions(
                backend=config.face_backend,
                rate_hz=self.face_hz,
                max_width=self.face_max_width,
                max_faces=self.max_faces,
            ),
            speech=speech,
            stages=stages,
            voice=VoiceOptions.gated(config.speech_gate),
            warmup=self.warmup,
        )


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


class LiveDriver:
    """Runs the capture, stage and inference threads over one :class:`Session`; :meth:`run` renders."""

    def __init__(self, options: LiveOptions, engine: Engine | None = None) -> None:
        self.opt = options
        self.engine = engine
        self.session: Session | None = None
        self.clock = Clock()
        self.stop_event = threading.Event()
        self.inputs_done = threading.Event()
        self.final_done = threading.Event()
        self.stats = LiveStats()
        self.camera: CameraSource | None = None
        self.mic: MicSource | None = None
        self.results: queue.Queue = queue.Queue(maxsize=64)
        self.jsonl: JsonlSink | None = None
        self.recorder: Recorder | None = None
        self.asr_busy = False  # inside a Whisper decode (native code that cannot be interrupted)
        self._threads: list[threading.Thread] = []
        self._workers_done: dict[str, threading.Event] = {}
        self._infer_thread: threading.Thread | None = None
        from .live_memory import HeapTrimmer, tune_heap
        from .live_view import LiveView
        from .live_workers import LiveWorkers

        if options.tune_heap:
            tune_heap()
        self.heap = HeapTrimmer(options.heap_trim_s)

        self.view = LiveView(self)
        self.workers = LiveWorkers(self)
        if engine is not None:
            self.attach(engine)

    @property
    def notices(self) -> list[str]:
        return self.session.notices if self.session is not None else []

    # ------------------------------------------------------------------ setup
    def open_inputs(self, wait_files: bool = True) -> None:
        """Create and start the sources; raises :class:`CaptureError` (within ~2 s) when a device cannot open.

        With ``wait_files=False`` a file source (which may take a while to decode) is only checked to
        exist here; :meth:`wait_files` waits for it (and :meth:`start` does too).
        """
        self.camera = open_camera(self.opt.camera, self.clock, loop=self.opt.loop_camera, paced=self.opt.paced)
        self.mic = open_mic(self.opt.mic, self.clock, paced=self.opt.paced, loop=self.opt.loop_mic)
        if self.camera is None and self.mic is None:
            raise LivemerError("both --camera and --mic are none: nothing to analyse")
        lossless = not self.opt.paced  # unpaced files: the workers see every frame and block
        self._frames_face = self.camera.subscribe(1, lossless) if self.camera else None
        self._frames_show = self.camera.subscribe(2) if self.camera else None
        self._blocks_voice = self.mic.subscribe(320, lossless) if self.mic else None  # ~10 s of 32 ms blocks
        self._blocks_speech = self.mic.subscribe(940, lossless) if self.mic else None  # ~30 s: over the ASR buffer
        for src in self._sources():
            src.start()
        deadline = time.monotonic() + 1.9  # devices: a clear error within 2 s
        try:
            for src in self._sources():
                if not src.is_file:
                    src.wait_open(max(0.05, deadline - time.monotonic()))
        except CaptureError:
            self.stop()
            raise
        if wait_files:
            self.wait_files()

    def _sources(self) -> list:
        return [s for s in (self.camera, self.mic) if s is not None]

    def wait_files(self) -> None:
        """Wait until the file sources are open (an audio file decoded); :class:`CaptureError` if one fails."""
        try:
            for src in self._sources():
                if src.is_file:
                    src.wait_open()
        except CaptureError:
            self.stop()
            raise

    def _session(self, config: EngineConfig) -> Session:
        if self.session is None:
            if self.camera is None and self.mic is None and (self.opt.camera or self.opt.mic):
                raise LivemerError("live driver: open the inputs before loading")
            self.session = Session(self.opt.session_options(config), self.engine)
            if self.camera is not None:  # the face stage warms up on the camera's first picture
                self.session.warm_frame = self.camera.preview
        return self.session

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        if self.session is not None:
            self.session.attach(engine)

    def preload(self, config: EngineConfig) -> None:
        """Start loading the session's stages in background threads (before the engine: none needs it)."""
        self._session(config).preload()

    def load(self, config: EngineConfig, make_engine: Callable[[EngineConfig], Engine] = Engine) -> Engine:
        """The whole start-up after :meth:`open_inputs`: stages (in the background), engine, face stage,
        files open. Returns the engine. Safe to run in a loader thread."""
        self.preload(config)
        if self.engine is None:
            import_heavy("model")
            self.attach(make_engine(config))
        self.prepare()
        self.wait_files()
        return self.engine

    def prepare(self, wait_all: bool = False) -> None:
        """Wait for the face stage (camera frames cannot wait: they would be dropped); voice and speech may
        finish loading after the start, their audio waits in the queues (10 s and 30 s), unless ``wait_all``."""
        if self.engine is None:
            raise LivemerError("live driver: no engine attached")
        s = self._session(self.engine.config)
        s.attach(self.engine)
        s.load(wait=tuple(s.options.stages) if wait_all else ("face",), stop=self.stop_event)
        if self.opt.warmup:
            self.view.warmup()  # the overlay drawn once off screen (its first-use memory before the stream)

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
            raise LivemerError("live driver: no engine attached")
        if self.camera is None and self.mic is None:
            self.open_inputs()
        if self.session is None:
            self.prepare()
        self.wait_files()
        self.stats.started = self.stats.started or time.monotonic()
        self.session.start(t0=0.0)
        self.clock.reset()  # stream time 0 = now; the sources start delivering below
        if self.camera is not None:
            self._start("face", self.workers.face)
        if self.mic is not None:
            self._start("acoustic", self.workers.voice)
            self._start("asr", self.workers.speech)
        self._infer_thread = threading.Thread(target=self._infer_loop, name="inference", daemon=True)
        self._infer_thread.start()
        for src in self._sources():
            src.begin()

    def stop(self) -> None:
        if self.stats.stop_requested is None:
            self.stats.stop_requested = time.monotonic()
        self.stop_event.set()
        for src in self._sources():
            src.stop()

    def join(self, timeout: float = JOIN_TIMEOUT) -> list[str]:
        """Join every thread within ``timeout`` seconds in all; returns the names still alive."""
        deadline = time.monotonic() + timeout
        threads: list[threading.Thread] = [*self._sources(), *self._threads]
        if self._infer_thread is not None:
            threads.append(self._infer_thread)
        for t in threads:
            if t.ident is None:
                continue
            if t.name == "asr" and self.asr_busy and self.stop_event.is_set():
                continue  # a decode in progress cannot be interrupted; the thread is a daemon, leave it
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]

    # ------------------------------------------------------------------ inference
    def infer_once(self, t: float | None = None) -> InferenceResult | None:
        """One inference on the window ending at stream time ``t`` (default: now)."""
        res = self.session.result(self.clock.now() if t is None else t, voice_on=self.mic is not None)
        if res is None:  # nothing captured yet
            return None
        now = time.monotonic()
        st = self.stats
        st.results += 1
        st.infer_times.append(now)
        if math.isfinite(res.latency):
            st.latencies.append(res.latency)
        if st.first_result is None:
            st.first_result = now
        put_latest(self.results, res)
        return res

    def _files_ended(self) -> bool:
        """Every input is a file and has been played to its end."""
        srcs = self._sources()
        return bool(srcs) and all(s.is_file and s.finished.is_set() for s in srcs)

    def _inputs_exhausted(self) -> bool:
        """Every input file has ended and every worker has drained (acoustic and ASR flushed)."""
        return self._files_ended() and all(ev.is_set() for ev in self._workers_done.values())

    def _final(self, t: float | None, final_result: bool) -> None:
        self.infer_once(t)
        self.stats.final_result = final_result
        self.final_done.set()
        self.inputs_done.set()

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
                    latest = self.session.aligner.latest
                    return self._final((latest if math.isfinite(latest) else self.clock.now()) + 1e-3, True)
                if self.opt.duration is not None and self.clock.now() >= self.opt.duration:
                    return self._final(None, False)
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
                self.heap.maybe(now)
        except Exception as exc:  # noqa: BLE001
            msg = f"inference failed: {type(exc).__name__}: {first_line(exc, '')}"
            log.error(msg)
            self.stats.errors.append(msg)
            self.inputs_done.set()
        finally:
            self.stats.cpu["inference"] = time.thread_time() - cpu0

    # ------------------------------------------------------------------ main thread
    def run(self, on_key: Callable[[int], None] | None = None) -> None:
        """Start everything and render/write in this thread until the end, a stop or a key."""
        self.view.run(on_key)

    def write_results(self, block: float = 0.0) -> None:
        """Hand the results queued so far to the JSONL sink (waiting up to ``block`` s for the first)."""
        while True:
            try:
                res = self.results.get(timeout=block) if block else self.results.get_nowait()
            except queue.Empty:
                return
            block = 0.0
            if self.jsonl is not None:
                self.jsonl.write(res.to_json_dict())

    def finish(self) -> None:
        """Stop, join, write what is left, close the outputs and the session's stages."""
        self.stop()
        self.join(JOIN_TIMEOUT)
        self.write_results()
        self.close_outputs()
        if self.session is not None and not any(t.name == "face" and t.is_alive() for t in self._threads):
            self.session.face.close()  # explicitly: a landmarker closed by the GC can deadlock
        if self.session is not None:
            c = self.session.counts
            self.stats.frames_analysed, self.stats.faces_found = c.frames_analysed, c.faces_found
        self.stats.joined = time.monotonic()

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

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
