"""Float64 policy.

qdiff computes in float64 / complex128.  Importing :mod:`qdiff` switches JAX's
``jax_enable_x64`` flag on (documented in the README): a user script that never
touches the JAX configuration still gets double-precision physics.  Entry points
that would silently lose accuracy in float32 call :func:`require_x64`, which
raises a clear error if the flag was turned off afterwards.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_ENABLE_LINE = 'jax.config.update("jax_enable_x64", True)'


def enable_x64() -> None:
    """Turn on JAX's 64-bit mode (``jax_enable_x64``)."""
    jax.config.update("jax_enable_x64", True)


def x64_enabled() -> bool:
    """Return True when JAX creates float64 arrays by default."""
    return bool(jax.config.read("jax_enable_x64"))


def require_x64(what: str = "this computation") -> None:
    """Raise ``RuntimeError`` unless JAX's 64-bit mode is on.

    Args:
      what: name of the caller, used in the message.
    """
    if not x64_enabled():
        raise RuntimeError(
            f"{what} needs float64, but jax_enable_x64 is off; add `{_ENABLE_LINE}` "
            "before building arrays (importing qdiff does this unless it was turned off later)"
        )


def real_dtype():
    """The default real dtype (float64 when x64 is on)."""
    return jnp.zeros((), dtype=float).dtype


def complex_dtype():
    """The default complex dtype (complex128 when x64 is on)."""
    return jnp.zeros((), dtype=complex).dtype
