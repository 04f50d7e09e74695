"""livemer.table: the batch's windows.parquet / windows.csv from per-input CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livemer import table
from livemer.outputs import result_columns

EMOS = ["happy", "sad"]


def per_input_csv(path, n, face_every=1, words="hi there", face_id=None):
    cols = result_columns(EMOS)
    rng = np.random.default_rng(n)
    df = pd.DataFrame({c: rng.random(n) for c in cols})
    df["start"] = np.arange(n) * 0.2
    df["end"] = df["start"] + 0.2
    df["words"] = [words if i % 2 else "" for i in range(n)]
    df["new_words"] = ""
    df["modalities_used"] = "tav"
    df["face_present"] = [int(i % face_every == 0) for i in range(n)]
    df["voice_present"] = 1
    df["voice"] = ["speech" if i % 3 else "no speech (silence)" for i in range(n)]
    df.loc[0, "p_sad"] = np.nan
    if face_id is not None:
        df.insert(0, "face_id", face_id)
    df.to_csv(path, index=False)
    return df


def test_columns_and_scene_marking():
    cols = table.table_columns(EMOS)
    assert cols[:4] == ["input", "face_id", "start", "end"]
    assert {"p_happy", "text_sad", "acoustic_happy", "visual_sad", "words", "face_present", "voice_present"} <= set(
        cols
    )
    assert table.is_scene_column("text_happy") and table.is_scene_column("acoustic_sad")
    assert table.is_scene_column("words") and table.is_scene_column("voice_present")
    assert table.is_scene_column("voice")  # the speech gate's reason belongs to the scene too
    assert not table.is_scene_column("visual_happy") and not table.is_scene_column("face_present")
    assert not table.is_scene_column("p_happy") and not table.is_scene_column("face_id")


def test_batch_table_streams_inputs_in_order(tmp_path):
    a = per_input_csv(tmp_path / "a.csv", 5, face_every=2)
    b = per_input_csv(tmp_path / "b.csv", 3, words="")  # no words at all: still strings
    c = per_input_csv(tmp_path / "c.csv", 4, face_id=[0, 1, 0, 1])  # several faces: the CSV's own ids
    pq, csv = table.write_batch_table(
        [("in/a.mp4", tmp_path / "a.csv"), ("in/b.wav", tmp_path / "b.csv"), ("c.mp4", tmp_path / "c.csv")],
        EMOS,
        tmp_path,
    )
    df = pd.read_parquet(pq)
    assert list(df.columns) == table.table_columns(EMOS)
    assert df["input"].tolist() == ["in/a.mp4"] * 5 + ["in/b.wav"] * 3 + ["c.mp4"] * 4
    assert df["end"].tolist() == pytest.approx(a["end"].tolist() + b["end"].tolist() + c["end"].tolist())
    assert df["p_happy"].tolist() == pytest.approx(
        a["p_happy"].tolist() + b["p_happy"].tolist() + c["p_happy"].tolist()
    )
    assert np.isnan(df["p_sad"].iloc[0])
    # one face per input: face 0 where present, empty where not; several: the ids as given
    fid = df["face_id"].tolist()
    assert [x if x == x else None for x in fid[:5]] == [0, None, 0, None, 0]
    assert fid[8:] == [0, 1, 0, 1]
    assert df["words"].tolist()[5:8] == ["", "", ""] and df["words"].iloc[1] == "hi there"
    back = pd.read_csv(csv, keep_default_na=False, na_values={"p_sad": [""]})
    assert len(back) == len(df) and back["input"].tolist() == df["input"].tolist()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_empty_batch_has_headers_only(tmp_path):
    pq, csv = table.write_batch_table([], EMOS, tmp_path)
    df = pd.read_parquet(pq)
    assert len(df) == 0 and list(df.columns) == table.table_columns(EMOS)
    assert csv.read_text().strip().split(",") == table.table_columns(EMOS)


def test_tracked_faces_csv_with_faceless_windows_reads_back(tmp_path):
    """A video's per-face CSV: windows without any face have an empty face_id (a nullable integer)."""
    per_input_csv(tmp_path / "f.csv", 5, face_id=pd.array([0, 1, None, 2, None], dtype="Int64"))
    df = table.read_input_csv(tmp_path / "f.csv", "f.mp4", EMOS)
    assert [None if pd.isna(x) else int(x) for x in df["face_id"].tolist()] == [0, 1, None, 2, None]
    pq, _ = table.write_batch_table([("f.mp4", tmp_path / "f.csv")], EMOS, tmp_path)
    assert pd.read_parquet(pq)["face_id"].isna().tolist() == [False, False, True, False, True]
