"""One tidy table for a whole batch: ``windows.parquet`` and ``windows.csv``.

Every window of every input, one row each (one row per window *and face* when
several faces are tracked), loadable in one line::

    import pandas as pd
    df = pd.read_parquet("livemer-out/windows.parquet")

Columns (see :func:`table_columns`): ``input`` (the input path as given),
``face_id`` (the tracked face, 0 for the only or largest face; empty when no
face was present), ``start``/``end`` (seconds), ``words``/``new_words``,
``face_present``/``voice_present`` (0/1), ``modalities_used``, one
``p_<emotion>`` column per emotion, and the per-modality scores
``text_<emotion>``, ``acoustic_<emotion>``, ``visual_<emotion>``.

Text and voice belong to the scene, not to a face: ``words``, ``new_words``,
``voice_present``, ``text_*`` and ``acoustic_*`` repeat on every face's row of
a window; only ``face_id``, ``face_present`` and ``visual_*`` (and the fused
``p_*``) are the face's own.

The table is built from the per-input ``<stem>.csv`` files already written,
one input at a time, so memory stays flat for any number of inputs and a
resumed batch gets the rows of the inputs it skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .outputs import MODALITIES, atomic_path, result_columns

PARQUET_NAME = "windows.parquet"
CSV_NAME = "windows.csv"
#: Columns of the per-input CSV that hold text (read as strings, empty when there are no words).
TEXT_COLUMNS = ("words", "new_words", "voice", "modalities_used")
#: Columns that describe the scene rather than one face (see the module docstring).
SCENE_PREFIXES = ("text_", "acoustic_")
SCENE_COLUMNS = ("words", "new_words", "voice_present", "voice")


def table_columns(emotions: Sequence[str]) -> list[str]:
    """The batch table's columns, in order (pure)."""
    return ["input", "face_id"] + result_columns(emotions)


def is_scene_column(name: str) -> bool:
    """Whether column ``name`` belongs to the scene (repeats on every face's row) (pure)."""
    return name in SCENE_COLUMNS or name.startswith(SCENE_PREFIXES)


def _schema(emotions: Sequence[str]):
    import pyarrow as pa

    fields = [pa.field("input", pa.string()), pa.field("face_id", pa.int32())]
    for c in result_columns(emotions):
        if c in TEXT_COLUMNS:
            t = pa.string()
        elif c in ("face_present", "voice_present"):
            t = pa.int8()
        else:
            t = pa.float64()
        fields.append(pa.field(c, t))
    return pa.schema(fields)


def read_input_csv(path: str | os.PathLike, input_name: str, emotions: Sequence[str]):
    """One input's ``<stem>.csv`` as batch-table rows (a pandas DataFrame with :func:`table_columns`)."""
    import numpy as np
    import pandas as pd

    dtypes = {c: str for c in TEXT_COLUMNS}
    df = pd.read_csv(
        path,
        dtype=dtypes,
        keep_default_na=False,
        na_values={c: [""] for c in ["face_id", *result_columns(emotions)] if c not in TEXT_COLUMNS},
    )
    for c in TEXT_COLUMNS:
        if c in df:
            df[c] = df[c].fillna("").astype(str)
    n = len(df)
    if "face_id" in df:
        face_id = pd.array(df["face_id"], dtype="Int32")
    else:  # one face per input: face 0 wherever a face was present
        present = df["face_present"].to_numpy() if "face_present" in df else np.zeros(n, int)
        face_id = pd.array([0 if p else None for p in present], dtype="Int32")
    cols: dict = {"input": [str(input_name)] * n, "face_id": face_id}
    for c in result_columns(emotions):  # one DataFrame from all columns (a column at a time cost 0.1 s an input)
        if c in df:
            cols[c] = df[c].to_numpy()
        elif c in TEXT_COLUMNS:
            cols[c] = [""] * n
        else:
            cols[c] = np.full(n, np.nan)
    return pd.DataFrame(cols, columns=table_columns(emotions))


def write_batch_table(
    entries: Iterable[tuple[str, str | os.PathLike]], emotions: Sequence[str], out_dir: str | os.PathLike
) -> tuple[Path, Path]:
    """Write ``windows.parquet`` and ``windows.csv`` in ``out_dir`` from ``(input, per-input csv)`` pairs.

    Inputs are streamed one at a time (flat memory); both files are written
    atomically. An empty batch gives both files with the header only.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    schema = _schema(emotions)
    pq_path, csv_path = out_dir / PARQUET_NAME, out_dir / CSV_NAME
    cols = table_columns(emotions)
    with atomic_path(pq_path) as tmp_pq, atomic_path(csv_path) as tmp_csv:
        with pq.ParquetWriter(tmp_pq, schema) as writer, open(tmp_csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(cols) + "\n")
            for input_name, csv in entries:
                df = read_input_csv(csv, input_name, emotions)
                if not len(df):
                    continue
                writer.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False))
                df.to_csv(fh, index=False, header=False, float_format="%.6g")
    return pq_path, csv_path


__all__ = [
    "PARQUET_NAME",
    "CSV_NAME",
    "MODALITIES",
    "table_columns",
    "is_scene_column",
    "read_input_csv",
    "write_batch_table",
]
