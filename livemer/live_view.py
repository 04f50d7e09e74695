"""The main thread of ``livemer run``: the render loop, the overlay's state, the window and its keys.

:class:`LiveView` draws one overlay per camera frame (at the camera's frame
rate on a canvas without a camera, or on the last frame once a camera file has
ended), hands results to the JSONL sink, feeds the ``--record`` video and the
window, and pumps the window's key events. Without anything to draw it only
writes results. Drawing itself is :func:`livemer.overlay.render`.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .capture import EOS, Frame
from .overlay import OverlayState, blank_canvas, render, state_from_result
from .session import Rate
from .sinks import Recorder

if TYPE_CHECKING:  # pragma: no cover
    from .live import LiveDriver


class LiveView:
    """Renders the driver's session in the calling thread until the end, a stop, or the window closes."""

    def __init__(self, driver: LiveDriver) -> None:
        self.driver = driver
        self.prompt: str | None = None  # an emotion word being typed
        self.prompt_label = "add emotion"  # or "teach emotion" (the t key)
        self.status_fn: Callable[[], str | None] | None = None  # a running teaching/calibration (teach_live)
        self.message: str | None = None
        self._message_until = 0.0
        self.render_rate = Rate()
        self._warmed = False

    def stop(self) -> None:
        self.driver.stop()

    def show_message(self, text: str, seconds: float = 3.0) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds

    def overlay_state(self) -> OverlayState:
        d = self.driver
        s, eng = d.session, d.engine
        res = s.latest_result
        obs = s.latest_face
        pending = s.pending_text()
        transcript = (s.transcript() + (" " + pending if pending else "")).strip()
        msg = self.message if time.monotonic() < self._message_until else None
        if msg is None and self.status_fn is not None:
            msg = self.status_fn()
        st = state_from_result(
            res,
            face=obs.result if obs is not None else None,
            transcript=transcript,
            camera_on=d.camera is not None,
            mic_on=d.mic is not None,
            fps=self.render_rate.value(),
            prompt=self.prompt,
            message=msg,
            modalities=eng.modalities,
            face_present=s.face_present(),
            voice_present=s.voice_present() if d.mic is not None else None,
            voice_reason=s.voice_reason(),
        )
        st.prompt_label = self.prompt_label
        st.calibrated = bool(getattr(eng, "calibrated", False))
        if res is None:
            st.emotions = eng.emotions
            st.probabilities = np.full(len(st.emotions), np.nan)
            st.user_added = eng.user_added
        return st

    def warmup(self) -> None:
        """Draw the overlay once off screen before the stream (nothing is shown, recorded or handed on), with
        every part it draws live (the warm-up's face box and AUs, all bars, a caption), so drawing's
        first-use memory exists before the stream. Once; nothing to do when nothing is rendered."""
        d = self.driver
        if self._warmed or not self._needs_render() or d.session is None or d.engine is None:
            return
        self._warmed = True
        cam = d.camera
        img = cam.preview(0.0) if cam is not None else None
        if img is None:
            size = cam.size if cam is not None and cam.size else d.opt.canvas_size
            img = blank_canvas(*size)
        obs = d.session.warm_face
        st = self.overlay_state()
        if obs is not None:
            st.face_box, st.aus, st.face_present = obs.result.box, dict(obs.result.aus), True
        st.probabilities = np.linspace(0.9, 0.1, len(st.emotions))
        st.transcript = "warming up the overlay " * 4
        render(img, st)

    def _needs_render(self) -> bool:
        opt = self.driver.opt
        if opt.render is not None:
            return opt.render
        return (not opt.headless) or bool(opt.record) or self.driver.recorder is not None or opt.offscreen is not None

    def run(self, on_key: Callable[[int], None] | None = None) -> None:
        d, opt = self.driver, self.driver.opt
        d.stats.started = d.stats.started or time.monotonic()
        show = not opt.headless
        cam = d.camera
        frame_period = 1.0 / (cam.fps if cam is not None and cam.fps else 30.0)
        if opt.record and d.recorder is None:
            size = cam.size if cam is not None and cam.size else opt.canvas_size
            d.recorder = Recorder(opt.record, 1.0 / frame_period, size)
        render_on = self._needs_render()
        if show:
            import cv2

            cv2.namedWindow(opt.window_title, cv2.WINDOW_NORMAL | getattr(cv2, "WINDOW_KEEPRATIO", 0))
        d.start()
        cpu0 = time.thread_time()
        try:
            if render_on:
                self._render_loop(frame_period, show, on_key)
            else:
                while not d.stop_event.is_set() and not (d.inputs_done.is_set() and d.final_done.is_set()):
                    d.write_results(block=0.05)
        finally:
            d.stats.cpu["main"] = time.thread_time() - cpu0
            d.finish()
            if show:
                try:
                    import cv2

                    cv2.destroyAllWindows()
                    cv2.waitKey(1)
                except Exception:  # noqa: BLE001
                    pass

    def _render_loop(self, frame_period: float, show: bool, on_key) -> None:
        d = self.driver
        last_frame: Frame | None = None
        camera_ended = d.camera is None
        while not d.stop_event.is_set():
            if d.inputs_done.is_set() and d.final_done.is_set():
                return
            fr = None
            if not camera_ended:
                try:
                    fr = d._frames_show.get(timeout=frame_period)
                except queue.Empty:
                    fr = None
                if fr is EOS:
                    camera_ended, fr = True, None
            else:
                d.stop_event.wait(frame_period)
            d.write_results()
            if fr is None and not camera_ended:
                if show:
                    self._pump_keys(on_key)
                continue  # no new camera frame yet
            if fr is not None:
                last_frame = fr
                img, t_shown = fr.image.copy(), fr.t
            elif last_frame is not None:
                img, t_shown = last_frame.image.copy(), d.clock.now()
            else:
                img, t_shown = blank_canvas(*d.opt.canvas_size), d.clock.now()
            self._show(img, t_shown, show, on_key)

    def _show(self, img: np.ndarray, t_shown: float, show: bool, on_key) -> None:
        d, st = self.driver, self.driver.stats
        t0 = time.perf_counter()
        render(img, self.overlay_state())
        st.overlay_ms.append((time.perf_counter() - t0) * 1000.0)
        now = time.monotonic()
        self.render_rate.tick(now)
        st.rendered += 1
        if st.render_times:
            st.max_stall = max(st.max_stall, now - st.render_times[-1])
        st.render_times.append(now)
        if st.first_render is None:
            st.first_render = now
        if d.recorder is not None:
            d.recorder.write(img, t_shown)
        if d.opt.offscreen is not None:
            d.opt.offscreen(img)
        if show:
            import cv2

            cv2.imshow(d.opt.window_title, img)
            self._pump_keys(on_key)

    def _pump_keys(self, on_key: Callable[[int], None] | None) -> None:
        """Let the window process events; hand a pressed key to ``on_key``; a closed window stops the run."""
        import cv2

        key = cv2.waitKey(1)
        if key != -1 and on_key is not None:
            on_key(key & 0xFFFF)
        try:
            if cv2.getWindowProperty(self.driver.opt.window_title, cv2.WND_PROP_VISIBLE) < 1:
                self.driver.stop()  # the window was closed
        except Exception:  # noqa: BLE001
            pass
