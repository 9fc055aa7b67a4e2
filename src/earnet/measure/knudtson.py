"""Central retinal artery and vein equivalents (revised Knudtson formulas).

Knudtson et al., "Revised formulas for summarizing retinal vessel diameters", Current
Eye Research 27 (2003): take the six widest arterioles (venules); repeatedly pair the
widest with the narrowest and replace each pair by ``k · sqrt(w1² + w2²)`` (k = 0.88
for arterioles, 0.95 for venules), carrying the middle one when the count is odd,
until one value is left. AVR = CRAE / CRVE.
"""

from __future__ import annotations

import math

ARTERY_K = 0.88
VEIN_K = 0.95
LARGEST = 6


def central_equivalent(widths: list[float], k: float, largest: int = LARGEST) -> float:
    """Combine the ``largest`` widest of ``widths`` into one equivalent width (NaN if none)."""
    values = sorted((w for w in widths if math.isfinite(w) and w > 0), reverse=True)[:largest]
    if not values:
        return float("nan")
    while len(values) > 1:
        values.sort(reverse=True)
        n = len(values)
        paired = [k * math.hypot(values[i], values[n - 1 - i]) for i in range(n // 2)]
        if n % 2:
            paired.append(values[n // 2])
        values = paired
    return values[0]


def crae(widths: list[float]) -> float:
    """Central retinal artery equivalent of arteriole widths."""
    return central_equivalent(widths, ARTERY_K)


def crve(widths: list[float]) -> float:
    """Central retinal vein equivalent of venule widths."""
    return central_equivalent(widths, VEIN_K)
