"""py-feat backend: offline weight check, fallback, thread safety of the import, Fex parsing."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import feature_adapters.face_pyfeat as fp
from feature_adapters.face import FaceBackendUnavailable
from feature_adapters.face_pyfeat import (
    V1_FILES,
    V2_FILES,
    PyFeatFaceBackend,
    fex_row_to_result,
    pyfeat_test_data_dir,
    pyfeat_weights_status,
)


def _fake_hf_cache(root, files) -> None:
    """Lay out ``files`` [(repo, name)] the way huggingface_hub caches them."""
    for repo, name in files:
        base = root / ("models--" + repo.replace("/", "--"))
        snap = base / "snapshots" / ("0" * 40)
        snap.mkdir(parents=True, exist_ok=True)
        (snap / name).write_bytes(b"x")
        (base / "refs").mkdir(exist_ok=True)
        (base / "refs" / "main").write_text("0" * 40)


@pytest.fixture
def fake_feat(tmp_path, monkeypatch):
    """A stand-in feat package dir whose resources/ cache we control; default HF cache emptied."""
    (tmp_path / "feat" / "resources").mkdir(parents=True)
    monkeypatch.setattr(fp, "_feat_dir", lambda: tmp_path / "feat")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    return tmp_path / "feat" / "resources"


def test_no_weights_means_unavailable(fake_feat):
    ok, detail = pyfeat_weights_status()
    assert not ok and "weights not on disk" in detail and "retinaface" in detail


def test_v2_weights_in_feat_cache_are_found(fake_feat):
    _fake_hf_cache(fake_feat, [(repo, names[0]) for repo, names in V2_FILES])
    assert pyfeat_weights_status() == (True, "Detectorv2")


def test_v1_weights_with_fallback_file_names_are_found(fake_feat):
    _fake_hf_cache(fake_feat, [(repo, names[-1]) for repo, names in V1_FILES])
    assert pyfeat_weights_status() == (True, "Detectorv1")


def test_partial_weights_are_not_enough(fake_feat):
    _fake_hf_cache(fake_feat, [(V1_FILES[0][0], V1_FILES[0][1][0]), (V1_FILES[1][0], V1_FILES[1][1][0])])
    ok, detail = pyfeat_weights_status()
    assert not ok and "py-feat/face_multitask_v2" in detail  # v2's missing file is named first


def test_constructor_refuses_without_weights(fake_feat):
    with pytest.raises(FaceBackendUnavailable, match="py-feat face backend: weights not on disk"):
        PyFeatFaceBackend()


def test_weights_absent_in_this_install():
    """This environment cannot download py-feat's weights; the check must say so quickly and offline."""
    ok, detail = pyfeat_weights_status()
    if ok:
        pytest.skip(f"py-feat weights are present here ({detail})")
    assert "weights not on disk" in detail


def test_bundled_test_data_is_found_without_importing_feat():
    d = pyfeat_test_data_dir()
    assert d is not None and (d / "single_face.jpg").is_file()
    assert len(list(d.glob("*-ph.jpg"))) == 4


@pytest.mark.slow
def test_import_feat_keeps_threads_and_omp_env():
    """``import feat`` sets OMP_NUM_THREADS=1; the helper must undo that (fresh interpreter)."""
    code = (
        "import os, torch; torch.set_num_threads(2); os.environ.pop('OMP_NUM_THREADS', None)\n"
        "from feature_adapters.face_pyfeat import import_feat_keeping_threads\n"
        "feat = import_feat_keeping_threads()\n"
        "print(torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS'), hasattr(feat, 'Detectorv2'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["2", "None", "True"]


def _fex_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_fex_rows_become_a_result_for_the_largest_face():
    small = {"FaceRectX": 10, "FaceRectY": 10, "FaceRectWidth": 20, "FaceRectHeight": 20, "AU12": 0.1}
    big = {
        "FaceRectX": 100.0,
        "FaceRectY": 50.0,
        "FaceRectWidth": 80.0,
        "FaceRectHeight": 100.0,
        "AU01": 0.2,
        "AU12": 0.9,
        "AU43": float("nan"),
        "anger": 0.3,
        "Pitch": 1.0,
        "Roll": 2.0,
        "Yaw": -3.0,
        **{f"x_{i}": float(i) for i in range(68)},
        **{f"y_{i}": float(2 * i) for i in range(68)},
    }
    r = fex_row_to_result(_fex_frame([small, big]))
    assert r.face_found and r.n_faces == 2
    assert r.box == (100.0, 50.0, 180.0, 150.0)
    assert r.aus == {"AU01": 0.2, "AU12": 0.9}  # NaN dropped, emotions not AUs
    assert r.head_pose == (-3.0, 1.0, 2.0)  # (yaw, pitch, roll)
    assert r.landmarks.shape == (68, 2) and r.landmarks[5].tolist() == [5.0, 10.0]


def test_fex_without_a_face_is_no_face():
    nan_row = {"FaceRectX": np.nan, "FaceRectY": np.nan, "FaceRectWidth": np.nan, "FaceRectHeight": np.nan}
    assert not fex_row_to_result(_fex_frame([nan_row])).face_found
    assert not fex_row_to_result(pd.DataFrame()).face_found
    r = fex_row_to_result(_fex_frame([{"FaceRectX": 1, "FaceRectY": 1, "FaceRectWidth": 5, "FaceRectHeight": 5}]))
    assert r.face_found and r.head_pose is None and r.landmarks is None and r.aus == {}
