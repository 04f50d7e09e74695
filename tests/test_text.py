"""Tokenisation that matches GloVe 6B, and text steps for timed words."""

from __future__ import annotations

import numpy as np
import pytest

from feature_adapters.embeddings import get_provider
from feature_adapters.text import TEXT_SPACE, TimedWord, embed_words, is_punctuation, tokenize, vocab_of


@pytest.fixture(scope="module")
def provider():
    return get_provider()


@pytest.fixture(scope="module")
def vocab(provider):
    v = vocab_of(provider)
    assert "n't" in v and "the" in v and "zorbleflax" not in v
    return v


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("I don't know.", ["i", "do", "n't", "know", "."]),
        ("I'm fine, it's OK!", ["i", "'m", "fine", ",", "it", "'s", "ok", "!"]),
        ("We can't, we won't.", ["we", "ca", "n't", ",", "we", "wo", "n't", "."]),
        (
            "You're here; they've gone, we'll see, he'd go",
            ["you", "'re", "here", ";", "they", "'ve", "gone", ",", "we", "'ll", "see", ",", "he", "'d", "go"],
        ),
        ("They'd've known", ["they", "'d", "'ve", "known"]),
        (
            "It costs $3.50 (about 1,000 yen) at 10:00.",
            ["it", "costs", "$", "3.50", "(", "about", "1,000", "yen", ")", "at", "10:00", "."],
        ),
        ("50% of the 1990s", ["50", "%", "of", "the", "1990s"]),
        ("Mr. Smith moved to the U.S. at 9 a.m.", ["mr.", "smith", "moved", "to", "the", "u.s.", "at", "9", "a.m."]),
        ("He said no.", ["he", "said", "no", "."]),
        ("A well-known e-mail", ["a", "well-known", "e-mail"]),
        ('"Hello," she said... well...yes', ['"', "hello", ",", '"', "she", "said", "...", "well", "...", "yes"]),
        ("Wait—what? Now -- then", ["wait", "—", "what", "?", "now", "--", "then"]),
        ("It\u2019s \u201cgreat\u201d", ["it", "'s", '"', "great", '"']),
        ("the dogs' bones", ["the", "dogs", "'", "bones"]),
        ("  ", []),
    ],
)
def test_tokenize_hand_cases(text, tokens):
    assert tokenize(text) == tokens


def test_tokens_are_glove_vocabulary(vocab):
    text = (
        "I don't think it's going to rain; we can't stay, but I'm sure they'll come at 10:00 and "
        "pay $1,000 (or 3.5%) to Mr. Brown from the U.S."
    )
    toks = tokenize(text, vocab)
    missing = [t for t in toks if t not in vocab]
    assert missing == []
    assert "n't" in toks and "'m" in toks and "'ll" in toks


def test_vocab_refines_apostrophes_and_hyphens(vocab):
    # whole keys with an apostrophe stay whole; an unknown hyphenated word splits at hyphens
    assert tokenize("'cause at five o'clock", vocab) == ["'cause", "at", "five", "o'clock"]
    assert tokenize("'cause") == ["'", "cause"]
    assert tokenize("mm-hmm", vocab) == ["mm", "-", "hmm"]
    assert tokenize("mm-hmm") == ["mm-hmm"]
    assert tokenize("well-known", vocab) == ["well-known"]


def test_is_punctuation():
    assert is_punctuation(",") and is_punctuation("--") and is_punctuation("$") and is_punctuation("...")
    assert not is_punctuation("n't") and not is_punctuation("3.5") and not is_punctuation("'s")


def test_embed_words_vectors_equal_provider_vectors(provider):
    words = [TimedWord(" Hello,", 0.0, 0.4, 0.9), TimedWord(" world.", 0.5, 1.0, 0.8)]
    steps = embed_words(words, provider)
    assert [s.token for s in steps] == ["hello", "world"]
    for s in steps:
        np.testing.assert_array_equal(s.vector, provider.vector(s.token))
        assert s.vector.dtype == np.float32 and s.vector.shape == (provider.dim,)
        assert not s.oov
    assert (steps[0].start, steps[0].end) == (0.0, 0.4)  # punctuation takes no time
    assert steps[1].probability == pytest.approx(0.8) and steps[1].word_index == 1


def test_embed_words_splits_contractions_over_the_word_span(provider):
    steps = embed_words([TimedWord(" don't", 1.0, 1.5, 0.7), TimedWord("go!", 1.5, 1.8, 1.0)], provider)
    assert [s.token for s in steps] == ["do", "n't", "go"]
    do, nt = steps[0], steps[1]
    assert do.start == pytest.approx(1.0) and nt.end == pytest.approx(1.5)
    assert do.end == pytest.approx(nt.start)
    assert do.end == pytest.approx(1.0 + 0.5 * 2 / 5)  # "do" is 2 of the 5 characters
    assert do.word_index == nt.word_index == 0 and do.word == " don't"
    np.testing.assert_array_equal(nt.vector, provider.vector("n't"))


def test_embed_words_matches_tokenize_of_the_transcript(provider, vocab):
    text = "Well, I'm not sure it's the U.S. that can't pay 1,000 dollars."
    words = [TimedWord(w, i * 0.3, i * 0.3 + 0.25, 1.0) for i, w in enumerate(text.split())]
    steps = embed_words(words, provider)
    assert [s.token for s in steps] == [t for t in tokenize(text, vocab) if not is_punctuation(t)]
    starts = [s.start for s in steps]
    assert starts == sorted(starts)


def test_out_of_vocabulary_is_flagged_with_a_zero_vector(provider):
    steps = embed_words([TimedWord("Zorbleflax", 0.0, 0.5, 0.4), TimedWord("happy", 0.5, 0.9, 0.9)], provider)
    assert [s.oov for s in steps] == [True, False]
    assert steps[0].token == "zorbleflax"
    assert not steps[0].vector.any()
    assert steps[1].vector.any()


def test_punctuation_only_words_are_not_steps(provider):
    steps = embed_words(
        [TimedWord("...", 0.0, 0.2, 0.5), TimedWord(" -", 0.2, 0.3, 0.5), TimedWord("yes", 0.3, 0.6, 0.9)], provider
    )
    assert [s.token for s in steps] == ["yes"]
    assert steps[0].word_index == 2


def test_merge_gives_one_step_per_word_with_the_mean_vector(provider):
    steps = embed_words(
        [TimedWord("don't", 0.0, 0.5, 1.0), TimedWord("Zorbleflax's", 0.5, 1.0, 1.0)], provider, merge=True
    )
    assert [s.token for s in steps] == ["do n't", "zorbleflax 's"]
    mean = (provider.vector("do") + provider.vector("n't")) / 2
    np.testing.assert_allclose(steps[0].vector, mean, rtol=1e-6)
    assert (steps[0].start, steps[0].end) == (0.0, 0.5)
    # only the known token counts; the word is OOV only when no token is known
    np.testing.assert_allclose(steps[1].vector, provider.vector("'s"), rtol=1e-6)
    assert not steps[1].oov
    lone = embed_words([TimedWord("Zorbleflax", 0.0, 0.5, 1.0)], provider, merge=True)
    assert lone[0].oov and not lone[0].vector.any()


def test_text_space_is_the_providers(provider):
    space = TEXT_SPACE(provider)
    assert space == provider.space()
    assert space.dim == provider.dim == 50
    assert len(space.columns) == 50
