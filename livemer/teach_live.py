"""Teaching and calibrating from the live stream.

Both consume the windows the live pipeline scores (a *tap*: ``feed(t, window)``
after every inference) and never block it:

* :class:`BaselineRecorder` collects ``seconds`` of windows, then hands the
  observed-step means of the acoustic and visual features to ``on_done`` (the
  per-user neutral baseline, :mod:`model.calibration`).
* :class:`LiveTeacher` runs a countdown, records the next few seconds of windows
  as examples of a word, and fits the adapter in a background thread, with the
  windows seen before the countdown as extra negatives; ``on_done`` receives the
  result and makes the emotion appear.

Time is stream time (the ``t`` of each window), so tests drive them with stub
windows and no clock.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import numpy as np

from model.calibration import CALIBRATED, observed_mean

COUNTDOWN = 3.0  # seconds shown before recording starts
RECORD = 5.0  # seconds recorded as examples
CONTEXT = 20.0  # seconds of earlier windows kept as negatives


def _av(window) -> bool:
    m = np.asarray(window.modality_mask, bool)
    return bool(m[1] or m[2])


class BaselineRecorder:
    """Collect ``seconds`` of windows; then ``on_done(means, n_windows)`` or ``on_fail(message)``."""

    def __init__(self, seconds: float, on_done: Callable[[dict, int], None], on_fail: Callable[[str], None]):
        if not seconds > 0:
            raise ValueError(f"calibration needs a positive number of seconds, got {seconds}")
        self.seconds = float(seconds)
        self.on_done, self.on_fail = on_done, on_fail
        self.t0: float | None = None
        self.last_t: float | None = None
        self.windows: list = []
        self.used: list = []  # the windows the baseline came from (after finish)
        self.finished = False

    def feed(self, t: float, window) -> None:
        if self.finished:
            return
        if self.t0 is None:
            self.t0 = float(t)
        self.last_t = float(t)
        if self.last_t > (self.windows[-1][0] if self.windows else -np.inf):
            self.windows.append((self.last_t, window))
        if self.last_t - self.t0 >= self.seconds:
            self.finish()

    def finish(self) -> None:
        """Compute the baseline from what was collected (also when stopped early)."""
        if self.finished:
            return
        self.finished = True
        wins = [w for _, w in self.windows]
        self.used = wins
        means: dict[str, np.ndarray] = {}
        for m in CALIBRATED:
            if wins:
                x = np.stack([getattr(w, m) for w in wins])
                mask = np.stack([getattr(w, f"{m}_mask") for w in wins])
                mu = observed_mean(x, mask)
                if mu is not None:
                    means[m] = mu.astype(np.float32)
        if not means:
            self.on_fail("calibration saw no face and no voice; nothing changed")
        else:
            self.on_done(means, len(wins))

    def status(self) -> str:
        if self.t0 is None:
            return f"calibrating: look neutral, speak normally ({self.seconds:.0f} s)"
        left = max(0.0, self.seconds - ((self.last_t or self.t0) - self.t0))
        return f"calibrating: neutral baseline, {left:.0f} s left"


class LiveTeacher:
    """Countdown -> record -> background fit. ``fit(positives, negatives)`` returns what ``on_done`` gets.

    Phases: ``countdown``, ``recording``, ``fitting``, ``done`` or ``failed``.
    """

    def __init__(
        self,
        name: str,
        fit: Callable[[list, list], object],
        on_done: Callable[[object], None],
        on_fail: Callable[[str], None],
        context: list | None = None,
        countdown: float = COUNTDOWN,
        record: float = RECORD,
        background: bool = True,
    ):
        self.name = name
        self._fit, self.on_done, self.on_fail = fit, on_done, on_fail
        self.countdown, self.record = float(countdown), float(record)
        self.background = background
        self.negatives = [w for w in (context or []) if _av(w)]
        self.positives: list = []
        self.phase = "countdown"
        self.t0: float | None = None
        self.last_t: float | None = None
        self.message = ""
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def feed(self, t: float, window) -> None:
        with self._lock:
            if self.phase not in ("countdown", "recording"):
                return
            t = float(t)
            if self.t0 is None:
                self.t0 = t
            self.last_t = t
            since = t - self.t0
            if since < self.countdown:
                return
            self.phase = "recording"
            # a window counts once the recording has lasted a second (it then shows mostly the example)
            if since - self.countdown >= min(1.0, self.record) and _av(window):
                self.positives.append(window)
            if since >= self.countdown + self.record:
                self.phase = "fitting"
                start = True
            else:
                start = False
        if start:
            if self.background:
                self.thread = threading.Thread(target=self._run_fit, name=f"livemer-teach-{self.name}", daemon=True)
                self.thread.start()
            else:
                self._run_fit()

    def _run_fit(self) -> None:
        try:
            result = self._fit(list(self.positives), list(self.negatives))
        except Exception as exc:  # noqa: BLE001 - shown in the overlay, never a traceback in the render loop
            from .errors import first_line

            self.phase, self.message = "failed", f"teaching '{self.name}' failed: {first_line(exc)}"
            self.on_fail(self.message)
            return
        self.phase, self.message = "done", f"taught '{self.name}' from {len(self.positives)} windows"
        self.on_done(result)

    def status(self) -> str:
        with self._lock:
            if self.phase == "countdown":
                left = self.countdown - ((self.last_t or 0.0) - self.t0) if self.t0 is not None else self.countdown
                return f"teach '{self.name}': show it in {max(1, int(np.ceil(left)))}..."
            if self.phase == "recording":
                left = self.countdown + self.record - ((self.last_t or 0.0) - (self.t0 or 0.0))
                return f"teach '{self.name}': recording, {max(0, int(np.ceil(left)))} s left"
            if self.phase == "fitting":
                return f"teach '{self.name}': adapting..."
            return self.message


class Recent:
    """The windows of the last ``seconds`` of stream time (bounded): the negatives context of a teaching."""

    def __init__(self, seconds: float = CONTEXT, max_windows: int = 400):
        self.seconds = float(seconds)
        self.items: collections.deque = collections.deque(maxlen=max_windows)

    def feed(self, t: float, window) -> None:
        self.items.append((float(t), window))
        while self.items and self.items[0][0] < float(t) - self.seconds:
            self.items.popleft()

    def windows(self) -> list:
        return [w for _, w in self.items]


class LiveControls:
    """Teaching and calibration keys of the live window, bound to an Engine.

    ``teach(word)`` and ``calibrate(seconds)`` start a tap on the engine; the
    render loop shows :meth:`status`. Fitting and storing run off the render
    thread; the emotion appears (``Engine.adopt``) when its adapter is stored.
    """

    def __init__(
        self,
        engine,
        show: Callable[[str, float], None] | None = None,
        countdown: float = COUNTDOWN,
        record: float = RECORD,
    ):
        self.engine = engine
        self.show = show or (lambda text, seconds=3.0: None)
        self.countdown, self.record = countdown, record
        self.recent = Recent()
        self.active: LiveTeacher | BaselineRecorder | None = None
        engine.taps.append(self._tap)

    def _tap(self, t: float, window) -> None:
        act = self.active
        if act is not None:
            act.feed(t, window)
        if not isinstance(act, LiveTeacher) or act.phase not in ("countdown", "recording"):
            self.recent.feed(t, window)

    def busy(self) -> bool:
        a = self.active
        if a is None:
            return False
        if isinstance(a, BaselineRecorder):
            return not a.finished
        return a.phase in ("countdown", "recording", "fitting")

    def status(self) -> str | None:
        return self.active.status() if self.busy() else None

    def calibrate(self, seconds: float) -> None:
        if self.busy():
            self.show("wait: teaching or calibration is running", 2.0)
            return

        def done(means: dict, n: int) -> None:
            try:
                ok = self.engine.save_baseline(means, seconds, n, neutral=recorder.used)
            except OSError as exc:
                self.show(f"calibration not saved ({type(exc).__name__})", 4.0)
                return
            self.show(
                "calibrated: scores are relative to your neutral baseline"
                if ok
                else "calibration did not fit this model; not used",
                4.0,
            )

        recorder = BaselineRecorder(seconds, done, lambda msg: self.show(msg, 4.0))
        self.active = recorder

    def teach(self, word: str) -> None:
        """Start teaching ``word`` (a one-line message instead when it cannot be taught)."""
        from feature_adapters.embeddings import UnknownWordError

        if self.busy():
            self.show("wait: teaching or calibration is running", 2.0)
            return
        name = word.strip().lower()
        ck = self.engine.checkpoint
        if not name or " " in name:
            self.show(f"'{word}': give one word", 3.0)
            return
        if name in ck.emotion_words:
            self.show(f"'{name}' is a trained emotion; teach a new word", 3.0)
            return
        try:
            vec = self.engine.provider.vector(name)
        except UnknownWordError as exc:
            self.show(str(exc).splitlines()[0], 4.0)
            return
        from . import teach

        def fit(positives: list, negatives: list):
            ws = teach.WindowSet(list(positives), ["live"] * len(positives), 1 if positives else 0)
            extra = [("before teaching", negatives)] if negatives else []
            res = teach.fit_from_windows(self.engine, name, vec, ws, extra_negatives=extra)
            word_ = self.engine.provider.lookup(name) or name
            teach.store(self.engine.registry, res, word_, self.engine.provider.name, vec, ws)
            return res

        def done(res) -> None:
            self.engine.adopt(name, vec, res.fit.rows())
            self.show(f"taught '+{name}' ({res.adaptation['windows']} windows; saved)", 4.0)

        def fail(msg: str) -> None:
            self.show(msg if len(msg) < 90 else msg[:87] + "...", 5.0)

        self.active = LiveTeacher(
            name, fit, done, fail, context=self.recent.windows(), countdown=self.countdown, record=self.record
        )
