"""Finite-difference helpers for the decomposition tests (independent of any derivative rule)."""

import jax
import jax.numpy as jnp
import numpy as np


def central_difference(f, x, t, h=1e-3):
    """Fourth-order central difference of the real scalar ``f`` at ``x`` along ``t``."""
    fp, fm = f(x + h * t), f(x - h * t)
    fp2, fm2 = f(x + 2 * h * t), f(x - 2 * h * t)
    return float((8.0 * (fp - fm) - (fp2 - fm2)) / (12.0 * h))


def directional(grad, t):
    """``Re Σ g·t``: JAX's gradient convention paired with a (complex) direction."""
    return float(jnp.sum(jnp.real(grad * t)))


def random_direction(seed, shape, complex_=False, hermitian=False):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(shape)
    if complex_:
        t = t + 1j * rng.standard_normal(shape)
    if hermitian:
        t = 0.5 * (t + np.swapaxes(t.conj(), -1, -2))
    return jnp.asarray(t / np.linalg.norm(t))


def second_directional(loss, x, t):
    """(AD second directional derivative, FD of the AD first directional derivative)."""
    first = jax.jit(lambda y: jnp.sum(jnp.real(jax.grad(loss)(y) * t)))
    ad2 = float(jnp.sum(jnp.real(jax.grad(first)(x) * t)))
    return ad2, central_difference(first, x, t)


def rel(a, b, floor=1e-8):
    return abs(a - b) / max(abs(a), abs(b), floor)
