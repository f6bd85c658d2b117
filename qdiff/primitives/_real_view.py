"""Flat real views of pytrees of real and complex arrays (for solvers that work on real vectors).

A complex leaf is viewed as its stacked real and imaginary parts, so maps that involve ``conj``
(normalisations, densities) are real-linearisable and their derivatives are handled exactly.
Private helpers of :mod:`qdiff.primitives.fixed_point` (also the pytree norm its modules and the
check harness share).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

_TREE = jax.tree_util


def _split(tree):
    """Complex leaves -> stacked (real, imag); real leaves unchanged."""
    return _TREE.tree_map(lambda a: jnp.stack([a.real, a.imag]) if jnp.iscomplexobj(a) else a, tree)


def _merge(split_tree, like):
    """Inverse of :func:`_split` given a template ``like`` with the original dtypes."""
    return _TREE.tree_map(lambda a, l: (a[0] + 1j * a[1]).astype(l.dtype) if jnp.iscomplexobj(l) else a,
                          split_tree, like)


def flatten_real(tree) -> jax.Array:
    """The flat real vector of a pytree of arrays (complex leaves as real and imaginary parts)."""
    return ravel_pytree(_split(tree))[0]


def real_view(x0):
    """``(z0, to_tree)``: the flat real vector of pytree ``x0`` and its inverse map."""
    z0, unravel = ravel_pytree(_split(x0))
    template = _TREE.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), x0)

    def to_tree(z):
        return _merge(unravel(z), template)

    return z0, to_tree


def squared_norm(a) -> jax.Array:
    """``Σ |a_i|²`` of one array (no abs/sqrt per entry; conj is free for real arrays)."""
    a = jnp.asarray(a)
    return jnp.sum(jnp.real(a * jnp.conj(a)))


def tree_norm(tree) -> jax.Array:
    """Euclidean norm over all leaves of a pytree (complex entries by modulus)."""
    return jnp.sqrt(sum(squared_norm(a) for a in _TREE.tree_leaves(tree)))
