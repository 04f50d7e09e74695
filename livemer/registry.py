"""The per-user registry of emotions added by word (zero-shot).

Entries persist in ``emotions.json`` under the platformdirs config dir (or
``$LIVEMER_CONFIG_DIR``). Each entry stores the display name, the word, the
embedding space and the word's vector, so later runs score it without looking
the word up again. Writes are atomic; a corrupt file is set aside with a warning.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILENAME = "emotions.json"
SCHEMA = 1


def config_dir() -> Path:
    env = os.environ.get("LIVEMER_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("livemer"))


@dataclass
class UserEmotion:
    name: str  # how it is shown and addressed
    word: str  # the word whose vector represents it
    space: str  # embedding space of the vector, e.g. glove-6B-50d
    vector: list[float]
    added: str = ""
    #: a few-shot adapter (``livemer.teach``): learned rows, the checkpoint they fit, how many examples
    adaptation: dict | None = None

    def as_array(self) -> np.ndarray:
        return np.asarray(self.vector, dtype=np.float32)


class Registry:
    """Load, add, remove and save user emotions. Thread-safe within a process."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else config_dir() / FILENAME
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        self._items: dict[str, UserEmotion] = self._read()

    def _read(self) -> dict[str, UserEmotion]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = {}
            for d in data["emotions"]:
                e = UserEmotion(
                    name=str(d["name"]),
                    word=str(d["word"]),
                    space=str(d["space"]),
                    vector=[float(x) for x in d["vector"]],
                    added=str(d.get("added", "")),
                    adaptation=dict(d["adaptation"]) if isinstance(d.get("adaptation"), dict) else None,
                )
                items[e.name] = e
            return items
        except Exception as exc:  # noqa: BLE001
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            try:
                os.replace(self.path, backup)
                where = f"; moved to {backup}"
            except OSError:
                where = ""
            msg = f"emotion registry {self.path} was unreadable ({type(exc).__name__}); starting empty{where}"
            log.warning(msg)
            self.warnings.append(msg)
            return {}

    def _write(self, items: dict[str, UserEmotion]) -> None:
        """Write ``items`` atomically; on failure the old file stays and no temp file is left."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"schema": SCHEMA, "emotions": [asdict(e) for e in items.values()]}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()

    # -- API ----------------------------------------------------------------
    def list(self, space: str | None = None) -> list[UserEmotion]:
        return [e for e in self._items.values() if space is None or e.space == space]

    def get(self, name: str) -> UserEmotion | None:
        return self._items.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def add(self, name: str, word: str, space: str, vector: np.ndarray, adaptation: dict | None = None) -> UserEmotion:
        """Add (or replace) ``name``; ``adaptation`` is a few-shot adapter to store with it."""
        e = UserEmotion(
            name=name,
            word=word,
            space=space,
            vector=[round(float(x), 6) for x in np.asarray(vector).reshape(-1)],
            added=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            adaptation=adaptation,
        )
        with self._lock:
            items = {**self._items, name: e}
            self._write(items)  # memory changes only once the file has
            self._items = items
        return e

    def remove(self, name: str) -> bool:
        with self._lock:
            if name not in self._items:
                return False
            items = {k: v for k, v in self._items.items() if k != name}
            self._write(items)
            self._items = items
            return True
