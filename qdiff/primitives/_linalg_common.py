"""Shared pieces of the decomposition rules (eigh, svd, qr): input checks and broadening.

Private module: the public entries are :func:`qdiff.primitives.eigh`,
:func:`qdiff.primitives.svd` and :func:`qdiff.primitives.qr`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_matrix(a, name: str, func: str, *, square: bool = False) -> jax.Array:
    """Validate a (batched) matrix argument before any computation and return it as a JAX array.

    Shape and dtype are checked always (they are static under ``jit``); finiteness only when
    the value is concrete (not traced).

    Raises:
      InputError: ``ndim < 2``, non-square when ``square``, an empty matrix, a non-float /
        non-complex dtype, or non-finite entries.
    """
    if isinstance(a, (list, tuple)):
        a = np.asarray(a)
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise InputError(f"{func}: argument {name!r} must be an array, got {type(a).__name__}")
    if a.ndim < 2:
        raise InputError(f"{func}: argument {name!r} must have at least 2 dimensions (..., m, n), "
                         f"got shape {tuple(a.shape)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise InputError(f"{func}: argument {name!r} must be square in its last two dimensions, "
                         f"got shape {tuple(a.shape)}")
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        raise InputError(f"{func}: argument {name!r} is empty (shape {tuple(a.shape)})")
    dtype = np.dtype(a.dtype)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating)):
        raise InputError(f"{func}: argument {name!r} must be a float or complex array, got dtype {dtype}; "
                         "convert it explicitly (e.g. a.astype(float))")
    if not _is_traced(a):
        if not bool(np.all(np.isfinite(np.asarray(a)))):
            raise InputError(f"{func}: argument {name!r} contains NaN or infinite entries")
    return jnp.asarray(a)


def _check_eps(eps, func: str) -> float:
    """``eps`` is a static, non-negative Python float (it shapes the derivative rule, not the value)."""
    if _is_traced(eps):
        raise InputError(f"{func}: argument 'eps' must be a static Python float, not a traced value")
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise InputError(f"{func}: argument 'eps' must be a real number, got {eps!r}") from None
    if not (np.isfinite(value) and value >= 0.0):
        raise InputError(f"{func}: argument 'eps' must be finite and >= 0, got {eps!r}")
    return value


def _broadened_inverse(x: jax.Array, eps: float) -> jax.Array:
    r"""Broadened reciprocal :math:`x^3 / (x^4 + \epsilon^2)` (exactly 0 at ``x = 0``).

    This is the Lorentzian :math:`x/(x^2+\epsilon)` applied to :math:`x^2`: the same width
    :math:`\sqrt\epsilon`, but a relative error :math:`\epsilon^2/x^4` instead of :math:`\epsilon/x^2`
    for resolved gaps, and :math:`\approx x^3/\epsilon^2 \approx 0` (instead of :math:`x/\epsilon`)
    inside a cluster of near-degenerate values, so such a cluster is treated as exactly degenerate.
    Bounded by :math:`0.57/\sqrt\epsilon`. With ``eps = 0`` it is :math:`1/x` off zero and 0 at zero.
    """
    if eps == 0.0:
        safe = jnp.where(x == 0, 1.0, x)
        return jnp.where(x == 0, 0.0, 1.0 / safe)
    x2 = x * x
    return x * x2 / (x2 * x2 + eps * eps)


def _mH(x: jax.Array) -> jax.Array:
    """Conjugate transpose of the last two axes."""
    return jnp.swapaxes(x.conj(), -1, -2)
