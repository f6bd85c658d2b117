"""qdiff.primitives.svd: values vs numpy, truncation, jit/vmap, derivatives vs finite differences on
degenerate, rank-deficient, complex and truncated input, native-JAX failure, a TRG-like second
derivative through a truncated SVD with symmetry-degenerate singular values, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.primitives import svd

from ._fd import central_difference, directional, random_direction, rel


def _c(x):
    return x - jnp.sin(2 * jnp.pi * x) / (2 * jnp.pi)


def _loss(a, k=None, fn=None, p=1):
    """Σ h(s_i) + Re tr(U c(S) V† B) + tr(P B2), P the projector onto the first p left singular
    vectors (a complete cluster): smooth and gauge invariant (c odd, flat at integers)."""
    u, s, vh = svd(a, k=k) if fn is None else fn(a)
    m, n = a.shape
    b = jnp.cos(jnp.add.outer(1.3 * jnp.arange(n), 0.7 * jnp.arange(m)))
    b2 = jnp.cos(jnp.add.outer(0.4 * jnp.arange(m), 1.1 * jnp.arange(m)))
    proj = u[:, :p] @ u[:, :p].conj().T
    h = 0.5 * s * s + (jnp.cos(2 * jnp.pi * s) - 1) / (4 * jnp.pi ** 2)  # h'' = 0 at integers
    return (jnp.sum(h) + jnp.sum(jnp.real(((u * _c(s)) @ vh) * b.T))
            + jnp.sum(jnp.real(proj * (b2 + b2.T))))


def test_values_match_numpy_tall_wide_complex_batched_truncated():
    rng = np.random.default_rng(0)
    for shape in [(3, 6, 4), (3, 4, 6)]:
        a = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        u, s, vh = svd(jnp.asarray(a))
        np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-12)
        assert np.all(np.diff(np.asarray(s), axis=-1) <= 0)
        np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, atol=1e-12)
        uk, sk, vhk = svd(jnp.asarray(a), k=2)
        assert uk.shape == shape[:-1] + (2,) and vhk.shape == (3, 2, shape[-1])
        np.testing.assert_allclose(sk, np.linalg.svd(a, compute_uv=False)[..., :2], atol=1e-12)
        # jit and vmap agree with the eager batched call
        np.testing.assert_allclose(jax.jit(svd, static_argnames="k")(jnp.asarray(a), k=2)[1], sk, atol=1e-13)
        np.testing.assert_allclose(jax.vmap(lambda x: svd(x, k=2)[1])(jnp.asarray(a)), sk, atol=1e-13)


# First and second derivatives on degenerate, nearly degenerate, rank-deficient (tall and wide),
# complex and truncated inputs are checked against finite differences by the registry harness
# (test_registry_conformance.py, entry "svd"); the tests here cover what the harness does not.


def test_native_jax_svd_gives_nan_on_degenerate_singular_values():
    a = jnp.diag(jnp.asarray([2.0, 2.0, 1.0]))  # exactly degenerate
    native = jax.jit(jax.grad(lambda x: _loss(x, fn=lambda y: jnp.linalg.svd(y, full_matrices=False), p=2)))(a)
    assert not np.all(np.isfinite(np.asarray(native)))
    loss = jax.jit(lambda x: _loss(x, p=2))
    ours = jax.jit(jax.grad(loss))(a)
    t = random_direction(7, (3, 3))
    assert rel(directional(ours, t), central_difference(loss, a, t)) < 1e-7


def _trg_like_step(beta, decompose):
    """A TRG-like split of the Ising bond weight: M(β) = I₂ ⊗ W, W = [[e^β, e^-β], [e^-β, e^β]].

    M's singular values 2cosh β, 2cosh β, 2sinh β, 2sinh β are exactly degenerate for every β (as
    LAPACK returns them); truncation to k = 2 cuts between distinct values. With S1 = U√S and
    S2 = √S V† (the split tensors, gauge dependent), the contraction ln tr[(S2 S1)^3] is invariant
    and equals ln Σ_{i<=2} s_i^3 = ln 2 + 3 ln(2cosh β): d²/dβ² = 3 / cosh²β exactly.
    """
    w = jnp.array([[jnp.exp(beta), jnp.exp(-beta)], [jnp.exp(-beta), jnp.exp(beta)]])
    u, s, vh = decompose(jnp.kron(jnp.eye(2), w))
    u, s, vh = u[:, :2], s[:2], vh[:2]
    core = (jnp.sqrt(s)[:, None] * vh) @ (u * jnp.sqrt(s))
    return jnp.log(jnp.trace(core @ core @ core))


def test_trg_like_second_derivative_through_truncated_degenerate_svd():
    beta = 0.4
    ours = lambda b: _trg_like_step(b, lambda m: svd(m, k=2))
    d2 = float(jax.jit(jax.grad(jax.grad(ours)))(beta))
    first = jax.jit(jax.grad(ours))
    h = 1e-3
    fd2 = float((8 * (first(beta + h) - first(beta - h)) - (first(beta + 2 * h) - first(beta - 2 * h))) / (12 * h))
    assert np.isfinite(d2) and rel(d2, fd2) < 1e-6
    assert rel(d2, 3.0 / np.cosh(beta) ** 2) < 1e-10
    native = lambda b: _trg_like_step(b, lambda m: jnp.linalg.svd(m, full_matrices=False))
    assert not np.isfinite(float(jax.jit(jax.grad(jax.grad(native)))(beta)))


@pytest.mark.parametrize("kwargs, match", [
    ({"a": np.ones(3)}, "at least 2 dimensions"),
    ({"a": np.ones((2, 2), dtype=np.int32)}, "float or complex"),
    ({"a": np.array([[1.0, np.inf], [0.0, 1.0]])}, "NaN or infinite"),
    ({"a": np.ones((3, 2)), "k": 3}, "'k'"),
    ({"a": np.ones((3, 2)), "k": 0}, "'k'"),
    ({"a": np.ones((3, 2)), "eps": -1e-3}, "'eps'"),
])
def test_bad_input_raises_before_computing(kwargs, match):
    with pytest.raises(InputError, match=match):
        svd(**kwargs)
