"""Face backend base class, frame validation and the backend factory."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from feature_adapters.face import (
    FaceBackend,
    FaceError,
    FaceInputError,
    FaceResult,
    bgr_to_rgb,
    make_face_backend,
)
from feature_adapters.face_pyfeat import pyfeat_weights_status


class _Recorder(FaceBackend):
    """A backend that records what the base class hands it."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[np.ndarray, int]] = []
        self.closed_count = 0

    def _process_rgb(self, rgb, timestamp_ms):
        self.calls.append((rgb, timestamp_ms))
        return FaceResult(face_found=True, aus={"AU12": 0.5})

    def _close(self):
        self.closed_count += 1


def test_bgr_to_rgb_swaps_channels_and_accepts_grey_and_bgra():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    rgb = bgr_to_rgb(bgr)
    assert rgb.shape == (4, 5, 3) and rgb.flags.c_contiguous
    assert rgb[0, 0, 0] == 200 and rgb[0, 0, 2] == 10
    grey = bgr_to_rgb(np.full((4, 5), 7, np.uint8))
    assert grey.shape == (4, 5, 3) and (grey == 7).all()
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 99
    assert bgr_to_rgb(bgra).shape == (4, 5, 3) and bgr_to_rgb(bgra)[0, 0, 0] == 99


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((4, 5, 3), np.float32), "uint8"),
        (np.zeros((4, 5, 2), np.uint8), "(H, W, 3)"),
        (np.zeros((1, 5, 3), np.uint8), "too small"),
        ([[0, 0, 0]], "numpy"),
        (None, "numpy"),
    ],
)
def test_bad_frames_raise_one_line_error(bad, words):
    with pytest.raises(FaceInputError) as err:
        bgr_to_rgb(bad)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_timestamps_are_made_strictly_increasing_but_reported_as_given():
    b = _Recorder()
    frame = np.zeros((8, 8, 3), np.uint8)
    results = [b.process(frame, t) for t in (100, 100, 50, 100.4, 200)]
    sent = [ts for _, ts in b.calls]
    assert sent == [100, 101, 102, 103, 200]
    assert [r.timestamp_ms for r in results] == [100, 100, 50, 100, 200]
    assert all(r.backend == "recorder" for r in results)


@pytest.mark.parametrize("bad_ts", [float("nan"), float("inf"), "soon", None])
def test_bad_timestamps_raise_one_line_error(bad_ts):
    with pytest.raises(FaceInputError, match="timestamp"):
        _Recorder().process(np.zeros((8, 8, 3), np.uint8), bad_ts)


def test_process_many_and_context_manager_close_once():
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3
    with _Recorder() as b:
        out = b.process_many(frames, [0, 40, 80])
        assert len(out) == 3 and all(r.face_found for r in out)
        with pytest.raises(FaceInputError):
            b.process_many(frames, [0, 40])
    assert b.closed_count == 1
    b.close()
    assert b.closed_count == 1
    with pytest.raises(FaceError, match="closed"):
        b.process(frames[0], 120)


def test_face_result_pose_properties():
    r = FaceResult(face_found=True, head_pose=(10.0, -5.0, 2.5))
    assert (r.yaw, r.pitch, r.roll) == (10.0, -5.0, 2.5)
    assert np.isnan(FaceResult(face_found=False).yaw)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown kind 'openface'"):
        make_face_backend("openface")


@pytest.mark.slow
def test_mediapipe_kind_has_no_notice():
    with make_face_backend("mediapipe") as b:
        assert b.name == "mediapipe" and b.notice is None


@pytest.mark.slow
@pytest.mark.parametrize("kind, level", [("pyfeat", logging.WARNING), ("auto", logging.INFO)])
def test_pyfeat_without_weights_falls_back_to_mediapipe_with_notice(kind, level, caplog):
    ok, _ = pyfeat_weights_status()
    if ok:
        pytest.skip("py-feat weights are on disk here; the fallback does not happen")
    with caplog.at_level(logging.INFO, logger="feature_adapters.face"):
        backend = make_face_backend(kind)
    with backend:
        assert backend.name == "mediapipe"
        assert backend.notice is not None and "py-feat unavailable" in backend.notice
        assert "\n" not in backend.notice
    records = [r for r in caplog.records if r.name == "feature_adapters.face"]
    assert len(records) == 1 and records[0].levelno == level
    assert records[0].getMessage() == backend.notice
