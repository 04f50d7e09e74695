"""The model card: ``MODEL_CARD.template.md`` filled from the recipe's results JSON.

Every number, and every sentence whose wording depends on one (met / missed,
which neighbours), is computed here from the results, so text and figures
cannot disagree. ``python -m recipes.model_card RESULTS.json CKPT CARD`` re-renders
a card without training.
"""

from __future__ import annotations

import json
import math
import os
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("MODEL_CARD.template.md")
SEEN = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: (headline key, label, target as a fraction or None)
HEADLINE = (
    ("faces_auc", "faces, held-out photos, mean AUC (V)", 0.85),
    ("faces_min_auc", "faces, lowest emotion AUC (V)", 0.70),
    ("voices_auc", "voices, held-out speakers, mean AUC (A)", 0.85),
    ("loco_auc", "voices, leave one corpus out, mean AUC (A)", 0.75),
    ("zsl_a", "zero-shot leave-one-emotion-out, voices (A), mean AUC", 0.70),
    ("zsl_v", "zero-shot leave-one-emotion-out, faces (V), mean AUC", 0.70),
    ("zsl_t", "zero-shot leave-one-emotion-out, GoEmotions (T), mean AUC", 0.70),
    ("zsl_tav", "zero-shot leave-one-emotion-out, RAVDESS fused (T+A+V), mean AUC", 0.70),
    ("calm_tav_auc", "zero-shot calm, RAVDESS T+A+V, AUC", 0.70),
    ("goemotions_auc", "GoEmotions dev macro AUC (T)", 0.85),
    ("ravdess_tav_auc", "RAVDESS validation actors, T+A+V, mean AUC", None),
)


def p(x: Any) -> str:
    """A fraction as a percentage with one decimal; n/a for missing or NaN."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(v) else f"{100 * v:.1f}"


def avg(t: dict[str, Any] | None, key: str = "auc") -> float:
    v = (t or {}).get("average", {}).get(key)
    return float("nan") if v is None else float(v)


def per(t: dict[str, Any] | None, e: str, key: str = "auc") -> float:
    r = (t or {}).get("per_emotion", {}).get(e)
    return float("nan") if not r or r.get(key) is None else float(r[key])


def nanmean(vals: Sequence[float]) -> float:
    v = [x for x in vals if not math.isnan(x)]
    return sum(v) / len(v) if v else float("nan")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def emotion_table(tables: dict[str, dict[str, Any]], label_of=lambda k: k, key: str = "auc") -> str:
    """Rows = the tables (e.g. corpora), columns = the seven emotions + mean, cells = ``key`` in %."""
    rows = []
    for k, t in tables.items():
        rows.append([label_of(k)] + [p(per(t, e, key)) for e in SEEN] + [f"**{p(avg(t, key))}**"])
    return table(["", *SEEN, "mean"], rows)


def subset_label(code: str) -> str:
    return "+".join(c.upper() for c in code) if len(code) > 1 else f"only {code.upper()}"


# ----------------------------------------------------------------------------- derived figures


def loo_means(loo: dict[str, Any] | None) -> dict[str, float]:
    """Mean zero-shot AUC over the held-out emotions, per column of the leave-one-emotion-out table."""
    if not loo:
        return {}
    rows = loo["rows"]
    cols = ("voices_a", "faces_v", "goemotions_t", "meld_t", "ravdess_a", "ravdess_v", "ravdess_av", "ravdess_tav")
    return {c: nanmean([avg(rows[e].get(c)) for e in rows]) for c in cols}


def headline_values(results: dict[str, Any]) -> dict[str, float]:
    h = dict(results["main"]["headline"])
    loco = results.get("loco")
    h["loco_auc"] = nanmean([avg(r) for r in loco["rows"].values()]) if loco else float("nan")
    m = loo_means(results.get("loo"))
    h["zsl_a"], h["zsl_v"] = m.get("voices_a", float("nan")), m.get("faces_v", float("nan"))
    h["zsl_t"], h["zsl_tav"] = m.get("goemotions_t", float("nan")), m.get("ravdess_tav", float("nan"))
    return h


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    if math.isnan(value):
        return f">= {p(target)}: not measured"
    if value >= target:
        return f">= {p(target)}: met"
    return f">= {p(target)}: **missed by {100 * (target - value):.1f} points**"


# ----------------------------------------------------------------------------- sections


def _headline_table(results: dict[str, Any]) -> str:
    h = headline_values(results)
    return "\n".join(
        f"| {label} | **{p(h.get(k))}** | {verdict(h.get(k, float('nan')), t)} |" for k, label, t in HEADLINE
    )


def _loco_table(loco: dict[str, Any] | None) -> str:
    if not loco:
        return "(not run)"
    t = emotion_table(loco["rows"], lambda k: f"test on {k}")
    return t + f"\n\nMean over the corpora: **{p(nanmean([avg(r) for r in loco['rows'].values()]))}**."


def _loso_table(loso: dict[str, Any] | None) -> str:
    if not loso:
        return "(not run)"
    return emotion_table(loso["rows"], lambda k: f"test on {k}")


def _loo_table(loo: dict[str, Any] | None) -> str:
    if not loo:
        return "(not run)"
    cols = (
        ("voices_a", "voices A"),
        ("faces_v", "faces V"),
        ("goemotions_t", "GoEmotions T"),
        ("meld_t", "MELD T"),
        ("ravdess_a", "RAVDESS A"),
        ("ravdess_v", "RAVDESS V"),
        ("ravdess_av", "RAVDESS A+V"),
        ("ravdess_tav", "RAVDESS T+A+V"),
    )
    rows = [[f"*{e}*"] + [p(avg(r.get(c))) for c, _ in cols] for e, r in loo["rows"].items()]
    m = loo_means(loo)
    rows.append(["**mean**"] + [f"**{p(m[c])}**" for c, _ in cols])
    return table(["held-out emotion", *(lab for _, lab in cols)], rows)


def _loo_verdict(loo: dict[str, Any] | None) -> str:
    if not loo:
        return ""
    m = loo_means(loo)
    parts = []
    for c, lab in (
        ("voices_a", "voices"),
        ("faces_v", "faces"),
        ("goemotions_t", "text (GoEmotions)"),
        ("ravdess_tav", "fused (RAVDESS T+A+V)"),
    ):
        v = m[c]
        parts.append(f"{lab} {p(v)} ({'meets' if v >= 0.70 else 'misses'} the 70.0 target)")
    return "Mean zero-shot AUC: " + "; ".join(parts) + ". The paper's MOSEI zero-shot average is 58."


def _top(weights: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(weights.items(), key=lambda kv: -kv[1])[:n])


def _zero_shot_rule(s: dict[str, Any]) -> str:
    """The composition weights of the settings' zero-shot rule, in words (model.zeroshot)."""
    if s.get("zsl_method", "compose") == "compose":
        return (
            f"alpha = softmax(beta * cos_M(e, e_k)), beta = {s['zsl_beta']:g} (fixed beforehand, not tuned on the "
            "held-out words)"
        )
    mix = f" + {s['zsl_beta']:g} * cos_M(e, e_k)" if s.get("zsl_beta") else ""
    ridge = s.get("zsl_ridge")
    fit = (
        f", then the affine weights nearest alpha whose mix reproduces c(e) (least squares, ridge {ridge:g}; they may "
        "be negative and extrapolate)"
        if ridge is not None
        else ""
    )
    text = (
        "; the text row of a new word is composed the same way from the text-trained emotions"
        if s.get("zsl_text")
        else ""
    )
    return (
        f"alpha = softmax(-{s['zsl_beta_affect']:g} * |c(e) - c(e_k)|^2{mix}){fit}, where c(w) are valence, arousal "
        "and dominance coordinates of any word from GloVe itself: the cosine with antonym-pole axes fixed "
        "beforehand (`model.zeroshot.AFFECT_POLES`, no evaluated emotion word among the poles; rule v2, chosen on "
        f"development data by `benchmarks/zeroshot_probe.py`, never on held-out sets"
        + ("" if s.get("zsl_beta") else "; the metric M below is kept in the checkpoint but weighs 0 in this rule")
        + f"{text})"
    )


def _loo_composition(loo: dict[str, Any] | None) -> str:
    if not loo:
        return ""
    rows = [
        [f"*{e}*", _top(r.get("composition", {}).get("acoustic", {})), _top(r.get("composition", {}).get("visual", {}))]
        for e, r in loo["rows"].items()
    ]
    return table(["held-out emotion", "acoustic: top 3", "visual: top 3"], rows)


def _calm(results: dict[str, Any]) -> tuple[str, str]:
    calm = results["main"]["figures"]["calm"]
    t = calm.get("tav", {}).get("average", {})
    rows = [[subset_label(s), p(avg(c)), p(avg(c, "f1")), p(avg(c, "w_acc"))] for s, c in calm.items()]
    tab = (
        f"{t.get('positives', '?')} calm clips against {t.get('negatives', '?')} others, scored only through the "
        "word *calm*:\n\n" + table(["modalities", "AUC", "F1", "W-Acc"], rows)
    )
    comp = results.get("calm_composition") or {}
    if comp:
        sent = (
            "Composition puts *calm* at "
            + "; ".join(f"{m}: {_top(w)}" for m, w in comp.items())
            + f". T+A+V AUC {p(avg(calm.get('tav')))}: "
            + ("meets" if avg(calm.get("tav")) >= 0.70 else "misses")
            + " the 70.0 target."
        )
    else:
        sent = ""
    return tab, sent


def _added_words(results: dict[str, Any]) -> str:
    words = results.get("added_words") or {}
    if not words:
        return "(none)"
    rows = [[f"*{w}*", _top(c.get("acoustic", {})), _top(c.get("visual", {}))] for w, c in words.items()]
    return table(["word", "acoustic", "visual"], rows)


def _text_table(results: dict[str, Any]) -> str:
    fig = results["main"]["figures"]
    base = results.get("baseline")
    rows = [
        ["this checkpoint", p(avg(fig["goemotions_dev"])), p(avg(fig["meld_dev"], "w_acc")), p(avg(fig["meld_dev"]))]
    ]
    if base:
        rows.append(
            [
                "EF-LSTM baseline (protocol size: compare with the spread's seed 0 below)",
                p(avg(base["goemotions_dev"])),
                p(avg(base["meld_dev"], "w_acc")),
                p(avg(base["meld_dev"])),
            ]
        )
    return table(["", "GoEmotions dev macro AUC", "MELD dev mean W-Acc", "MELD dev macro AUC"], rows)


def _baseline(results: dict[str, Any]) -> str:
    base = results.get("baseline")
    if not base:
        return "(not run)"
    sp = results.get("spread") or {}
    ours = (sp.get("per_seed") or {}).get(str(results["main"]["seed"]))
    if ours is None:
        return "(the spread's seed-0 model, the baseline's counterpart, was not run)"
    pairs = (
        ("faces, held-out photos (V)", "faces_auc", base["faces"]),
        ("voices, held-out speakers (A)", "voices_auc", base["speech"]),
        ("RAVDESS T+A+V", "ravdess_tav_auc", base["ravdess"]["tav"]),
        ("RAVDESS A+V", "ravdess_av_auc", base["ravdess"]["av"]),
        ("GoEmotions dev (T)", "goemotions_auc", base["goemotions_dev"]),
    )
    rows = [[lab, p(ours.get(k)), p(avg(t))] for lab, k, t in pairs]
    rows.append(["RAVDESS T+A+V, W-Acc", p(ours.get("ravdess_tav_wacc")), p(avg(base["ravdess"]["tav"], "w_acc"))])
    d = [float(ours.get(k, float("nan"))) - avg(t) for _, k, t in pairs[:4]]
    better = sum(x > 0.005 for x in d)
    worse = sum(x < -0.005 for x in d)
    v = (
        f"on the {len(d)} seen-emotion AUC rows (faces, voices, RAVDESS T+A+V, A+V) the emotion-embedding model is "
        f"ahead by more than 0.5 points on {better}, behind on {worse} and within 0.5 on {len(d) - better - worse}"
    )
    return (
        f"Early-fusion LSTM (§5.4 of the paper; concatenated features, one bi-LSTM, one output unit per label; "
        f"hidden {results['settings'].get('ef_hidden')}, {base.get('parameters', '?')} parameters; "
        f"{base.get('train_seconds', 0) / 60:.1f} min), trained on the same mixture, batches, normalisation and "
        "schedule as the protocol-size model of the spread (seed 0), which it is compared with (AUC unless "
        "stated):\n\n"
        + table(["", "emotion embeddings", "EF-LSTM"], rows)
        + f"\n\nSo {v}. The EF-LSTM has no zero-shot path: an emotion it was not trained on has no output unit."
    )


SPREAD_LABELS = {
    "faces_auc": "faces mean AUC",
    "faces_min_auc": "faces lowest emotion AUC",
    "voices_auc": "voices mean AUC",
    "ravdess_tav_auc": "RAVDESS T+A+V AUC",
    "ravdess_av_auc": "RAVDESS A+V AUC",
    "calm_tav_auc": "calm T+A+V AUC",
    "goemotions_auc": "GoEmotions dev AUC",
    "meld_wacc": "MELD dev W-Acc",
}


def _spread(results: dict[str, Any]) -> tuple[str, int]:
    sp = results.get("spread")
    if not sp:
        return "(not run)", 0
    seeds = list(sp["per_seed"])
    rows = []
    for k, lab in SPREAD_LABELS.items():
        s = sp["summary"].get(k)
        if s is None:
            continue
        rows.append([lab] + [p(sp["per_seed"][x].get(k)) for x in seeds] + [f"{p(s['mean'])} ± {p(s['std'])}"])
    return (
        f"The protocol-size model ({sp.get('epochs')} epochs, smaller hidden sizes and per-epoch samples, see Limits) "
        f"trained on all the data with seeds {', '.join(seeds)}, each from scratch (sd: sample standard "
        "deviation):\n\n" + table(["figure", *(f"seed {s}" for s in seeds), "mean ± sd"], rows)
    ), len(seeds)


def _cost(results: dict[str, Any], size: int | None) -> str:
    main = results["main"]
    s = results["settings"]
    lines = [
        f"- Training the shipped checkpoint from cached features: **{main['train_seconds'] / 60:.1f} min** "
        f"({main['epochs']} epochs, {s.get('threads', 1)} torch thread(s) on a 2-core CPU shared with other "
        "work; budget 30 min)."
    ]
    if main.get("data_seconds"):
        lines.append(f"- Building every dataset from the feature cache: {main['data_seconds'] / 60:.1f} min.")
    ext = results.get("extraction_seconds") or {}
    for k, v in ext.items():
        lines.append(f"- One-off feature extraction, {k}: {v}")
    for st in ("loco", "loso", "loo"):
        r = results.get(st)
        if r and r.get("stage_seconds"):
            lines.append(f"- Protocol `{st}`: {r['stage_seconds'] / 60:.1f} min.")
    if results.get("baseline", {}).get("stage_seconds"):
        lines.append(f"- EF-LSTM baseline: {results['baseline']['stage_seconds'] / 60:.1f} min.")
    if size is not None:
        line = f"- Checkpoint size: **{size / 1e6:.2f} MB** ({results.get('parameters')} parameters, fp16)"
        rep = results.get("replay")
        if rep and results.get("weights_bytes"):
            line = (
                f"- Checkpoint size: **{results['weights_bytes'] / 1e6:.2f} MB** of weights ({results.get('parameters')} "
                f"parameters, fp16); **{size / 1e6:.2f} MB** as shipped, with a replay set of {rep['windows']} "
                f"{rep['source']} windows ({rep['per_emotion']} per trained emotion) attached by the recipe "
                "(`model.adapt.attach_replay`) for `livemer add-emotion --examples`"
            )
        lines.append(line + ".")
    return "\n".join(lines)


def _face_views(borders: Sequence[float]) -> str:
    """The training views of each photo in words (recipes.faces border fractions)."""
    words = ["as it is" if not b else f"inside a grey border of {100 * b:g} % of its size" for b in borders]
    return "each photo " + " and ".join(words)


def _acoustic_space_words(space: str | None) -> str:
    """The acoustic step space in words (RecipeSettings.window.acoustic_space)."""
    if not space or space == "covarep-74":
        return "acoustic COVAREP-74 (livemer's extractor; each step the mean of its voiced 10 ms frames)"
    return (
        f"acoustic `{space}`: COVAREP-74 (livemer's extractor; each step the mean of its voiced 10 ms frames) then, "
        "for F0 and MCEP_0-12, the standard deviation and the mean absolute frame-to-frame change of those frames "
        "(pitch, energy and spectral movement inside a step, which a mean hides; the same MFCC/pitch frames)"
    )


def _encoder_words(s: dict) -> str:
    """How each bi-LSTM's outputs become r_m and how the acoustic encoder is regularised, in words."""
    pooling = s.get("pooling", "last")
    words = {
        "last": "r_m is both directions' outputs at the last step, summed (the backward direction has read the last "
        "step only)",
        "ends": "r_m is the forward output at the last step plus the backward output at the first observed step "
        "(each direction has read the whole sequence; padding is in front)",
        "mean": "r_m is the summed outputs averaged over the observed steps",
    }.get(pooling, f"pooling {pooling}")
    noise = s.get("acoustic_offset_noise")
    if noise:
        words += (
            f"; in training every voice sample gets one random offset of its normalised acoustic steps "
            f"(N(0, {noise:g}^2) per feature: a new channel or speaker level each time it is drawn)"
        )
    l2 = s.get("acoustic_l2")
    if l2:
        words += f"; an L2 penalty of {l2:g} on the acoustic encoder, on the batches with a voice (it fits its training speakers fast)"
    return words


def _visual_space_words(space: str | None, ravdess: str | None) -> str:
    """The visual feature space in words (RecipeSettings.visual_space, ravdess_visual)."""
    if not space or space == "facet-35":
        return "visual Facet-35 (AUs through livemer's adapters)"
    rav = (
        "RAVDESS's OpenFace rows fill them from their AU intensities the same way"
        if (ravdess or "keep") == "keep"
        else "RAVDESS's OpenFace rows are left out of visual training"
    )
    return (
        f"visual `{space}`: Facet-35 (AUs through livemer's adapters) then MediaPipe's 52 raw blendshape scores; a "
        "face backend without blendshapes (py-feat) fills those 52 columns from its AUs "
        f"(`feature_adapters.blendshapes.aus_to_blendshapes`: each AU sets its own blendshapes, the others are 0); {rav}"
    )


def _size_words(results: dict[str, Any], size: int | None) -> str:
    if not size:
        return "? MB, fp16 weights"
    w, rep = results.get("weights_bytes"), results.get("replay")
    if w and rep:
        return f"{w / 1e6:.2f} MB of fp16 weights, {size / 1e6:.2f} MB with the few-shot replay set"
    return f"{size / 1e6:.2f} MB, fp16 weights"


def _extraction(results: dict[str, Any]) -> str:
    reps = results["main"].get("extraction") or []
    lines = [f"- {r.get('summary', '').splitlines()[0]}" for r in reps if r.get("summary")]
    borders = list(results["settings"].get("face_borders") or [0.0])
    faces = [i for i, ln in enumerate(lines) if ln.startswith("- faces: ")]
    if len(faces) == len(borders) > 1:  # one report per photo view, all named "faces" (runs before v2.1's names)
        for i, b in zip(faces, borders):
            if b:
                lines[i] = lines[i].replace("- faces: ", f"- faces (border {100 * b:g} %): ", 1)
    return (
        ("Extraction (photos without a detected face and undecodable clips are left out):\n\n" + "\n".join(lines))
        if lines
        else ""
    )


# ----------------------------------------------------------------------------- the card


def render(results: dict[str, Any], ckpt_path: str | Path, command: str) -> str:
    ckpt_path = Path(ckpt_path)
    size = ckpt_path.stat().st_size if ckpt_path.exists() else results.get("checkpoint_bytes")
    main = results["main"]
    fig = main["figures"]
    prov = results.get("provenance", {})
    s = results["settings"]
    sizes = main.get("data_sizes", {})
    calm_tab, calm_sent = _calm(results)
    spread_tab, n_seeds = _spread(results)
    anchors = main.get("anchors") or prov.get("zero_shot_anchors") or {}
    valid = ",".join(f"{a:02d}" for a in s["valid_actors"])
    train = ",".join(f"{a:02d}" for a in (s["train_actors"] or [x for x in range(1, 21) if x not in s["valid_actors"]]))
    values = {
        "size_mb": _size_words(results, size),
        "parameters": results.get("parameters", "?"),
        "date": prov.get("date", "?"),
        "git_commit": prov.get("git_commit", "?"),
        "model_version": prov.get("model_version", "v2"),
        "command": command,
        "hidden_acoustic": s["hidden_acoustic"],
        "hidden_visual": s["hidden_visual"],
        "encoder": _encoder_words(s),
        "anchors": "; ".join(f"{m}: {', '.join(a)}" for m, a in anchors.items()) or "none",
        "zero_shot_rule": _zero_shot_rule(s),
        "metric_samples": s["metric_samples"],
        "n_ravdess_train": sizes.get("ravdess_train", "?"),
        "n_ravdess_valid": sizes.get("ravdess_valid", "?"),
        "n_faces_train": sizes.get("faces_train", "?"),
        "n_faces_valid": sizes.get("faces_valid", "?"),
        "face_views": _face_views(s.get("face_borders") or [0.0]),
        "visual_space": _visual_space_words(s.get("visual_space"), s.get("ravdess_visual")),
        "acoustic_space": _acoustic_space_words((s.get("window") or {}).get("acoustic_space")),
        "n_speech_train": sizes.get("speech_train", "?"),
        "n_speech_valid": sizes.get("speech_valid", "?"),
        "n_goemotions_train": sizes.get("goemotions_train", "?"),
        "n_goemotions_dev": sizes.get("goemotions_dev", "?"),
        "n_meld_train": sizes.get("meld_train", "?"),
        "n_meld_dev": sizes.get("meld_dev", "?"),
        "train_actors": train,
        "valid_actors": valid,
        "holdout_pct": f"{100 * s['holdout']:.0f}",
        "extraction": _extraction(results),
        "seed": main["seed"],
        "epochs": main["epochs"],
        "headline_table": _headline_table(results),
        "faces_table": emotion_table({"all held-out photos": fig["faces"], **fig.get("faces_by_source", {})}),
        "voices_table": emotion_table({"all held-out speakers": fig["speech"], **fig.get("speech_by_corpus", {})}),
        "ravdess_table": emotion_table(fig["ravdess"], subset_label),
        "loco_table": _loco_table(results.get("loco")),
        "loso_table": _loso_table(results.get("loso")),
        "loo_table": _loo_table(results.get("loo")),
        "loo_verdict": _loo_verdict(results.get("loo")),
        "loo_composition": _loo_composition(results.get("loo")),
        "calm_table": calm_tab,
        "calm_sentence": calm_sent,
        "added_words": _added_words(results),
        "text_table": _text_table(results),
        "baseline": _baseline(results),
        "n_seeds": n_seeds,
        "spread_table": spread_tab,
        "cost": _cost(results, size),
        "protocol": f"{s['protocol_epochs']} epochs, hidden {s['protocol_hidden_acoustic']}/{s['protocol_hidden_visual']}, "
        f"{s['protocol_per_epoch_scale']:g} of the samples per epoch",
    }
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)


def write_card(card: str | Path, results: dict[str, Any], ckpt_path: str | Path, command: str) -> Path:
    """Render and write the card atomically."""
    text = render(results, ckpt_path, command)
    card = Path(card)
    card.parent.mkdir(parents=True, exist_ok=True)
    tmp = card.with_name(f".{card.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, card)
    return card


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m recipes.model_card", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("card", type=Path)
    ap.add_argument(
        "--command",
        default="python -m recipes.recipe_default --shared ../shared --out "
        "assets/default.ckpt --card assets/MODEL_CARD.md",
    )
    args = ap.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {args.results}: cannot read the results ({exc})", file=sys.stderr)
        return 2
    write_card(args.card, results, args.checkpoint, args.command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
