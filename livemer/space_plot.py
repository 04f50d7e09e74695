"""``livemer emotions --plot space.png``: the emotion space as the paper's Fig. 3 draws it, plus 2-D maps.

Top row: cosine distances between the emotion embeddings in the text, acoustic
and visual spaces (trained emotions first, then the user's). Bottom row: each
space's rows on their first two principal axes; user-added emotions are marked,
adapted ones by their learned rows. The geometry is :mod:`model.geometry`.
"""

from __future__ import annotations

import os
from pathlib import Path

PANELS = (("text", "text (GloVe)"), ("acoustic", "acoustic (f_t->a)"), ("visual", "visual (f_t->v)"))


def space_rows(checkpoint, registry, glove: str | None = None):
    """(names, {modality: (K, d_m)}, user-added names, adapted names) of the display set plus the user's emotions."""
    from model.inference import Predictor

    from .cmd_emotions import compared_emotions, provider_for
    from .emotions_set import resolve_emotions

    prov = provider_for(checkpoint, glove)
    users = [e.name for e in registry.list(checkpoint.embedding_space)]
    es = resolve_emotions(checkpoint, compared_emotions(checkpoint) + users, registry, prov)
    pred = Predictor(checkpoint, prov)
    for n, v in es.vectors.items():
        pred.add_emotion(n, v)
    for n, rows in es.adapted.items():
        pred.set_adaptation(n, rows)
    return es.names, pred.emotion_embeddings(es.names), es.user_added, set(es.adapted)


def plot_emotion_space(checkpoint, registry, path: str | os.PathLike, glove: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from model.geometry import distance_matrix, map_2d

    from .errors import LivemerError
    from .outputs import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise LivemerError(f"--plot {path}: give a .png file name")
    if not path.parent.is_dir():
        raise LivemerError(f"--plot {path}: folder {path.parent} does not exist")
    names, embs, users, adapted = space_rows(checkpoint, registry, glove)
    k = len(names)
    fig = Figure(figsize=(15, 9.5), dpi=100)
    axes = fig.subplots(2, 3)
    for j, (m, title) in enumerate(PANELS):
        D = distance_matrix(embs[m])
        ax = axes[0, j]
        im = ax.imshow(D, cmap="viridis", vmin=0.0, vmax=max(1e-6, float(D.max())))
        ax.set_xticks(range(k), names, rotation=90, fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
        ax.set_title(f"{title}: cosine distance", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        P = map_2d(embs[m])
        ax = axes[1, j]
        for i, n in enumerate(names):
            user = n in users
            ax.scatter(
                P[i, 0],
                P[i, 1],
                s=60 if user else 36,
                marker="*" if n in adapted else ("D" if user else "o"),
                color="tab:red" if user else "tab:blue",
            )
            ax.annotate(
                n,
                (P[i, 0], P[i, 1]),
                textcoords="offset points",
                xytext=(4, 3),
                fontsize=8,
                color="tab:red" if user else "black",
            )
        ax.set_title(f"{title}: first two principal axes", fontsize=10)
        ax.axhline(0, color="0.85", lw=0.5)
        ax.axvline(0, color="0.85", lw=0.5)
    fig.suptitle("livemer emotion space (blue: trained; red: user-added, diamond zero-shot, star adapted)", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
