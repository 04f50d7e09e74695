"""livemer.cluster: the batch on a real Dask scheduler with two worker processes on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import threading

import pytest

from livemer import batch

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None, reason="espeak-ng or ffmpeg missing"
)

distributed = pytest.importorskip("distributed")

from test_batch import SENTENCES, options, speak  # noqa: E402  (same espeak clips and options)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster-clips")
    for i, s in enumerate(SENTENCES[:4]):
        speak(d / f"c{i}.wav", s)
    (d / "z_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20)
    return d


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
    ) as c:
        yield c


def test_unreachable_scheduler_is_one_line():
    from livemer.cluster import connect
    from livemer.errors import LivemerError

    with pytest.raises(LivemerError, match=r"--cluster tcp://127.0.0.1:9: cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:9")


@pytest.mark.slow
def test_cluster_outputs_equal_local_and_a_dead_worker_reruns_only_its_inputs(
    clips, cluster, tiny_checkpoint, tmp_path
):
    import pandas as pd

    inputs = sorted(clips.iterdir())
    local = batch.run_batch(inputs, options(tmp_path / "local", tiny_checkpoint), workers=1, progress_bar=False)
    killed: list[int] = []
    lock = threading.Lock()

    def kill_a_worker(o: batch.TaskOutcome) -> None:
        with lock:
            if not killed and o.ok:
                pid = int(o.worker.rsplit(":", 1)[1])
                assert pid != os.getpid()
                os.kill(pid, signal.SIGKILL)  # the nanny starts a new one; its plugin loads the models again
                killed.append(pid)

    res = batch.run_batch(
        inputs,
        options(tmp_path / "dask", tiny_checkpoint),
        cluster=cluster.scheduler_address,
        progress_bar=False,
        on_outcome=kill_a_worker,
    )
    assert killed and res.workers == 2
    assert [o.input for o in res.outcomes] == [str(p) for p in inputs]
    assert [o.ok for o in res.outcomes] == [o.ok for o in local.outcomes] == [True] * 4 + [False]
    assert "z_broken.wav" in res.outcomes[-1].message
    assert len({o.worker for o in res.outcomes if o.ok}) >= 2
    for p in inputs[:4]:
        a = pd.read_csv(tmp_path / "local" / f"{p.stem}.csv")
        b = pd.read_csv(tmp_path / "dask" / f"{p.stem}.csv")
        pd.testing.assert_frame_equal(a, b)
    ia = pd.read_csv(tmp_path / "local" / "index.csv")
    ib = pd.read_csv(tmp_path / "dask" / "index.csv")
    pd.testing.assert_frame_equal(ia.drop(columns=["message"]), ib.drop(columns=["message"]))
    ta = pd.read_parquet(tmp_path / "local" / "windows.parquet")
    tb = pd.read_parquet(tmp_path / "dask" / "windows.parquet")
    pd.testing.assert_frame_equal(ta, tb)
