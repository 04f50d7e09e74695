"""livemer.batch: work list, resume, per-input errors, warm engine, worker pool (and a worker that dies)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from livemer import batch

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None, reason="espeak-ng or ffmpeg missing"
)

SENTENCES = [
    "I am so happy to see you today",
    "this is terrible and I hate it",
    "what a lovely surprise",
    "I feel sad and tired",
    "leave me alone right now",
    "we won the game",
]


def speak(path: Path, text: str) -> Path:
    wav = path.with_suffix(".tmp.wav")
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ac", "1", "-ar", "16000", str(path)], check=True
    )
    wav.unlink()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for i, s in enumerate(SENTENCES):
        speak(d / f"clip{i}.wav", s)
    return d


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("bad") / "broken.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20)
    return p


def options(out: Path, ckpt: Path, **kw) -> batch.BatchOptions:
    kw.setdefault("video", False)
    kw.setdefault("plots", False)
    return batch.BatchOptions(out_dir=str(out), checkpoint=str(ckpt), modalities="ta", **kw)


def test_work_list_expands_folders_with_unique_stems(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "x.wav").write_bytes(b"0")
    (tmp_path / "index.wav").write_bytes(b"0")
    tasks = batch.work_list([tmp_path / "a", tmp_path / "b", tmp_path / "index.wav"])
    assert [t.index for t in tasks] == [0, 1, 2]
    assert [t.stem for t in tasks] == ["x", "x-2", "index-2"]  # "index" is index.csv's


def test_complete_needs_an_ok_row_and_every_output(tmp_path):
    opts = batch.BatchOptions(out_dir=str(tmp_path), video=False, plots=True)
    t = batch.Task(0, "in/a.wav", "a")
    photo = batch.Task(1, "in/p.jpg", "p")
    ok = {"in/a.wav": {"status": "ok"}}
    assert not batch.complete(t, opts, ok)
    for name in ("a.csv", "a.json"):
        (tmp_path / name).write_text("x")
    assert not batch.complete(t, opts, ok)  # the timeline is missing
    (tmp_path / "a.timeline.png").write_text("x")
    assert batch.complete(t, opts, ok)
    assert not batch.complete(t, opts, {"in/a.wav": {"status": "error"}})
    assert not batch.complete(t, opts, {})
    assert batch.complete(t, batch.BatchOptions(out_dir=str(tmp_path), video=False, plots=False), ok)
    assert not batch.complete(t, batch.BatchOptions(out_dir=str(tmp_path), video=True, plots=False), ok)
    okp = {"in/p.jpg": {"status": "ok"}}
    for name in ("p.csv", "p.json"):
        (tmp_path / name).write_text("x")
    assert not batch.complete(photo, opts, okp)  # an image's outputs: csv, json and the annotated png
    (tmp_path / "p.annotated.png").write_text("x")
    assert batch.complete(photo, opts, okp)


def test_options_reject_bad_numbers():
    from livemer.errors import LivemerError

    with pytest.raises(LivemerError, match="--hop"):
        batch.BatchOptions(out_dir=".", hop=0).check()
    with pytest.raises(LivemerError, match="--face-fps"):
        batch.BatchOptions(out_dir=".", face_fps=-1).check()


@pytest.fixture(scope="module")
def first_run(clips, bad, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch-out")
    inputs = [clips / "clip0.wav", clips / "clip1.wav", bad, clips / "clip2.wav"]
    res = batch.run_batch(inputs, options(out, tiny_checkpoint), workers=1, progress_bar=False)
    return inputs, out, res


def test_a_bad_input_never_stops_the_others(first_run):
    import pandas as pd

    inputs, out, res = first_run
    assert [o.input for o in res.outcomes] == [str(p) for p in inputs]
    assert [o.ok for o in res.outcomes] == [True, True, False, True]
    assert res.failures == 1
    idx = pd.read_csv(out / "index.csv")
    assert idx["status"].tolist() == ["ok", "ok", "error", "ok"]
    msg = idx.loc[2, "message"]
    assert "broken.wav" in msg and "Traceback" not in msg and "\n" not in msg
    for o in res.outcomes:
        if o.ok:
            assert all(Path(p).is_file() for p in o.written) and o.duration > 1.0 and o.seconds > 0


def test_batch_table_holds_every_window_of_every_input(first_run):
    import pandas as pd

    inputs, out, res = first_run
    df = pd.read_parquet(out / "windows.parquet")
    per_input = {str(p): pd.read_csv(out / f"{p.stem}.csv") for p in inputs if p.name != "broken.wav"}
    assert len(df) == sum(len(v) for v in per_input.values())
    assert list(df["input"].unique()) == list(per_input)  # in input order
    for name, one in per_input.items():
        part = df[df["input"] == name]
        assert part["end"].tolist() == pytest.approx(one["end"].tolist())
        assert part["p_happy"].tolist() == pytest.approx(one["p_happy"].tolist(), rel=1e-5, nan_ok=True)
    assert df["face_id"].isna().all() and (df["face_present"] == 0).all()  # audio only: no face
    assert (df["voice_present"] == 1).any() and df["words"].str.len().gt(0).any()
    assert len(pd.read_csv(out / "windows.csv")) == len(df)


def test_resume_skips_complete_inputs_and_reruns_the_rest(first_run, tiny_checkpoint, clips):
    import pandas as pd

    inputs, out, res = first_run
    before = {p: p.stat().st_mtime_ns for p in out.glob("clip*.csv")}
    (out / "clip1.json").unlink()  # clip1 is no longer complete
    res2 = batch.run_batch(
        inputs + [clips / "clip3.wav"], options(out, tiny_checkpoint), workers=1, resume=True, progress_bar=False
    )
    by = {Path(o.input).name: o for o in res2.outcomes}
    assert by["clip0.wav"].resumed and by["clip2.wav"].resumed
    assert not by["clip1.wav"].resumed and by["clip1.wav"].ok and (out / "clip1.json").is_file()
    assert not by["broken.wav"].ok and not by["broken.wav"].resumed  # errors are retried
    assert by["clip3.wav"].ok and not by["clip3.wav"].resumed
    assert (out / "clip0.csv").stat().st_mtime_ns == before[out / "clip0.csv"]  # not rewritten
    idx = pd.read_csv(out / "index.csv")
    assert idx["status"].tolist() == ["ok", "ok", "error", "ok", "ok"]
    assert idx.loc[0, "top_emotion"] == res.outcomes[0].row["top_emotion"]  # the earlier row is kept
    df = pd.read_parquet(out / "windows.parquet")
    assert df["input"].nunique() == 4  # resumed inputs' windows are in the table too


def test_warm_engine_is_loaded_once_per_process(tiny_checkpoint, tmp_path):
    o = options(tmp_path, tiny_checkpoint)
    e1 = batch.warm_engine(o)
    assert batch.warm_engine(options(tmp_path / "other", tiny_checkpoint)) is e1  # the out folder does not matter
    assert batch.warm_engine(options(tmp_path, tiny_checkpoint, hop=0.5)) is e1
    assert (
        batch.warm_engine(batch.BatchOptions(out_dir=str(tmp_path), checkpoint=str(tiny_checkpoint), modalities="a"))
        is not e1
    )


@pytest.mark.slow
def test_pool_gives_the_same_outputs_and_survives_a_dead_worker(clips, tiny_checkpoint, tmp_path):
    """Two worker processes: the outputs equal the in-process ones; killing a worker re-runs only its inputs."""
    import pandas as pd

    inputs = sorted(clips.glob("clip*.wav"))
    ref = batch.run_batch(inputs, options(tmp_path / "ref", tiny_checkpoint), workers=1, progress_bar=False)  # noqa: F841
    killed: list[int] = []
    lock = threading.Lock()

    def kill_first_worker(o: batch.TaskOutcome) -> None:
        with lock:
            if not killed:
                pid = int(o.worker.rsplit(":", 1)[1])
                assert pid != os.getpid()
                os.kill(pid, signal.SIGKILL)  # it has taken the next input already
                killed.append(pid)

    res = batch.run_batch(
        inputs, options(tmp_path / "pool", tiny_checkpoint), workers=2, progress_bar=False, on_outcome=kill_first_worker
    )
    assert killed and res.workers == 2
    assert [o.ok for o in res.outcomes] == [True] * len(inputs), [o.message for o in res.outcomes]
    assert len({o.worker for o in res.outcomes}) >= 2
    for p in inputs:
        a = pd.read_csv(tmp_path / "ref" / f"{p.stem}.csv")
        b = pd.read_csv(tmp_path / "pool" / f"{p.stem}.csv")
        pd.testing.assert_frame_equal(a, b)
