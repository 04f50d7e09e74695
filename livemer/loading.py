"""Loading heavy libraries from several threads without tripping over each other.

livemer loads the face backend, the speech recogniser, the voice analysis and the emotion model in
parallel threads. Their libraries are imported one group at a time under one lock: importing them
from several threads at once races inside lazily loading packages (seen here: "Module 'scipy' has
no attribute '_lib'" when librosa, gensim and torch loaded together).
"""

from __future__ import annotations

import importlib
import threading

_IMPORT_LOCK = threading.Lock()
#: Heavy libraries (and lazily loaded submodules) each loading job needs.
_HEAVY_IMPORTS = {
    "face": ("mediapipe", "mediapipe.tasks.python.vision", "huggingface_hub"),
    "asr": ("ctranslate2", "onnxruntime", "faster_whisper"),
    "acoustic": ("scipy.signal", "soxr", "librosa", "librosa.filters", "librosa.core.pitch", "librosa.util.utils"),
    "model": ("safetensors", "threadpoolctl"),  # inference runs on numpy: no torch
}


_SCHEDULED: dict[str, threading.Event] = {}
_SCHEDULE_LOCK = threading.Lock()


def schedule_imports(kinds: list[str]) -> None:
    """Import the groups ``kinds`` in this order in one background thread (the most urgent first).

    :func:`import_heavy` of a scheduled group waits for it, so groups load in the chosen order
    instead of whichever thread grabs the lock first. Groups already scheduled are skipped.
    """
    with _SCHEDULE_LOCK:
        todo = [k for k in kinds if k not in _SCHEDULED]
        for k in todo:
            _HEAVY_IMPORTS[k]  # KeyError for an unknown group, before anything starts
            _SCHEDULED[k] = threading.Event()
    if not todo:
        return

    def run() -> None:
        for k in todo:
            try:
                _import_group(k)
            finally:
                _SCHEDULED[k].set()

    threading.Thread(target=run, name="imports", daemon=True).start()


def import_heavy(kind: str) -> None:
    """Import the heavy libraries of one loading job (``face``, ``asr``, ``acoustic``, ``model``), serialised."""
    ev = _SCHEDULED.get(kind)
    if ev is not None:
        ev.wait()
    _import_group(kind)


def _import_group(kind: str) -> None:
    with _IMPORT_LOCK:
        for name in _HEAVY_IMPORTS[kind]:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # the component reports its own missing library
