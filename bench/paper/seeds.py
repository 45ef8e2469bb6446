"""Comparisons over training seeds: each seed trains both variants, so the per-seed differences are paired.

An ordering (A beats B) is claimed only with at least ``MIN_SEEDS_FOR_ORDERING`` seeds and only
when every per-seed difference has the same sign; otherwise the variants are "not distinguishable"
(the range of the differences covers zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_SEEDS_FOR_ORDERING = 3
NOT_DISTINGUISHABLE = "not distinguishable"


def across_seeds(values: Sequence[float]) -> dict:
    """{'mean', 'std' (sample, ddof=1; 0 for one seed), 'per_seed'} of one number measured per seed."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "per_seed": array.tolist()}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Statistics of a[i] − b[i] over seeds i: mean, std, min, max, seeds and the verdict.

    verdict: 'higher in every seed' / 'lower in every seed' (the range excludes zero, with at
    least MIN_SEEDS_FOR_ORDERING seeds), 'not distinguishable' (the range covers zero), or
    'too few seeds' (fewer than MIN_SEEDS_FOR_ORDERING).
    """
    if len(a) != len(b) or not len(a):
        raise ValueError(f"paired values need the same, non-zero number of seeds, got {len(a)} and {len(b)}")
    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    low, high = float(differences.min()), float(differences.max())
    if len(differences) < MIN_SEEDS_FOR_ORDERING:
        verdict = f"too few seeds (< {MIN_SEEDS_FOR_ORDERING})"
    elif low <= 0.0 <= high:
        verdict = NOT_DISTINGUISHABLE
    else:
        verdict = "higher in every seed" if low > 0 else "lower in every seed"
    return {**across_seeds(differences), "min": low, "max": high, "seeds": len(differences), "verdict": verdict}


def format_difference(difference: dict, digits: int = 2) -> str:
    """'+0.31 ± 0.20 (−0.05 … +0.52), not distinguishable' for a ``paired_difference`` result."""
    return (f"{difference['mean']:+.{digits}f} ± {difference['std']:.{digits}f} "
            f"({difference['min']:+.{digits}f} … {difference['max']:+.{digits}f}), {difference['verdict']}")


def format_spread(values: dict, digits: int = 4) -> str:
    """'28.1 ± 0.3' (mean ± std over seeds) for an ``across_seeds`` result."""
    return f"{values['mean']:.{digits}g} ± {values['std']:.2g}"
