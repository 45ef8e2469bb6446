"""argparse types that reject impossible values when the command line is parsed, before any work."""

from __future__ import annotations

import argparse
import math


def whole_number(low: int, high: int | None = None):
    """An argparse ``type``: an int in [low, high] (high None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, got {value}")
        return value

    return parse


def finite_number(low: float = -math.inf, high: float = math.inf, low_open: bool = False):
    """An argparse ``type``: a finite float in [low, high] ((low, high] with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            raise argparse.ArgumentTypeError(
                f"expected a finite number in {'(' if low_open else '['}{low:g}, {high:g}], got {text!r}")
        return value

    return parse
