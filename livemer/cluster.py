"""``livemer file INPUTS --cluster tcp://HOST:PORT``: the batch on a Dask distributed cluster.

The same :func:`livemer.batch.run_task` runs on the Dask workers as in a local
pool, so results and outputs are the same. :class:`EnginePlugin` (a Dask
``WorkerPlugin``) loads the models once in every worker, when it joins, and
they stay warm for all the inputs it gets. Dask's scheduler re-runs the inputs
of a worker that dies on another worker (up to its ``allowed-failures``, 3 by
default); an input that kills workers again and again is reported as failed
in ``index.csv`` and the others go on.

The inputs and ``--out`` must be at the same path on every worker (a shared
file system, or one machine); paths are made absolute before they are sent.
Start a cluster with the ``dask`` commands::

    dask scheduler                                   # prints tcp://HOST:8786
    dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1   # on each machine
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterable

from .batch import BatchOptions, Task, TaskOutcome, _Runner, preload, run_task
from .errors import LivemerError, first_line

PLUGIN_NAME = "livemer-engine"
CONNECT_TIMEOUT_S = 15


def _plugin_base():
    from distributed.diagnostics.plugin import WorkerPlugin

    return WorkerPlugin


class EnginePlugin(_plugin_base()):
    """Loads livemer's models once in each Dask worker (and in every worker that joins later)."""

    name = PLUGIN_NAME

    def __init__(self, options: BatchOptions):
        self.options = options

    def setup(self, worker) -> None:
        preload(self.options)


def connect(address: str):
    """A Dask client for ``address``, or a one-line :class:`LivemerError` when the scheduler is unreachable."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise LivemerError("--cluster needs Dask: pip install 'dask[distributed]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise LivemerError(f"--cluster {address}: cannot reach the Dask scheduler ({first_line(exc)})") from None


class ClusterRunner(_Runner):
    """Runs the tasks on a Dask cluster, one Dask task per input, and yields outcomes as they finish."""

    def __init__(self, address: str):
        self.address = address
        self.client = connect(address)
        self.workers = len(self.client.scheduler_info().get("workers", {}))

    def run(self, tasks: list[Task], options: BatchOptions) -> Iterable[TaskOutcome]:
        from distributed import as_completed

        from . import outputs as out

        options = dataclasses.replace(options, out_dir=os.path.abspath(options.out_dir))
        self.client.register_plugin(EnginePlugin(options), name=PLUGIN_NAME)
        run_id = uuid.uuid4().hex[:8]
        futures, by_key = [], {}
        for t in tasks:
            sent = dataclasses.replace(t, path=os.path.abspath(t.path))
            fut = self.client.submit(run_task, sent, options, key=f"livemer-{run_id}-{t.index}", pure=False)
            futures.append(fut)
            by_key[fut.key] = t
        for fut in as_completed(futures, loop=self.client.loop):
            t = by_key[fut.key]
            try:
                o = fut.result()
            except Exception as exc:  # KilledWorker (an input that kills workers), a lost scheduler, ...  # noqa: BLE001
                msg = f"{t.path}: failed on the cluster ({type(exc).__name__}: {first_line(exc)})"
                o = TaskOutcome(t.index, t.path, False, msg, row=out.index_row(t.path, error=msg))
            else:
                o.input = t.path
                o.row["input"] = t.path
            yield o

    def close(self) -> None:
        self.client.close()


__all__ = ["EnginePlugin", "ClusterRunner", "connect", "PLUGIN_NAME"]
