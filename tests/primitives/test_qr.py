"""qdiff.primitives.qr: values vs numpy, gauge, jit/vmap, derivatives vs finite differences for tall,
square and wide, real and complex input, grad-of-grad, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.primitives import qr

from ._fd import central_difference, directional, random_direction, rel, second_directional


def _loss(a):
    q, r = qr(a)
    m, k = q.shape
    n = r.shape[1]
    b1 = jnp.cos(jnp.add.outer(0.9 * jnp.arange(m), 0.5 * jnp.arange(k))) + 0.3j
    b2 = jnp.sin(jnp.add.outer(0.2 * jnp.arange(k), 1.7 * jnp.arange(n)))
    return jnp.sum(jnp.real(q * b1) ** 2) + jnp.sum(jnp.sin(jnp.real(r * b2)))


@pytest.mark.parametrize("shape", [(6, 4), (4, 4), (4, 6)])
def test_values_and_gauge(shape):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2,) + shape) + 1j * rng.standard_normal((2,) + shape)
    q, r = qr(jnp.asarray(a))
    k = min(shape)
    np.testing.assert_allclose(q @ r, a, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(q.conj(), -1, -2) @ q, np.broadcast_to(np.eye(k), (2, k, k)), atol=1e-12)
    np.testing.assert_allclose(np.tril(np.asarray(r), -1), 0.0, atol=1e-14)
    d = np.diagonal(np.asarray(r), axis1=-2, axis2=-1)
    assert np.all(d.real > 0) and np.allclose(d.imag, 0.0)
    # numpy's R has the same |diag| (the decomposition is unique up to these phases)
    np.testing.assert_allclose(np.abs(d), np.abs(np.diagonal(np.linalg.qr(a)[1], axis1=-2, axis2=-1)), atol=1e-12)
    qv, rv = jax.vmap(qr)(jnp.asarray(a))
    qj, rj = jax.jit(qr)(jnp.asarray(a))
    np.testing.assert_allclose(rv, r, atol=1e-13)
    np.testing.assert_allclose(qj, q, atol=1e-13)


@pytest.mark.parametrize("shape, cplx", [((4, 6), True)])
def test_gradient_and_second_derivative_match_fd(shape, cplx):
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if cplx else 0)
    a = jnp.asarray(a)
    t = random_direction(3, shape, cplx)
    loss = jax.jit(_loss)
    assert rel(directional(jax.jit(jax.grad(loss))(a), t), central_difference(loss, a, t)) < 1e-8
    ad2, fd2 = second_directional(_loss, a, t)
    assert rel(ad2, fd2) < 1e-6


@pytest.mark.parametrize("bad, match", [
    (np.ones(4), "at least 2 dimensions"),
    (np.ones((3, 3), dtype=np.int64), "float or complex"),
    (np.array([[np.nan, 1.0], [0.0, 1.0]]), "NaN or infinite"),
])
def test_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        qr(bad)
