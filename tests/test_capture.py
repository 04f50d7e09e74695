"""livemer.capture: bounded drop-oldest queues, file playback in real time, missing devices."""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from livemer.capture import (
    BLOCK,
    EOS,
    SR,
    AudioBlock,
    CameraSource,
    CaptureError,
    Clock,
    Frame,
    MicSource,
    open_camera,
    open_mic,
    put_latest,
)


def _drain(q: queue.Queue, timeout: float = 30.0) -> list:
    items = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            it = q.get(timeout=0.5)
        except queue.Empty:
            continue
        if it is EOS:
            return items
        items.append(it)
    raise AssertionError("no end of stream")


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    import cv2

    path = tmp_path_factory.mktemp("cap") / "ten.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (64, 48))
    for i in range(10):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :] = (i * 20, 0, 0)
        w.write(img)
    w.release()
    return path


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory):
    import soundfile as sf

    path = tmp_path_factory.mktemp("cap") / "tone.wav"
    t = np.arange(int(0.5 * 22050)) / 22050
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 22050)
    return path


def test_put_latest_drops_the_oldest():
    q: queue.Queue = queue.Queue(maxsize=2)
    assert put_latest(q, 1) == 0
    assert put_latest(q, 2) == 0
    assert put_latest(q, 3) == 1
    assert [q.get_nowait(), q.get_nowait()] == [2, 3]


def test_none_disables_a_source():
    c = Clock()
    assert open_camera("none", c) is None and open_camera(None, c) is None
    assert open_mic("none", c) is None and open_mic("off", c) is None


def test_missing_camera_index_is_a_one_line_error():
    src = CameraSource("7", Clock())
    src.subscribe(1)
    src.start()
    with pytest.raises(CaptureError) as ei:
        src.wait_open()  # bounded by OPEN_TIMEOUT; the measured time is in benchmarks/bench_live.py
    msg = str(ei.value)
    assert "7" in msg and "\n" not in msg
    src.join(2.0)
    assert not src.is_alive()


def test_missing_video_path_and_corrupt_video(tmp_path):
    with pytest.raises(CaptureError, match="no such video file"):
        CameraSource(str(tmp_path / "nope.mp4"), Clock())
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n")
    src = CameraSource(str(bad), Clock())
    src.subscribe(1)
    src.start()
    with pytest.raises(CaptureError) as ei:
        src.wait_open()
    assert "notes.mp4" in str(ei.value) and "\n" not in str(ei.value)


@pytest.mark.slow
def test_camera_file_plays_in_real_time_and_ends(small_video):
    clock = Clock()
    src = CameraSource(str(small_video), clock)
    q = src.subscribe(100)
    src.start()
    src.wait_open()
    assert src.fps == pytest.approx(20.0)
    time.sleep(0.2)
    assert q.empty()  # nothing before begin()
    clock.reset()
    t0 = time.monotonic()
    src.begin()
    frames = _drain(q)
    elapsed = time.monotonic() - t0
    assert src.finished.is_set()
    assert 1 <= len(frames) <= 10 and all(isinstance(f, Frame) for f in frames)
    # stamped at their media time, in order, and not delivered faster than real time
    assert all(f.t == pytest.approx(f.index / 20.0) for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert elapsed >= frames[-1].index / 20.0 - 0.01
    assert frames[0].image.shape == (48, 64, 3)


def test_slow_consumer_gets_fresh_frames(small_video):
    clock = Clock()
    src = CameraSource(str(small_video), clock)
    q = src.subscribe(1)
    src.start()
    src.wait_open()
    clock.reset()
    src.begin()
    src.finished.wait(10)
    last = q.get(timeout=1)
    if last is EOS:  # EOS replaced the last frame in a queue of one: fine, the queue never grew
        assert q.empty()
    else:
        assert last.index >= 8
    assert src.dropped >= 5


@pytest.mark.slow
def test_mic_file_plays_contiguous_blocks(short_wav):
    clock = Clock()
    src = MicSource(str(short_wav), clock)
    q = src.subscribe(1000)
    src.start()
    src.wait_open()
    clock.reset()
    t0 = time.monotonic()
    src.begin()
    blocks = _drain(q)
    elapsed = time.monotonic() - t0
    assert all(isinstance(b, AudioBlock) and b.samples.dtype == np.float32 for b in blocks)
    total = sum(b.samples.size for b in blocks)
    assert total == pytest.approx(0.5 * SR, abs=2)  # resampled to 16 kHz
    assert all(b.samples.size == BLOCK for b in blocks[:-1])
    for a, b in zip(blocks, blocks[1:]):
        assert b.t_start == pytest.approx(a.t_end)
    assert blocks[-1].t_end == pytest.approx(0.5, abs=1e-3)
    assert elapsed >= 0.45  # real time, not as fast as possible
    rms = np.sqrt(np.mean(np.concatenate([b.samples for b in blocks]) ** 2))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


def test_mic_missing_file_and_undecodable_file(tmp_path):
    with pytest.raises(CaptureError, match="no such audio file"):
        MicSource(str(tmp_path / "nope.wav"), Clock())
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    src = MicSource(str(bad), Clock())
    src.subscribe(1)
    src.start()
    with pytest.raises(CaptureError) as ei:
        src.wait_open()
    assert "bad.wav" in str(ei.value) and "\n" not in str(ei.value)


def test_missing_mic_device_is_a_one_line_error():
    src = MicSource("no-such-microphone-xyz", Clock())
    src.subscribe(1)
    src.start()
    with pytest.raises(CaptureError) as ei:
        src.wait_open()
    assert "no-such-microphone-xyz" in str(ei.value) and "\n" not in str(ei.value)


def test_stop_ends_playback_quickly(small_video):
    clock = Clock()
    src = CameraSource(str(small_video), clock, loop=True)
    q = src.subscribe(2)
    src.start()
    src.wait_open()
    clock.reset()
    src.begin()
    q.get(timeout=5)
    src.stop()
    src.join(1.0)
    assert not src.is_alive() and src.finished.is_set()


def test_mic_file_loops_with_contiguous_stream_times(short_wav):
    clock = Clock()
    src = open_mic(str(short_wav), clock, paced=False, loop=True)
    q = src.subscribe(4, lossless=True)
    src.start()
    src.wait_open()
    clock.reset()
    src.begin()
    blocks = [q.get(timeout=10) for _ in range(60)]  # 60 x 32 ms: over three passes of the 0.5 s file
    src.stop()
    src.join(2.0)
    assert EOS not in blocks and not src.is_alive()
    assert blocks[-1].t_end > 1.5
    for a, b in zip(blocks, blocks[1:]):
        assert b.t_start == pytest.approx(a.t_end)  # time runs on across the loop, no gap, no overlap
    per_pass = int(np.ceil(0.5 * SR / BLOCK))
    assert np.array_equal(blocks[0].samples, blocks[per_pass].samples)  # the file started again


def test_camera_preview_is_the_first_picture_before_the_stream(small_video):
    """The session warms its face stage on ``preview()``: the file's first frame, a copy, before begin()."""
    clock = Clock()
    src = CameraSource(str(small_video), clock)
    q = src.subscribe(100)
    src.start()
    img = src.preview()
    assert img is not None and img.shape == (48, 64, 3)
    img[:] = 255
    assert src.preview().max() < 255  # a copy each time
    assert q.empty()  # nothing delivered before begin()
    src.stop()
    src.join(2.0)
