"""Which emotions a run scores: the checkpoint's display set plus the user's additions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import LivemerError
from .registry import Registry


@dataclass
class EmotionSet:
    names: list[str]
    user_added: set[str]
    vectors: dict[str, np.ndarray]  # vectors for names the checkpoint does not hold itself
    adapted: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # few-shot rows (livemer.teach)
    notes: list[str] = field(default_factory=list)  # adapters that do not fit this checkpoint


def resolve_emotions(
    checkpoint, requested: str | list[str] | None = None, registry: Registry | None = None, provider=None
) -> EmotionSet:
    """Resolve ``--emotions happy,sad,...`` (or the default set) into names and vectors.

    Default: the checkpoint's display emotions followed by every user-added emotion
    in the checkpoint's embedding space. Requested names may be trained words,
    user-added names, or — when a provider of the same space is given — any word.
    """
    reg = registry if registry is not None else Registry()
    space = checkpoint.embedding_space
    users = {e.name: e for e in reg.list(space)}
    if requested is None or requested == "" or requested == []:
        names = list(checkpoint.display_emotions) + [n for n in users if n not in checkpoint.display_emotions]
    else:
        names = [s.strip() for s in (requested.split(",") if isinstance(requested, str) else requested) if s.strip()]
        if not names:
            raise LivemerError("--emotions is empty; give comma-separated words such as happy,sad")
    vectors: dict[str, np.ndarray] = {}
    for n in names:
        if n in users:
            vectors[n] = users[n].as_array()
        elif checkpoint.vector_of(n) is not None:
            continue
        elif provider is not None and provider.name == space:
            vectors[n] = provider.vector(n)  # raises UnknownWordError with suggestions
        else:
            raise LivemerError(f"unknown emotion '{n}': add it first with `livemer add-emotion {n}`")
    seen: set[str] = set()
    ordered = [n for n in names if not (n in seen or seen.add(n))]
    from .teach import usable_adaptations

    adapted, notes = usable_adaptations(checkpoint, [users[n] for n in ordered if n in users])
    return EmotionSet(ordered, {n for n in ordered if n in users}, vectors, adapted, notes)
