"""Expression editing: set or scale named coefficients of an expression vector."""

from __future__ import annotations

import math

import numpy as np

from nbskit.errors import UserError


class UnknownExpression(UserError, KeyError):
    """An expression name the subject does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BadAssignment(UserError, ValueError):
    """A NAME=VALUE item that does not parse to a finite number."""


def expression_index(names: list[str], name: str) -> int:
    if name not in names:
        raise UnknownExpression(f"unknown expression {name!r}; this subject has: {', '.join(names)}")
    return names.index(name)


def edit_expression(expression, names: list[str], set_values: dict[str, float] | None = None,
                    scale: dict[str, float] | None = None) -> np.ndarray:
    """A copy of ``expression`` [K] with ``set_values`` assigned, then ``scale`` factors applied, by name.

    Values outside the training range are allowed here; the model clamps them when rendering.
    """
    edited = np.array(expression, dtype=np.float32, copy=True)
    for name, value in (set_values or {}).items():
        edited[expression_index(names, name)] = value
    for name, factor in (scale or {}).items():
        edited[expression_index(names, name)] *= factor
    return edited


def parse_assignments(items: list[str]) -> dict[str, float]:
    """['jawOpen=0.8', ...] -> {'jawOpen': 0.8} (for the command line)."""
    result = {}
    for item in items:
        name, _, text = item.partition("=")
        try:
            value = float(text) if _ and name else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadAssignment(f"expected NAME=VALUE with a finite number, got {item!r}")
        result[name] = value
    return result
