"""Batch analysis: many inputs, warm models, worker processes, resumable, one table.

:func:`run_batch` expands the inputs into a work list (:class:`Task`, one per
file, each with its output stem), skips those already complete when resuming,
and runs :func:`run_task` on every other one:

* in this process when one worker is asked for (or one input is left);
* in a pool of ``workers`` processes (:class:`concurrent.futures.ProcessPoolExecutor`),
  each loading the models once, at start, and keeping them warm;
* on a Dask distributed cluster (:mod:`livemer.cluster`), each Dask worker
  loading the models once through a worker plugin.

Every path runs the same :func:`run_task`, so outputs are the same. A task
never raises for a bad input: it returns a :class:`TaskOutcome` with the error,
which goes into ``index.csv``; the others go on. A worker process that dies
only costs its inputs a re-run (twice at most, then they are marked failed).
``index.csv`` is rewritten after every input, so an interrupted batch leaves a
valid index, and ``--resume`` picks up where it stopped. At the end the
per-input CSVs are gathered into ``windows.parquet`` / ``windows.csv``
(:mod:`livemer.table`).
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import LivemerError

#: How many times an input is re-run after the worker process running it died.
MAX_RETRIES = 2
#: Batches up to this many inputs print each input's notes (masked modalities, truncation); longer ones keep
#: them in index.csv (``message``) only. Errors are always printed.
NOTES_SHOWN_UP_TO = 20
#: ``index.csv`` is rewritten after every input of a batch up to this size, then once a second at most.
INDEX_EVERY_INPUT_UP_TO = 500


@dataclass(frozen=True)
class BatchOptions:
    """Everything a worker needs to analyse one input and write its outputs (picklable)."""

    out_dir: str
    checkpoint: str | None = None
    emotions: str | None = None
    modalities: str = "tav"
    face_backend: str = "auto"
    asr_model: str | None = None
    glove: str | None = None
    hop: float = 0.2
    face_fps: float = 5.0
    smoothing: float = 1.0
    video: bool = True  # the annotated video
    plots: bool = True  # the timeline PNG
    max_faces: int | None = None  # faces per still image (None: 5) / per video frame, each tracked (None: 1)

    @classmethod
    def from_args(cls, args) -> BatchOptions:
        return cls(
            out_dir=str(args.out),
            checkpoint=args.checkpoint,
            emotions=args.emotions,
            modalities=args.modalities,
            face_backend=args.face_backend,
            asr_model=args.asr_model,
            glove=args.glove,
            hop=float(args.hop),
            face_fps=float(args.face_fps),
            smoothing=float(args.smoothing),
            video=not args.no_video,
            plots=not getattr(args, "no_plots", False),
            max_faces=getattr(args, "max_faces", None),
        )

    def engine_key(self) -> tuple:
        """What decides the loaded models: tasks with the same key share one warm engine."""
        return (
            self.checkpoint,
            self.emotions,
            self.modalities,
            self.face_backend,
            self.asr_model,
            self.glove,
            self.smoothing,
        )

    def check(self) -> None:
        if not (self.hop > 0):
            raise LivemerError(f"--hop must be > 0 seconds, got {self.hop}")
        if not (self.face_fps > 0):
            raise LivemerError(f"--face-fps must be > 0, got {self.face_fps}")
        if self.smoothing < 0:
            raise LivemerError(f"--smoothing must be >= 0 seconds, got {self.smoothing}")
        from .images import check_max_faces

        if self.max_faces is not None:
            check_max_faces(self.max_faces)

    def faces_per_image(self) -> int:
        from .images import DEFAULT_MAX_FACES

        return self.max_faces or DEFAULT_MAX_FACES

    def faces_per_frame(self) -> int:
        return self.max_faces or 1


@dataclass(frozen=True)
class Task:
    """One input of the work list: its position, path and output stem."""

    index: int
    path: str
    stem: str


@dataclass
class TaskOutcome:
    """What became of one input (small and picklable: it travels back from a worker)."""

    index: int
    input: str
    ok: bool
    message: str = ""
    row: dict = field(default_factory=dict)  # its index.csv row
    written: list[str] = field(default_factory=list)
    duration: float = 0.0  # media seconds
    seconds: float = 0.0  # wall seconds spent on it
    worker: str = ""
    notices: list[str] = field(default_factory=list)
    top: tuple[str, float] | None = None
    modalities: str = ""
    resumed: bool = False


@dataclass
class BatchResult:
    out_dir: Path
    outcomes: list[TaskOutcome]
    index: Path
    table: Path | None
    table_csv: Path | None
    seconds: float
    workers: int

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def media_seconds(self) -> float:
        return sum(o.duration for o in self.outcomes if o.ok and not o.resumed)


# --------------------------------------------------------------------------- the warm engine of a worker

_ENGINES: dict[tuple, Any] = {}
_TASK_LOCK = threading.RLock()


def warm_engine(options: BatchOptions):
    """This process's engine for ``options``, loaded on first use and kept (one per worker)."""
    key = options.engine_key()
    eng = _ENGINES.get(key)
    if eng is None:
        from .engine import Engine, EngineConfig

        _close_drivers()  # one warm engine per process: a new configuration replaces the old one
        _ENGINES.clear()
        eng = Engine(
            EngineConfig(
                checkpoint=options.checkpoint,
                emotions=options.emotions,
                modalities=options.modalities,
                face_backend=options.face_backend,
                asr_model=options.asr_model,
                glove=options.glove,
                smoothing_tau=float(options.smoothing),
            )
        )
        _ENGINES[key] = eng
    return eng


def adopt_engine(options: BatchOptions, engine) -> None:
    """Use an engine already loaded in this process for ``options`` (the CLI's or a test's)."""
    if _ENGINES.get(options.engine_key()) is not engine:
        _close_drivers()
        _ENGINES.clear()
        _ENGINES[options.engine_key()] = engine


_DRIVERS: dict[tuple, Any] = {}


def _close_drivers() -> None:
    for d in _DRIVERS.values():
        d.close()
    _DRIVERS.clear()


def before_exit(fn: Callable[[], None]) -> None:
    """Run ``fn`` at interpreter exit while thread pools still run: MediaPipe closes its landmarker through
    one, and a landmarker left to its ``__del__`` after that prints a traceback. ``threading``'s exit hooks
    run before the thread pools shut down (atexit's run after)."""
    register = getattr(threading, "_register_atexit", None)
    try:
        (register or atexit.register)(fn)
    except RuntimeError:  # already shutting down
        atexit.register(fn)


@functools.cache
def _close_at_exit() -> None:
    before_exit(_close_drivers)


def release_warm() -> None:
    """Close this process's warm drivers and image sessions (the engines stay loaded)."""
    from .images import close_sessions

    _close_drivers()
    close_sessions()


def warm_driver(options: BatchOptions):
    """This process's :class:`livemer.offline.FileDriver` (its session's stages loaded once, kept warm)."""
    from .offline import FileDriver, OfflineSettings

    eng = warm_engine(options)
    key = (options.engine_key(), options.hop, options.face_fps, options.faces_per_frame())
    drv = _DRIVERS.get(key)
    if drv is None or drv.engine is not eng:
        _close_drivers()
        drv = _DRIVERS[key] = FileDriver(
            eng, OfflineSettings(hop=options.hop, face_fps=options.face_fps, max_faces=options.faces_per_frame())
        )
        _close_at_exit()
        drv.session.preload()
    return drv


def preload(options: BatchOptions) -> None:
    """Load the models and every stage before the first task (worker start-up)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    drv = warm_driver(options)
    drv.session.load(wait=tuple(drv.session.options.stages))


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


# --------------------------------------------------------------------------- one input


def expected_outputs(options: BatchOptions, task: Task) -> list[Path]:
    """The files a complete input has in the output folder."""
    from . import images
    from . import outputs as out

    if images.is_image(task.path):
        ip = images.output_paths(options.out_dir, task.stem)
        return [ip.csv, ip.json, ip.image]
    p = out.output_paths(options.out_dir, task.stem)
    files = [p.csv, p.json]
    if options.plots:
        files.append(p.timeline)
    if options.video:
        files.append(p.video)
    return files


def run_task(task: Task, options: BatchOptions, progress: Callable[[float], None] | None = None) -> TaskOutcome:
    """Analyse one input and write its outputs; never raises for a bad input (the outcome holds the error)."""
    from .errors import LivemerError, first_line

    t0 = time.perf_counter()
    outcome = TaskOutcome(task.index, task.path, False, worker=_worker_name())
    try:
        _analyse_and_write(task, options, outcome, progress)
        outcome.ok = True
    except Exception as exc:  # one bad input never stops the batch  # noqa: BLE001
        msg = first_line(exc)
        if not isinstance(exc, LivemerError):
            msg = f"internal error ({type(exc).__name__}): {msg}"
        if task.path not in msg:
            msg = f"{task.path}: {msg}"
        outcome.ok, outcome.message = False, msg
        from . import outputs as out

        outcome.row = out.index_row(task.path, error=msg)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _analyse_and_write(task: Task, options: BatchOptions, outcome: TaskOutcome, progress) -> None:
    from . import images

    with _TASK_LOCK:  # one input at a time per process: a Dask worker with several threads shares one driver
        engine = warm_engine(options)
        if images.is_image(task.path):
            return _image_and_write(engine, task, options, outcome)
        return _media_and_write(engine, warm_driver(options), task, options, outcome, progress)


def _media_and_write(engine, driver, task: Task, options: BatchOptions, outcome: TaskOutcome, progress) -> None:
    from . import outputs as out
    from .media import probe

    paths = out.output_paths(options.out_dir, task.stem)
    t0 = time.perf_counter()
    info = probe(task.path)
    outcome.duration = float(info.duration)
    result = driver.analyse(task.path, progress=progress, info=info)
    outcome.duration = float(result.duration)  # a truncated input: as far as it decodes
    written = [out.write_csv(result, paths.csv)]
    if options.plots:
        t1 = time.perf_counter()
        written.append(out.write_timeline(result, paths.timeline))
        result.timings["timeline"] = time.perf_counter() - t1
    if options.video:
        t1 = time.perf_counter()
        written.append(out.write_annotated_video(result, paths.video, progress=progress))
        result.timings["annotated_video"] = time.perf_counter() - t1
    result.timings["wall"] = time.perf_counter() - t0
    doc = out.result_summary(
        result,
        engine=engine,
        outputs=paths,
        extra_settings={
            "annotated_video": options.video,
            "timeline": options.plots,
            "smoothing_tau_video": options.smoothing,
        },
    )
    if not options.video:
        doc["outputs"].pop("video", None)
    if not options.plots:
        doc["outputs"].pop("timeline", None)
    written.insert(1, out.write_json(doc, paths.json))
    outcome.written = [str(w) for w in written]
    outcome.notices = list(result.notices)
    outcome.message = "; ".join(result.notices)
    outcome.row = out.index_row(task.path, result, outputs=paths)
    outcome.top = result.top_emotion()
    outcome.modalities = "".join(m[0] for m in result.modalities_present)


def _image_and_write(engine, task: Task, options: BatchOptions, outcome: TaskOutcome) -> None:
    from . import images

    paths = images.output_paths(options.out_dir, task.stem)
    res = images.analyse_image(engine, task.path, options.faces_per_image())
    outcome.written = [str(p) for p in images.write_outputs(res, None, paths, engine)]
    outcome.notices = [n for n in res.notices if n != images.SCENE_NOTE]
    outcome.message = "; ".join(res.notices)
    outcome.row = images.index_row(res, paths)
    outcome.row["input"] = task.path
    outcome.top = res.top_emotion()
    outcome.modalities = outcome.row["modalities"]


# --------------------------------------------------------------------------- work list and resume


def work_list(inputs: Sequence[str | os.PathLike]) -> list[Task]:
    """Inputs expanded (folders to their media files) into tasks with unique output stems."""
    from . import outputs as out
    from .images import IMAGE_SUFFIXES
    from .media import MEDIA_SUFFIXES, expand_inputs

    paths = expand_inputs(list(inputs), MEDIA_SUFFIXES | IMAGE_SUFFIXES)
    return [Task(i, str(p), stem) for i, (p, stem) in enumerate(zip(paths, out.unique_stems(paths)))]


def read_index(path: str | os.PathLike) -> dict[str, dict]:
    """The rows of an existing ``index.csv`` by input (empty when there is none or it is unreadable)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"input": str, "status": str, "message": str}, keep_default_na=False)
    except (OSError, ValueError):
        return {}
    rows = {}
    for rec in df.to_dict("records"):
        rows[str(rec.get("input"))] = {k: (None if v == "" else v) for k, v in rec.items()}
    return rows


def complete(task: Task, options: BatchOptions, previous: dict[str, dict]) -> bool:
    """Whether ``task`` finished in an earlier run: its index row says ok and all its outputs exist."""
    row = previous.get(task.path)
    if not row or row.get("status") != "ok":
        return False
    return all(p.is_file() and p.stat().st_size > 0 for p in expected_outputs(options, task))


def _resumed_outcome(task: Task, row: dict) -> TaskOutcome:
    dur = row.get("duration")
    return TaskOutcome(
        task.index,
        task.path,
        True,
        message=str(row.get("message") or ""),
        row=dict(row),
        duration=float(dur) if dur not in (None, "") else 0.0,
        resumed=True,
        top=(str(row["top_emotion"]), float(row["top_mean"]))
        if row.get("top_emotion") and row.get("top_mean") is not None
        else None,
        modalities=str(row.get("modalities") or ""),
    )


# --------------------------------------------------------------------------- executors


class _Runner:
    """Submits tasks and yields outcomes as they finish (a local pool or a Dask client)."""

    workers = 1

    def run(self, tasks: list[Task], options: BatchOptions) -> Iterable[TaskOutcome]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


class InProcessRunner(_Runner):
    """Tasks one after the other in this process, with one warm engine; ``progress`` gets media seconds."""

    def __init__(self, progress: Callable[[float], None] | None = None):
        self.progress = progress

    def run(self, tasks, options):
        for t in tasks:
            yield run_task(t, options, self.progress)


class PoolRunner(_Runner):
    """A pool of worker processes, each loading the models once at start (:func:`preload`).

    When a worker process dies (killed, out of memory) the pool breaks: the
    inputs that had not finished are re-run in a fresh pool, at most
    :data:`MAX_RETRIES` times each.
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))

    def _pool(self, options):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=mp.get_context("spawn"), initializer=preload, initargs=(options,)
        )

    def run(self, tasks, options):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        pending = list(tasks)
        tries: dict[int, int] = {}
        while pending:
            pool = self._pool(options)
            broken: list[Task] = []
            try:
                futs = {pool.submit(run_task, t, options): t for t in pending}
                for fut in as_completed(futs):
                    t = futs[fut]
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken.append(t)
            except BaseException:  # Ctrl-C, or the caller stopped: do not wait for the inputs in progress
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=not broken, cancel_futures=True)
            pending = []
            for t in sorted(broken, key=lambda t: t.index):
                tries[t.index] = tries.get(t.index, 0) + 1
                if tries[t.index] > MAX_RETRIES:
                    msg = f"{t.path}: the worker process died while analysing it ({tries[t.index]} tries)"
                    from . import outputs as out

                    yield TaskOutcome(t.index, t.path, False, msg, row=out.index_row(t.path, error=msg))
                else:
                    pending.append(t)


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- the batch


def run_batch(
    inputs: Sequence[str | os.PathLike],
    options: BatchOptions,
    *,
    workers: int | None = None,
    resume: bool = False,
    cluster: str | None = None,
    engine=None,
    table: bool = True,
    on_outcome: Callable[[TaskOutcome], None] | None = None,
    progress_bar: bool | None = None,
    keep_warm: bool = False,
) -> BatchResult:
    """Analyse ``inputs`` and write every output, ``index.csv`` and the batch table.

    ``workers``: processes on this machine (default: the number of cores; one
    runs in this process, with ``engine`` when given). ``cluster``: a Dask
    scheduler address (``tcp://HOST:PORT``); ``workers`` is then ignored.
    ``resume``: skip the inputs whose outputs are complete. ``keep_warm``: leave this process's stages
    loaded for a next call (else they are closed at the end; the engine stays). Raises
    :class:`LivemerError` only for unusable options or output folder.
    """
    from . import outputs as out
    from .table import write_batch_table

    t_start = time.perf_counter()
    options.check()
    out_dir = out.check_writable(options.out_dir)
    tasks = work_list(inputs)
    index_path = out_dir / out.INDEX_NAME
    previous = read_index(index_path) if resume else {}
    outcomes: dict[int, TaskOutcome] = {}
    todo: list[Task] = []
    for t in tasks:
        if resume and complete(t, options, previous):
            outcomes[t.index] = _resumed_outcome(t, previous[t.path])
        else:
            todo.append(t)

    n_workers = 1 if workers is None and len(todo) <= 1 else (workers or default_workers())
    if cluster:
        from .cluster import ClusterRunner

        runner: _Runner = ClusterRunner(cluster)
    elif n_workers <= 1 or len(todo) <= 1:
        if engine is not None:
            adopt_engine(options, engine)
        runner = InProcessRunner()
    else:
        runner = PoolRunner(min(n_workers, len(todo)))
    bar = _progress(len(tasks), len(tasks) - len(todo), enabled=progress_bar)

    emotions = None
    last_index = 0.0
    try:
        for o in runner.run(todo, options):
            outcomes[o.index] = o
            bar.update(1)
            if not o.ok:
                bar.write(f"livemer: error: {o.message}", file=sys.stderr)
            if len(tasks) <= NOTES_SHOWN_UP_TO:  # a long batch keeps its notes in index.csv only
                for note in o.notices:
                    bar.write(f"livemer: note: {Path(o.input).name}: {note}", file=sys.stderr)
            if on_outcome is not None:
                on_outcome(o)
            emotions = emotions or _emotions_of(o)
            # rewritten as results come, so an interrupted batch keeps its index (a long one: once a second at most)
            if len(tasks) <= INDEX_EVERY_INPUT_UP_TO or time.monotonic() - last_index > 1.0:
                _write_index(outcomes, tasks, emotions, index_path)
                last_index = time.monotonic()
    finally:
        bar.close()
        runner.close()
        if not keep_warm:
            release_warm()
        emotions = emotions or _emotions_of_any(outcomes.values()) or _model_emotions(options, engine)
        _write_index(outcomes, tasks, emotions, index_path)
    table_pq = table_csv = None
    if table:
        from . import outputs as out_mod

        entries = [
            (t.path, out_mod.output_paths(out_dir, t.stem).csv)
            for t in tasks
            if t.index in outcomes and outcomes[t.index].ok
        ]
        table_pq, table_csv = write_batch_table(entries, emotions, out_dir)
    ordered = [outcomes[t.index] for t in tasks if t.index in outcomes]
    return BatchResult(
        out_dir, ordered, index_path, table_pq, table_csv, time.perf_counter() - t_start, getattr(runner, "workers", 1)
    )


def _emotions_of(o: TaskOutcome) -> list[str] | None:
    if not o.ok:
        return None
    ems = [k[len("mean_") :] for k in o.row if k.startswith("mean_")]
    return ems or None


def _emotions_of_any(outcomes: Iterable[TaskOutcome]) -> list[str] | None:
    for o in outcomes:
        e = _emotions_of(o)
        if e:
            return e
    return None


def _model_emotions(options: BatchOptions, engine) -> list[str]:
    """The emotion set, for the headers of an index with no successful input (loads the models if needed)."""
    try:
        return list((engine or warm_engine(options)).emotions)
    except Exception:  # the header is all that is at stake here  # noqa: BLE001
        return []


def _write_index(outcomes: dict[int, TaskOutcome], tasks: list[Task], emotions, path: Path) -> None:
    from . import outputs as out

    rows = [outcomes[t.index].row for t in tasks if t.index in outcomes]
    out.write_index(rows, emotions or [], path)


def _progress(total: int, done: int, enabled: bool | None):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="input",
        desc="livemer file",
        disable=(None if enabled is None else not enabled),
        file=sys.stderr,
        smoothing=0.1,
    )


def describe(result: BatchResult) -> dict:
    """A JSON-safe summary of a batch (for logs and benchmarks)."""
    return {
        "out_dir": str(result.out_dir),
        "inputs": len(result.outcomes),
        "failures": result.failures,
        "seconds": result.seconds,
        "media_seconds": result.media_seconds,
        "workers": result.workers,
        "outcomes": [asdict(o) for o in result.outcomes],
    }


__all__ = [
    "BatchOptions",
    "Task",
    "TaskOutcome",
    "BatchResult",
    "run_batch",
    "run_task",
    "work_list",
    "warm_engine",
    "warm_driver",
    "preload",
    "complete",
    "read_index",
    "expected_outputs",
    "default_workers",
    "MAX_RETRIES",
]
