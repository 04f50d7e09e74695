"""An on-disk cache of extracted features, keyed by file content, extractor and version.

Feature extraction for training (speech recognition above all) is slow on a
CPU, so it runs once per input file and the result is stored as one ``.npz``:

    <root>/<extractor>/<version>/<sha1[:2]>/<sha1 of the file's bytes>.npz

The *version* of an extractor is a digest of the code and settings that decide
its output (see :func:`source_digest`), so editing the extractor invalidates
exactly its own entries; a copy or rename of an input file still hits. The
default root is ``<user cache dir>/livemer/features`` (``$LIVEMER_CACHE_DIR``
moves it, as for the other livemer caches). Writes are atomic; an unreadable
entry is recomputed.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feature_adapters.errors import LivemerError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class FeatureCacheError(LivemerError, RuntimeError):
    """An input file cannot be read to key the cache; the message names the file."""


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes (hex)."""
    h = hashlib.sha1()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
    except OSError as exc:
        raise FeatureCacheError(f"{path}: cannot read the file to key the feature cache ({exc.strerror})") from None
    return h.hexdigest()


def source_digest(*parts: Any, length: int = 12) -> str:
    """A short digest of code objects (modules, classes, functions: their source) and plain values (their repr)."""
    h = hashlib.sha1()
    for p in parts:
        if inspect.ismodule(p) or inspect.isclass(p) or inspect.isfunction(p) or inspect.ismethod(p):
            try:
                text = inspect.getsource(p)
            except (OSError, TypeError):
                text = f"{getattr(p, '__module__', '')}.{getattr(p, '__qualname__', repr(p))}"
        else:
            text = repr(p)
        h.update(text.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:length]


@dataclass(frozen=True)
class Extractor:
    """The name and version an entry is filed under (e.g. ``asr-tiny.en`` / ``3f2a...``)."""

    name: str
    version: str

    def __post_init__(self) -> None:
        for field_name in ("name", "version"):
            v = getattr(self, field_name)
            if not v or "/" in v or "\\" in v or v.startswith("."):
                raise ValueError(f"extractor {field_name} {v!r} must be a non-empty plain path component")


def default_root() -> Path:
    from feature_adapters.embeddings import cache_dir

    return cache_dir() / "features"


def files_digest(paths) -> str:
    """SHA-1 (hex) over the ordered content digests of ``paths``: the key of an entry built from many files."""
    h = hashlib.sha1()
    for p in paths:
        h.update(file_digest(p).encode("ascii"))
    return h.hexdigest()


class FeatureCache:
    """Arrays per (file, extractor) in ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.hits = 0
        self.misses = 0

    def entry(self, digest: str, extractor: Extractor) -> Path:
        return self.root / extractor.name / extractor.version / digest[:2] / f"{digest}.npz"

    def path_for(self, file: str | os.PathLike, extractor: Extractor) -> Path:
        return self.entry(file_digest(file), extractor)

    def load(self, file: str | os.PathLike, extractor: Extractor) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None when absent or unreadable."""
        return self._read(self.path_for(file, extractor))

    def save(self, file: str | os.PathLike, extractor: Extractor, arrays: Mapping[str, Any]) -> Path:
        return self._write(self.path_for(file, extractor), arrays, file)

    def get_or_compute_digest(
        self, digest: str, extractor: Extractor, compute: Callable[[], Mapping[str, Any]], source: str = ""
    ) -> dict[str, np.ndarray]:
        """Like :meth:`get_or_compute` for an entry keyed by a given content ``digest`` (e.g. of many files)."""
        path = self.entry(digest, extractor)
        got = self._read(path)
        if got is not None:
            self.hits += 1
            return got
        self.misses += 1
        arrays = {k: np.asarray(v) for k, v in compute().items()}
        self._write(path, arrays, source or digest)
        return arrays

    def get_or_compute(
        self, file: str | os.PathLike, extractor: Extractor, compute: Callable[[Path], Mapping[str, Any]]
    ) -> dict[str, np.ndarray]:
        """Cached arrays for ``file``, computing and storing them with ``compute(path)`` on a miss."""
        return self.get_or_compute_digest(file_digest(file), extractor, lambda: compute(Path(file)), str(file))

    # -- internals ----------------------------------------------------------------
    @staticmethod
    def _read(path: Path) -> dict[str, np.ndarray] | None:
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files if k != "__source__"}
        except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, whatever numpy raises
            log.warning("feature cache entry %s unreadable (%s); recomputing", path, type(exc).__name__)
            return None

    @staticmethod
    def _write(path: Path, arrays: Mapping[str, Any], source: str | os.PathLike) -> Path:
        if "__source__" in arrays:
            raise ValueError("'__source__' is reserved in feature cache entries")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, __source__=np.asarray(str(source)), **{k: np.asarray(v) for k, v in arrays.items()})
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path
