"""Feature spaces: named, column-described layouts of per-step feature vectors.

A checkpoint records the space of each modality; the running extractors
declare theirs; the two must agree (see :func:`check_compatible`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import LivemerError

MODALITIES = ("text", "acoustic", "visual")
SHORT = {"t": "text", "a": "acoustic", "v": "visual"}


@dataclass(frozen=True)
class FeatureSpace:
    """A feature layout: ``name`` (e.g. ``covarep-74``), ``dim`` and column names.

    ``filled`` maps a column that has no live analogue to a short description of
    how it is filled (for example ``"constant 0 (no glottal analysis)"``).
    """

    name: str
    dim: int
    columns: tuple[str, ...] = ()
    filled: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.columns and len(self.columns) != self.dim:
            raise ValueError(f"feature space {self.name}: {len(self.columns)} columns for dim {self.dim}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": int(self.dim),
            "columns": list(self.columns),
            "filled": dict(self.filled),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpace:
        return cls(
            name=str(d["name"]),
            dim=int(d["dim"]),
            columns=tuple(d.get("columns") or ()),
            filled=dict(d.get("filled") or {}),
            description=str(d.get("description") or ""),
        )


class FeatureSpaceMismatch(LivemerError, ValueError):
    """Raised when a checkpoint's feature space differs from the running extractor's."""


def check_compatible(modality: str, expected: FeatureSpace, running: FeatureSpace) -> None:
    """Raise :class:`FeatureSpaceMismatch` with a one-line reason unless the spaces agree."""
    if expected.name != running.name or expected.dim != running.dim:
        raise FeatureSpaceMismatch(
            f"{modality} features: checkpoint expects '{expected.name}' ({expected.dim}-d) "
            f"but the running extractor gives '{running.name}' ({running.dim}-d)"
        )
    if expected.columns and running.columns and tuple(expected.columns) != tuple(running.columns):
        diff = next(i for i, (a, b) in enumerate(zip(expected.columns, running.columns)) if a != b)
        raise FeatureSpaceMismatch(
            f"{modality} features '{expected.name}': column {diff} is '{expected.columns[diff]}' in the "
            f"checkpoint but '{running.columns[diff]}' in the running extractor"
        )
