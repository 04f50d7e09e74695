"""The stage workers of the live driver: one thread each for the face, voice and speech stages.

Each worker waits for its stage (a stage that cannot load drains its queue, its
modality is then absent), then pushes what its bounded queue delivers into the
driver's :class:`livemer.session.Session` until the end of the stream or a stop.
One bad frame, block or decode is counted and skipped (its first failure
becomes a notice), never the end of the run.
"""

from __future__ import annotations

import logging
import math
import queue
import time
from typing import TYPE_CHECKING

from .capture import EOS

if TYPE_CHECKING:  # pragma: no cover
    from .live import LiveDriver

log = logging.getLogger("livemer.live")


class LiveWorkers:
    """The worker loops of one :class:`livemer.live.LiveDriver` (its threads run them)."""

    def __init__(self, driver: LiveDriver) -> None:
        self.d = driver
        self._caption_until = -math.inf  # stream time up to which words have been shown in the caption

    def ready(self, stage: str, q: queue.Queue) -> bool:
        """Wait for a stage; without it, drain its queue until the end (its modality is then absent)."""
        if self.d.session.wait_stage(stage, self.d.stop_event):
            return True
        while not self.d.stop_event.is_set():
            try:
                if q.get(timeout=0.1) is EOS:
                    break
            except queue.Empty:
                continue
        return False

    def items(self, q: queue.Queue):
        """Items of ``q`` until the end of the stream or a stop (EOS is yielded last)."""
        while not self.d.stop_event.is_set():
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            yield item
            if item is EOS:
                return

    def face(self) -> None:
        if not self.ready("face", self.d._frames_face):
            return
        backend = self.d.session.face.backend
        if getattr(backend, "notice", None) and self.d.session.face.options.backend != "auto":
            self.d.session.notice(backend.notice)  # an explicit --face-backend was replaced: say so
        for fr in self.items(self.d._frames_face):
            if fr is EOS:
                return
            try:
                self.d.session.push_frame(fr.t, fr.image, fr.captured)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end face analysis
                self.d.session.item_error("face", exc)

    def voice(self) -> None:
        if not self.ready("voice", self.d._blocks_voice):
            return
        voice = self.d.session.voice  # warmed up as it loaded (SessionOptions.warmup)
        for blk in self.items(self.d._blocks_voice):
            try:
                if blk is EOS:
                    self.d.session.add_acoustic(voice.flush())
                    return
                self.d.session.push_audio(blk.t_end, blk.samples, blk.captured)
            except Exception as exc:  # noqa: BLE001 - one bad block must not end voice analysis
                self.d.session.item_error("acoustic", exc)
                if blk is EOS:
                    return
                voice.reset()

    def speech(self) -> None:
        if not self.ready("speech", self.d._blocks_speech):
            return
        s = self.d.session  # the recogniser warmed up as it loaded (SessionOptions.warmup)
        ended = False
        while not self.d.stop_event.is_set() and not ended:
            try:
                batch = [self.d._blocks_speech.get(timeout=0.1)]
            except queue.Empty:
                continue
            while True:  # take everything queued: one decode covers it
                try:
                    batch.append(self.d._blocks_speech.get_nowait())
                except queue.Empty:
                    break
            for b in batch:
                if b is EOS:
                    ended = True
                    break
                s.push_speech(b.t_end, b.samples)
            t0 = time.monotonic()
            self.d.asr_busy = True
            try:
                words = s.decode_speech(final=ended)
            except Exception as exc:  # noqa: BLE001 - a failed decode loses its words, not the recogniser
                s.item_error("asr", exc)
                continue
            finally:
                self.d.asr_busy = False
            if words is None:
                continue
            if self.d.stop_event.is_set() and not ended:
                return  # stopped during a decode: its words are no longer wanted
            log.debug(
                "asr: %s %.2f s (%d new words) at %.2f",
                s.speech.last_decode,
                time.monotonic() - t0,
                len(words),
                self.d.clock.now(),
            )
            self.word_latencies(words)

    def word_latencies(self, words) -> None:
        now = time.monotonic()
        # caption latency: speech up to a word's end first shown (pending or committed)
        for w in sorted([*words, *self.d.session.speech.pending_words], key=lambda w: w.end):
            if w.end > self._caption_until:
                self.d.stats.caption_latencies.append(now - self.d.clock.to_monotonic(w.end))
                self._caption_until = w.end
        for w in words:
            self.d.stats.transcript_latencies.append(now - self.d.clock.to_monotonic(w.end))
        self.d.stats.words += len(words)
