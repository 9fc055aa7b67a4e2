"""Error maps: where a binarised stage-1 prediction disagrees with the label.

EAR-Net's stage 2 learns to predict these maps. They are computed inside the FOV
only (outside it there is nothing to get wrong). ``both`` = FP or FN, the map the
paper uses; the FP-only and FN-only maps are kept for analysis. (Which model predicts
which training image, the fold assignment, belongs to the run: :mod:`earnet.engine.run`.)
"""

from __future__ import annotations

import numpy as np

ERROR_KINDS = ("error", "fp", "fn")


def error_maps(prediction: np.ndarray, label: np.ndarray, fov: np.ndarray) -> dict[str, np.ndarray]:
    """``{"error": FP|FN, "fp": FP, "fn": FN}`` as ``bool`` maps, all ``False`` outside ``fov``."""
    if not prediction.shape == label.shape == fov.shape:
        raise ValueError(f"shapes differ: prediction {prediction.shape}, label {label.shape}, fov {fov.shape}")
    prediction, label, fov = prediction.astype(bool), label.astype(bool), fov.astype(bool)
    false_positive = prediction & ~label & fov
    false_negative = ~prediction & label & fov
    return {"error": false_positive | false_negative, "fp": false_positive, "fn": false_negative}

