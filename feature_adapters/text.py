"""The text modality: GloVe-6B-style tokenisation and word-vector steps for timed words.

:func:`tokenize` splits text the way the Stanford (PTB) tokenizer that built
GloVe 6B's vocabulary did: lower case, punctuation split off as its own tokens,
clitics split (``don't`` → ``do n't``, ``can't`` → ``ca n't``, ``I'm`` →
``i 'm``, ``it's`` → ``it 's``), while numbers (``3.5``, ``1,000``, ``10:00``),
hyphenated words (``well-known``) and abbreviations (``u.s.``, ``mr.``) stay
whole — all of these are keys of the GloVe 6B vocabulary.

:func:`embed_words` turns ASR words (:class:`TimedWord`) into
:class:`TextToken` steps. **Choice:** a Whisper word that tokenizes into
several GloVe tokens (``don't`` → ``do`` + ``n't``) becomes one step per
token, its time span split in proportion to the tokens' lengths. The live step
sequence is then exactly ``tokenize(transcript)`` without punctuation — the
same units a text-only training sample gets — and ``n't`` keeps its own
vector instead of being averaged away. ``merge=True`` gives one step per
Whisper word instead (mean of its in-vocabulary token vectors). Punctuation-only
tokens (no letter or digit: ``,`` ``"`` ``$`` ``%``) are not steps.
Out-of-vocabulary tokens get a zero vector and ``oov=True``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from dataclasses import dataclass

import numpy as np

from .spaces import FeatureSpace

#: Clitics split off a word's end, as the PTB tokenizer does (``n't`` first).
CLITICS = ("n't", "'s", "'m", "'re", "'ve", "'ll", "'d")
#: Characters peeled off a chunk's start as tokens of their own.
_LEAD = frozenset("\"'([{<¿¡`$#£€*")
#: Characters peeled off a chunk's end as tokens of their own ('.' handled apart).
_TRAIL = frozenset("\"',!?;:)]}>%*")
#: Abbreviations whose final period belongs to the word (GloVe 6B keys: "mr.", "etc.").
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "jr",
        "sr",
        "st",
        "vs",
        "etc",
        "inc",
        "ltd",
        "corp",
        "mt",
        "ft",
        "jan",
        "feb",
        "aug",
        "sept",
        "oct",
        "nov",
        "dec",
        "gov",
        "sen",
        "rep",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
    }
)
# Letter-period sequences: u.s. a.m. p.m. e.g. i.e. ph.d.
_ACRONYM = re.compile(r"^(?:[a-z]{1,2}\.){2,}$")
# Dashes and ellipses inside a chunk split it: "well...yes", "now--then", "a—b".
_INNER_SPLIT = re.compile(r"(\.{3,}|…|-{2,}|—|–)")
_UNICODE_MAP = str.maketrans(
    {"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "\u00a0": " "}
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # NFKC turns "…" into "..."; map curly quotes to the ASCII ones GloVe 6B uses
    return text.translate(_UNICODE_MAP).lower()


def is_punctuation(token: str) -> bool:
    """True for a token with no letter or digit (``,`` ``--`` ``"`` ``$``): never a step."""
    return not any(ch.isalnum() for ch in token)


def _split_clitic(core: str, vocab: Container[str] | None) -> list[str]:
    if vocab is not None and core in vocab and "'" in core:
        return [core]  # o'clock, ma'am, c'mon, 'cause: whole keys of the vocabulary
    for clitic in CLITICS:
        if core.endswith(clitic) and len(core) > len(clitic):
            return _split_clitic(core[: -len(clitic)], vocab) + [clitic]
    return [core]


def _split_chunk(chunk: str, vocab: Container[str] | None) -> list[str]:
    lead: list[str] = []
    trail: list[str] = []
    while chunk:
        ch = chunk[0]
        if ch not in _LEAD:
            break
        if ch == "'" and vocab is not None and chunk.rstrip("".join(_TRAIL) + ".") in vocab:
            break  # 'cause, 'em, '90s
        lead.append(ch)
        chunk = chunk[1:]
    while chunk:
        if chunk.endswith("..."):
            trail.append("...")
            chunk = chunk[:-3]
            continue
        ch = chunk[-1]
        if ch == ".":
            stem = chunk[:-1]
            if stem in ABBREVIATIONS or _ACRONYM.match(chunk) or (vocab is not None and "." in stem and chunk in vocab):
                break  # mr. u.s. ph.d. keep their period
            trail.append(".")
            chunk = stem
            continue
        if ch not in _TRAIL:
            break
        trail.append(ch)
        chunk = chunk[:-1]
    middle: list[str] = []
    if chunk:
        for core in _split_clitic(chunk, vocab):
            if vocab is not None and core not in vocab and "-" in core.strip("-"):
                parts = [p for p in re.split(r"(-)", core) if p]
                middle.extend(parts)  # mm-hmm -> mm - hmm when the whole is unknown
            else:
                middle.append(core)
    return lead + middle + trail[::-1]


def tokenize(text: str, vocab: Container[str] | None = None) -> list[str]:
    """Split ``text`` into GloVe-6B-style tokens (lower case, punctuation and clitics split off).

    ``vocab`` (any container of known words, e.g. ``provider.keyed_vectors.key_to_index``)
    refines ambiguous cases: words with an apostrophe that are whole keys
    (``o'clock``, ``'cause``) stay whole, and an unknown hyphenated word is split
    at its hyphens.
    """
    tokens: list[str] = []
    for chunk in _normalise(text).split():
        for piece in _INNER_SPLIT.split(chunk):
            if not piece:
                continue
            if _INNER_SPLIT.fullmatch(piece):
                tokens.append("..." if piece.startswith(".") else "--" if piece.startswith("-") else piece)
                continue
            tokens.extend(_split_chunk(piece, vocab))
    return tokens


@dataclass(frozen=True)
class TimedWord:
    """One recognised word with its time span (seconds) and recogniser confidence (0..1)."""

    word: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class TextToken:
    """One text step: a GloVe token with its time span and vector.

    ``word_index`` is the index of the :class:`TimedWord` it came from;
    ``oov`` is True when the token has no vector (``vector`` is then zeros).
    """

    token: str
    start: float
    end: float
    vector: np.ndarray  # (dim,) float32
    oov: bool
    probability: float
    word_index: int
    word: str


def vocab_of(provider) -> Container[str] | None:
    """The provider's vocabulary (for :func:`tokenize`), or None when it exposes none."""
    kv = getattr(provider, "keyed_vectors", None)
    return getattr(kv, "key_to_index", None)


_vocab_of = vocab_of  # older name, used by recipes.recipe_data


def _spans(start: float, end: float, tokens: list[str]) -> list[tuple[float, float]]:
    """Split [start, end] over tokens in proportion to their lengths."""
    weights = np.array([max(len(t), 1) for t in tokens], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    edges[-1] = end
    return [(float(edges[i]), float(edges[i + 1])) for i in range(len(tokens))]


def embed_words(words: list[TimedWord], provider, merge: bool = False) -> list[TextToken]:
    """Text steps for timed words: one per non-punctuation GloVe token (or per word with ``merge``).

    Each Whisper word is tokenized with :func:`tokenize`; its time span is split
    in proportion to its tokens' lengths (punctuation takes no time). With
    ``merge=True`` a word gives one step whose vector is the mean of its
    in-vocabulary token vectors (``token`` is then the tokens joined by a space).
    OOV tokens (or a merged word with no known token) get zeros and ``oov=True``.
    """
    vocab = vocab_of(provider)
    out: list[TextToken] = []
    for wi, w in enumerate(words):
        toks = [t for t in tokenize(w.word, vocab) if not is_punctuation(t)]
        if not toks:
            continue
        vecs, oov = provider.vectors_or_zero(toks)
        prob = float(w.probability)
        if merge:
            known = ~oov
            vec = vecs[known].mean(axis=0) if known.any() else np.zeros(provider.dim, dtype=np.float32)
            out.append(
                TextToken(
                    " ".join(toks),
                    float(w.start),
                    float(w.end),
                    vec.astype(np.float32),
                    bool(not known.any()),
                    prob,
                    wi,
                    w.word,
                )
            )
            continue
        for tok, (s, e), vec, is_oov in zip(toks, _spans(float(w.start), float(w.end), toks), vecs, oov):
            out.append(TextToken(tok, s, e, np.asarray(vec, dtype=np.float32), bool(is_oov), prob, wi, w.word))
    return out


def TEXT_SPACE(provider) -> FeatureSpace:  # noqa: N802 - named like a constant on purpose
    """The feature space of text steps: the word-vector provider's."""
    return provider.space()
