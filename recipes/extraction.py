"""Running a cached, per-file extraction over a whole corpus on a small process pool, with an honest report.

The per-file work (a face photo through the live face backend, a speech clip
through the live acoustic extractor) is a picklable *task*: a top-level
function ``task(path) -> ItemStatus`` that fills the
:class:`recipes.feature_cache.FeatureCache` and never raises. :func:`run_pool`
maps it over the files on ``workers`` processes (``spawn``ed, one BLAS/OpenMP
thread each) and gathers an :class:`ExtractionReport`: wall time, per-item
time, and which files had no face or could not be read (each such file gets
one warning line, never a traceback). The loaders then read the cache.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

OK, NO_FACE, FAILED = "ok", "no_face", "failed"
STATUSES = (OK, NO_FACE, FAILED)

#: Set in spawned workers: one thread per library, and MediaPipe/TFLite's native log chatter off stderr.
_WORKER_ENV = {
    **{
        k: "1"
        for k in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMEXPR_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        )
    },
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


@dataclass(frozen=True)
class ItemStatus:
    """What happened to one file: ``ok``, ``no_face`` (analysed, nothing found) or ``failed`` (``message`` says why)."""

    key: str
    status: str
    seconds: float = 0.0  # wall time of the item's work (0 for a cache hit)
    cached: bool = False  # answered from the cache
    message: str = ""
    cpu_s: float = 0.0  # CPU time of the item's work in its process (contention-free cost)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"item status must be one of {', '.join(STATUSES)}, got {self.status!r}")


@dataclass
class ExtractionReport:
    """Statuses of every file of one run, in input order, and the run's wall time."""

    name: str
    items: list[ItemStatus] = field(default_factory=list)
    wall_s: float = 0.0
    workers: int = 1

    def keys(self, status: str) -> list[str]:
        return [i.key for i in self.items if i.status == status]

    def counts(self) -> dict[str, int]:
        c = Counter(i.status for i in self.items)
        return {s: int(c.get(s, 0)) for s in STATUSES}

    def computed(self) -> list[ItemStatus]:
        return [i for i in self.items if not i.cached]

    def summary(self) -> str:
        """A few lines: counts, wall time, per-item time (of the items computed, not cache hits)."""
        c = self.counts()
        comp = self.computed()
        per = (sum(i.seconds for i in comp) / len(comp) * 1000.0) if comp else 0.0
        cpu = (sum(i.cpu_s for i in comp) / len(comp) * 1000.0) if comp else 0.0
        lines = [
            f"{self.name}: {len(self.items)} files, {c[OK]} ok, {c[NO_FACE]} no face, {c[FAILED]} failed; "
            f"{len(self.items) - len(comp)} from the cache, {len(comp)} computed",
            f"{self.name}: wall {self.wall_s:.1f} s on {self.workers} worker(s); "
            f"per computed item {per:.1f} ms of worker wall time, {cpu:.1f} ms CPU"
            + (f"; throughput {len(self.items) / self.wall_s:.1f} files/s" if self.wall_s > 0 else ""),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        comp = self.computed()
        return {
            "name": self.name,
            "files": len(self.items),
            **self.counts(),
            "computed": len(comp),
            "wall_s": round(self.wall_s, 2),
            "workers": self.workers,
            "per_item_ms": round(sum(i.seconds for i in comp) / len(comp) * 1000.0, 2) if comp else None,
            "per_item_cpu_ms": round(sum(i.cpu_s for i in comp) / len(comp) * 1000.0, 2) if comp else None,
            "no_face_files": self.keys(NO_FACE),
            "failed_files": {i.key: i.message for i in self.items if i.status == FAILED},
        }


def read_labels(labels: str | os.PathLike, emotions: Sequence[str], error: type[Exception]) -> list[dict[str, str]]:
    """The rows of a corpus's ``labels.csv``; ``error`` (one line naming the file) if unreadable or a label is unknown."""
    import csv

    try:
        with open(labels, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise error(f"{labels}: cannot read the labels file ({exc.strerror})") from None
    for row in rows:
        row["emotion"] = (row.get("emotion") or "").strip()
        if row["emotion"] not in emotions:
            raise error(f"{labels}: unknown emotion {row['emotion']!r} for {row.get('file')}")
    return rows


def label_sets(items: Sequence, group: str, emotions: Sequence[str]) -> dict[str, list[str]]:
    """``getattr(item, group)`` -> the emotions its items are labelled with, in ``emotions`` order."""
    got: dict[str, set[str]] = {}
    for it in items:
        got.setdefault(getattr(it, group), set()).add(it.emotion)
    return {k: [e for e in emotions if e in v] for k, v in got.items()}


def first_per_class(items: Sequence, limit: int, key: Callable) -> list:
    """The first ``limit`` items of each ``key(item)`` class, in input order (quick runs and tests)."""
    seen: Counter = Counter()
    out = []
    for it in items:
        k = key(it)
        if seen[k] < limit:
            seen[k] += 1
            out.append(it)
    return out


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def worker_env() -> Iterator[None]:
    """Children spawned inside see :data:`_WORKER_ENV` (one thread per library); the parent's values come back after."""
    old = {k: os.environ.get(k) for k in _WORKER_ENV}
    os.environ.update(_WORKER_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker_init() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass


def run_pool(
    task: Callable[[str], ItemStatus],
    keys: Sequence[str],
    *,
    name: str,
    workers: int = 2,
    progress: bool = True,
    chunksize: int = 8,
) -> ExtractionReport:
    """``task`` over ``keys`` on ``workers`` spawned processes (in this process when ``workers <= 1``).

    ``task`` must be picklable (a top-level function or a ``functools.partial`` of one)
    and return an :class:`ItemStatus` for every key, never raise. A failed item is
    logged as one warning line. Workers are *spawned* (MediaPipe's threads do not
    survive a fork), so a script calling this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    keys = list(keys)
    report = ExtractionReport(name=name, workers=max(1, int(workers)))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(keys), desc=name, mininterval=5.0, unit="file")
    t0 = time.perf_counter()

    def take(st: ItemStatus) -> None:
        report.items.append(st)
        if st.status == FAILED:
            log.warning("%s: skipped %s", name, st.message if st.key in st.message else f"{st.key} ({st.message})")
        if bar is not None:
            bar.update(1)

    try:
        if report.workers == 1 or len(keys) <= 1:
            _worker_init()
            for k in keys:
                take(task(k))
        else:
            with (
                worker_env(),
                ProcessPoolExecutor(
                    max_workers=report.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                ) as pool,
            ):
                for st in pool.map(task, keys, chunksize=max(1, int(chunksize))):
                    take(st)
    finally:
        if bar is not None:
            bar.close()
    report.wall_s = time.perf_counter() - t0
    return report


def extract_by_group(
    items: Sequence,
    group: Callable[[object], str],
    extract: Callable[..., ExtractionReport],
    prefix: str,
    *,
    workers: int,
    report: str | os.PathLike | None = None,
) -> list[ExtractionReport]:
    """The extraction CLIs' loop: ``extract`` each group of ``items`` (in first-seen order), print each summary,
    write the reports to ``report`` when given, and print them as one JSON line (file lists left out)."""
    import json

    reports = []
    for g in dict.fromkeys(group(x) for x in items):
        rep = extract([x for x in items if group(x) == g], workers=workers, progress=True, name=f"{prefix}/{g}")
        print(rep.summary(), flush=True)
        reports.append(rep)
    if report:
        write_report(report, reports)
    print(json.dumps({r.name: {k: v for k, v in r.to_dict().items() if not k.endswith("_files")} for r in reports}))
    return reports


def write_report(path: str | os.PathLike, reports: Sequence[ExtractionReport]) -> None:
    """Write ``reports`` as one JSON object (name -> report) atomically."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({r.name: r.to_dict() for r in reports}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def cached_table(
    cache, paths: Sequence, extractor, compute: Callable[[], tuple[dict, ExtractionReport]], name: str
) -> tuple[dict, ExtractionReport]:
    """Arrays built from many files, cached under the digest of all their contents, and the extraction report.

    ``compute()`` runs the per-file extraction and returns (arrays, report); the
    arrays get ``status`` and ``message`` per file from the report. On a hit the
    report is rebuilt from them (every item ``cached``). A missing file (no
    digest) means no table entry: ``compute()`` runs and reports it.
    """
    import numpy as np

    from recipes.feature_cache import FeatureCacheError, files_digest

    done: list[ExtractionReport] = []

    def build() -> dict:
        arrays, rep = compute()
        done.append(rep)
        n = len(rep.items)
        return {
            **arrays,
            "status": np.asarray([i.status for i in rep.items], dtype=str).reshape(n),
            "message": np.asarray([i.message for i in rep.items], dtype=str).reshape(n),
        }

    try:
        digest = files_digest(paths)
    except FeatureCacheError:
        digest = None
    table = build() if digest is None else cache.get_or_compute_digest(digest, extractor, build, name)
    rep = (
        done[0]
        if done
        else ExtractionReport(
            name,
            [
                ItemStatus(str(p), str(st), cached=True, message=str(m))
                for p, st, m in zip(paths, table["status"].tolist(), table["message"].tolist())
            ],
        )
    )
    return table, rep
