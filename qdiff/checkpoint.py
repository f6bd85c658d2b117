"""Atomic checkpoints of pytrees of arrays.

A checkpoint is one ``.npz`` file holding the leaves of a pytree (for instance
parameters + optimiser state + step) and a JSON metadata record.  It is written
to a temporary file in the same directory, flushed to disk and renamed over the
target with :func:`os.replace`, so an interrupted run leaves either the old or
the new checkpoint, never a torn one.  Loading needs a *template* pytree of the
same structure (for example ``optimizer.init(params)``); structure, shapes and
dtypes are checked and a mismatch raises :class:`~qdiff.errors.CheckpointError`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import jax
import numpy as np

from .errors import CheckpointError

_META_KEY = "__qdiff_meta__"


def save_checkpoint(path: str | os.PathLike, tree: Any, meta: dict | None = None) -> None:
    """Write ``tree`` (a pytree of arrays) and ``meta`` (JSON-able dict) atomically to ``path``."""
    path = os.fspath(path)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    record = {"structure": str(treedef), "meta": meta or {}}
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays[_META_KEY] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike, template: Any) -> tuple[Any, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
      path: checkpoint file.
      template: a pytree with the structure, shapes and dtypes the checkpoint must have.

    Returns:
      ``(tree, meta)`` with ``tree`` shaped like ``template``.

    Raises:
      CheckpointError: the file is unreadable, corrupt, or does not match ``template``.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            record = json.loads(bytes(data[_META_KEY]).decode())
            n = len([k for k in data.files if k.startswith("leaf_")])
            leaves = [np.array(data[f"leaf_{i}"]) for i in range(n)]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is unreadable or corrupt: {exc}") from None
    t_leaves, t_def = jax.tree_util.tree_flatten(template)
    if record.get("structure") != str(t_def) or len(leaves) != len(t_leaves):
        raise CheckpointError(f"checkpoint {path!r} does not match this run's state structure")
    for i, (a, b) in enumerate(zip(leaves, t_leaves)):
        b = np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            raise CheckpointError(
                f"checkpoint {path!r}: leaf {i} has shape {a.shape} {a.dtype}, "
                f"this run expects {b.shape} {b.dtype}"
            )
    return jax.tree_util.tree_unflatten(t_def, leaves), dict(record.get("meta", {}))
