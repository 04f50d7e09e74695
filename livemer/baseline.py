"""The user's stored neutral baseline (``calibration.json`` beside the emotion registry).

It holds the observed-step means of the acoustic and visual features of a few
seconds of the user's neutral face and voice, with the feature spaces they are
in; :func:`shift_for` turns them into the shift a checkpoint's Predictor takes
off (:mod:`model.calibration`). The neutral windows themselves go beside it
(``calibration-windows.npz``): teaching an emotion re-centres its examples on the
user's own neutral representation with them (:func:`model.adapt.recentre`).
Writes are atomic; an unreadable file is ignored with a note.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np

FILENAME = "calibration.json"
WINDOWS_FILENAME = "calibration-windows.npz"
SCHEMA = 1


def baseline_path() -> Path:
    from .registry import config_dir

    return config_dir() / FILENAME


def save_baseline(
    means: dict[str, np.ndarray], spaces: dict[str, str], seconds: float, windows: int, path: Path | None = None
) -> Path:
    path = Path(path) if path else baseline_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema": SCHEMA,
        "seconds": float(seconds),
        "windows": int(windows),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "means": {m: [round(float(x), 6) for x in np.asarray(v).reshape(-1)] for m, v in means.items()},
        "spaces": {m: spaces.get(m, "") for m in means},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_baseline(path: Path | None = None) -> tuple[dict | None, str | None]:
    """(baseline, note): None and no note when there is none; None and a note when it is unreadable."""
    path = Path(path) if path else baseline_path()
    if not path.exists():
        return None, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["means"] = {str(m): np.asarray(v, np.float64) for m, v in dict(doc["means"]).items()}
        doc["spaces"] = dict(doc.get("spaces") or {})
        return doc, None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"calibration {path} is unreadable ({type(exc).__name__}); not used"


def neutral_windows_path(path: Path | None = None) -> Path:
    """Where the neutral windows of the baseline at ``path`` (default: the user's) are kept."""
    return (Path(path) if path else baseline_path()).with_name(WINDOWS_FILENAME)


def save_neutral_windows(windows, path: Path | None = None) -> Path | None:
    """Store the baseline's neutral windows (atomically); with none, remove an older set (it would not match)."""
    from .teach import save_windows_atomic, windows_arrays

    target = neutral_windows_path(path)
    if not windows:
        target.unlink(missing_ok=True)
        return None
    return save_windows_atomic(target, windows_arrays(windows))


def load_neutral_windows(checkpoint, path: Path | None = None):
    """The stored neutral windows as a WindowBatch that fits ``checkpoint``'s feature sizes, else None."""
    from .teach import batch_from_arrays

    target = neutral_windows_path(path)
    if not target.exists():
        return None
    try:
        with np.load(target) as z:
            batch = batch_from_arrays({k: z[k] for k in z.files})
    except (OSError, ValueError, KeyError):
        return None
    dims = checkpoint.config.input_dims
    if batch.acoustic.shape[-1] != dims["acoustic"] or batch.visual.shape[-1] != dims["visual"]:
        return None
    return batch


def clear_baseline(path: Path | None = None) -> bool:
    path = Path(path) if path else baseline_path()
    neutral_windows_path(path).unlink(missing_ok=True)
    if path.exists():
        path.unlink()
        return True
    return False


def shift_for(checkpoint, baseline: dict, replay=None) -> tuple[dict[str, np.ndarray], list[str]]:
    """(modality -> shift, notes) of a stored baseline for ``checkpoint``; a modality whose feature
    space or size differs from the checkpoint's is left out with a note."""
    from model.calibration import reference_means

    ref = reference_means(checkpoint, replay)
    shift, notes = {}, []
    for m, mu in baseline["means"].items():
        space = checkpoint.feature_spaces.get(m)
        want = baseline["spaces"].get(m)
        if m not in ref or space is None or (want and want != space.name) or mu.shape != ref[m].shape:
            notes.append(f"the {m} baseline is in another feature space ({want}); not used")
            continue
        shift[m] = (mu - ref[m]).astype(np.float32)
    return shift, notes
