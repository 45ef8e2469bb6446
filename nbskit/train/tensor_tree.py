"""Nested state as flat tensors plus a JSON skeleton, so it loads with ``torch.load(weights_only=True)``.

Any tree of dicts, lists, tuples, torch tensors, numpy arrays and JSON scalars (None, bool, int,
float incl. NaN, str) round-trips exactly: ``unflatten(*flatten(tree)) == tree``, with tuples,
non-string dict keys (optimizer states use ints) and array dtypes kept. New kinds of training
state therefore fit into a checkpoint without code of their own. Nothing else is stored, so
loading a file never constructs arbitrary Python objects.
"""

from __future__ import annotations

import json

import numpy as np
import torch

TENSOR, ARRAY, TUPLE, ITEMS = "__tensor__", "__ndarray__", "__tuple__", "__items__"
MARKERS = (TENSOR, ARRAY, TUPLE, ITEMS)


def flatten(tree) -> tuple[str, dict[str, torch.Tensor]]:
    """(JSON skeleton, {name: tensor}) of ``tree``; raises TypeError for anything else."""
    tensors: dict[str, torch.Tensor] = {}

    def pack(value):
        if torch.is_tensor(value):
            tensors[str(len(tensors))] = value.detach()
            return {TENSOR: str(len(tensors) - 1)}
        if isinstance(value, np.ndarray):
            tensors[str(len(tensors))] = torch.from_numpy(value.astype(np.int64 if value.dtype.kind in "ui" else value.dtype))
            return {ARRAY: str(len(tensors) - 1), "dtype": value.dtype.str}
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, tuple):
            return {TUPLE: [pack(item) for item in value]}
        if isinstance(value, list):
            return [pack(item) for item in value]
        if isinstance(value, dict):
            if all(isinstance(key, str) and key not in MARKERS for key in value):
                return {key: pack(item) for key, item in value.items()}
            return {ITEMS: [[pack(key), pack(item)] for key, item in value.items()]}
        raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint (tensors, arrays and JSON values only)")

    return json.dumps(pack(tree)), tensors


def unflatten(skeleton: str, tensors: dict[str, torch.Tensor]):
    """The tree that :func:`flatten` took apart."""

    def unpack(value):
        if isinstance(value, list):
            return [unpack(item) for item in value]
        if not isinstance(value, dict):
            return value
        if TENSOR in value:
            return tensors[value[TENSOR]]
        if ARRAY in value:
            return tensors[value[ARRAY]].numpy().astype(np.dtype(value["dtype"]))
        if TUPLE in value:
            return tuple(unpack(item) for item in value[TUPLE])
        if ITEMS in value:
            return {unpack(key): unpack(item) for key, item in value[ITEMS]}
        return {key: unpack(item) for key, item in value.items()}

    return unpack(json.loads(skeleton))
