"""LOBPCG against matrices with known spectra, the analytic 3D Laplacian, and numpy.linalg.eigh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import LobpcgInfo, dense_eigh, lobpcg
from qdiff.errors import InputError

N, M = 160, 6
TOL = 1e-9


def _matrix(spectrum, seed, complex_=False):
    """Hermitian matrix Q diag(spectrum) Qᴴ with a random (complex) orthogonal Q."""
    rng = np.random.default_rng(seed)
    n = len(spectrum)
    z = rng.normal(size=(n, n)) + (1j * rng.normal(size=(n, n)) if complex_ else 0)
    q, _ = np.linalg.qr(z)
    h = (q * np.asarray(spectrum)) @ q.conj().T
    return 0.5 * (h + h.conj().T), q


def _x0(seed, m=M, complex_=False, n=N):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(size=(n, m)) + (1j * rng.normal(size=(n, m)) if complex_ else 0)


def _dense_solver(n_conv=None, soft_locking=False):
    @jax.jit
    def solve_jit(h, x0, tol, maxiter):  # tol, maxiter traced: one compilation for all values
        return lobpcg(lambda x: h @ x, x0, tol=tol, maxiter=maxiter, n_conv=n_conv, soft_locking=soft_locking)

    def solve(h, x0, tol=TOL, maxiter=400):
        return solve_jit(h, x0, tol, maxiter)

    solve.cache_size = solve_jit._cache_size
    return solve


_solve = _dense_solver()


def _spectrum(seed, head):
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([head, rng.uniform(3.0, 40.0, N - len(head))]))


def _check_pairs(h, w, v, info, exact, m=M):
    np.testing.assert_allclose(w, exact[:m], atol=1e-12, rtol=0)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(m), atol=1e-13)
    res = np.linalg.norm(h @ v - v * w, axis=0)
    assert np.all(res < TOL) and bool(info.converged)
    np.testing.assert_allclose(info.residual_norms, res, atol=1e-13)


@pytest.mark.parametrize("complex_", [False, True])
def test_random_hermitian_known_spectrum(complex_):
    exact = _spectrum(1, [-2.0, -1.0, 0.3, 0.7, 1.1, 1.6, 2.0])
    h, q = _matrix(exact, 2, complex_)
    w, v, info = _solve(h, _x0(3, complex_=complex_))
    assert isinstance(info, LobpcgInfo)
    _check_pairs(h, np.asarray(w), np.asarray(v), info, exact)
    # each eigenvector is the exact one up to a phase (the spectrum head is non-degenerate)
    overlaps = np.abs(np.sum(q[:, :M].conj() * np.asarray(v), axis=0))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-9)
    # and agrees with numpy's dense solver
    np.testing.assert_allclose(w, np.linalg.eigvalsh(h)[:M], atol=1e-12)


_solve_locking = _dense_solver(soft_locking=True)


@pytest.mark.parametrize("soft_locking", [False, True])
def test_degenerate_and_clustered_spectrum(soft_locking):
    """A triple degeneracy and a cluster split by 1e-7: eigenvalues and invariant subspaces exact."""
    head = [-1.0, 0.5, 0.5, 0.5, 1.0, 1.0 + 1e-7, 1.0 + 2e-7]
    exact = _spectrum(4, head)
    h, q = _matrix(exact, 5)
    w, v, info = (_solve_locking if soft_locking else _solve)(h, _x0(6))
    _check_pairs(h, np.asarray(w), np.asarray(v), info, exact)
    v = np.asarray(v)
    # the returned degenerate triple spans the exact eigenspace
    proj = q[:, 1:4] @ q[:, 1:4].T
    np.testing.assert_allclose(proj @ v[:, 1:4], v[:, 1:4], atol=1e-9)


def test_degeneracy_split_by_the_block_edge():
    """λ_m = λ_{m+1}: the m-th vector is any vector of that eigenspace; the pairs still converge."""
    head = [-1.0, -0.5, 0.0, 0.4, 0.9, 1.2, 1.2, 1.2]
    exact = _spectrum(7, head)
    h, q = _matrix(exact, 8)
    w, v, info = _solve(h, _x0(9))
    _check_pairs(h, np.asarray(w), np.asarray(v), info, exact)
    space = q[:, 5:8]
    vm = np.asarray(v)[:, 5]
    assert np.linalg.norm(space.T @ vm) == pytest.approx(1.0, abs=1e-10)


def test_small_gap_at_the_block_edge_buffer_vectors_help():
    """λ_m and λ_{m+1} 1e-4 apart: slow for m vectors, fast with 3 buffer vectors (n_conv = m)."""
    head = [-1.0, -0.2, 0.3, 0.6, 0.8, 1.0, 1.0001, 1.5, 2.2]
    exact = _spectrum(10, head)
    h, _ = _matrix(exact, 11)
    w1, _, info1 = _solve(h, _x0(12))
    buffered = _dense_solver(n_conv=M)
    w2, v2, info2 = buffered(h, _x0(12, m=M + 3))
    assert bool(info1.converged) and bool(info2.converged)
    np.testing.assert_allclose(w1, exact[:M], atol=1e-12)
    np.testing.assert_allclose(w2[:M], exact[:M], atol=1e-12)
    assert int(info2.iterations) < 0.7 * int(info1.iterations)


def _laplacian_3d(n):
    """−Δ on an n³ grid (spacing 1, Dirichlet), applied to blocks (n³, m)."""

    def apply(x):
        u = x.reshape(n, n, n, -1)
        p = jnp.pad(u, ((1, 1), (1, 1), (1, 1), (0, 0)))
        out = 6 * u
        for axis in range(3):
            out = out - lax_slice(p, axis, 0, n) - lax_slice(p, axis, 2, n + 2)
        return out.reshape(n**3, -1)

    def lax_slice(p, axis, start, stop):
        idx = [slice(1, n + 1)] * 3 + [slice(None)]
        idx[axis] = slice(start, stop)
        return p[tuple(idx)]

    return apply


def test_discrete_laplacian_analytic_eigenvalues():
    n = 9
    k = np.arange(1, n + 1)
    one_d = 4 * np.sin(np.pi * k / (2 * (n + 1))) ** 2
    exact = np.sort((one_d[:, None, None] + one_d[None, :, None] + one_d[None, None, :]).ravel())
    m = 6  # 1 + 3 + 2 of the next triple: the block edge splits a degenerate level
    apply = _laplacian_3d(n)
    w, v, info = jax.jit(lambda x0: lobpcg(apply, x0, tol=TOL, maxiter=300))(_x0(13, m=m, n=n**3))
    np.testing.assert_allclose(w, exact[:m], atol=1e-12, rtol=0)
    assert bool(info.converged)
    assert np.all(np.linalg.norm(np.asarray(apply(v)) - np.asarray(v) * np.asarray(w), axis=0) < TOL)


def test_preconditioning_reduces_iterations():
    rng = np.random.default_rng(14)
    d = np.sort(rng.uniform(1.0, 1000.0, N))
    off = rng.normal(size=(N, N))
    h = np.diag(d) + 0.3 * (off + off.T)  # diagonally dominant
    exact = np.linalg.eigvalsh(h)
    x0 = _x0(15)
    _, _, plain = _solve(h, x0)

    def solve_pre(h, x0):
        diag = jnp.diagonal(h)
        return lobpcg(lambda x: h @ x, x0, tol=TOL, maxiter=500,
                      precond=lambda r, lam: r / (diag[:, None] - 0.9 * lam[None, :]))

    w, v, pre = jax.jit(solve_pre)(h, x0)
    assert bool(plain.converged) and bool(pre.converged)
    np.testing.assert_allclose(w, exact[:M], atol=1e-10)
    assert int(pre.iterations) < 0.5 * int(plain.iterations)


def test_traced_tolerance_does_not_recompile():
    exact = _spectrum(21, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    h, _ = _matrix(exact, 22)
    before = _solve.cache_size()
    for tol in (1e-4, 1e-8, 1e-11):
        w, v, info = _solve(h, _x0(23), tol)
        assert bool(info.converged) and np.max(info.residual_norms) < tol
        res = np.linalg.norm(h @ np.asarray(v) - np.asarray(v) * np.asarray(w), axis=0)
        assert np.max(res) < tol
        # eigenvalue error is second order in the residual (gap ≥ 0.5 here)
        assert np.max(np.abs(np.asarray(w) - exact[:M])) < max(10 * tol**2, 1e-12)
    assert _solve.cache_size() <= before + 1


def test_not_converged_is_reported():
    # λ_j − λ_1 ~ 1e-3 against a spread of 1e4: unpreconditioned LOBPCG needs thousands of steps
    exact = np.concatenate([np.arange(8) * 1e-3, np.geomspace(1.0, 1e4, N - 8)])
    h, _ = _matrix(exact, 17)
    w, v, info = _solve(h, _x0(18))
    assert int(info.iterations) == 400 and not bool(info.converged)
    assert np.all(np.isfinite(np.asarray(w)))
    res = np.linalg.norm(h @ np.asarray(v) - np.asarray(v) * np.asarray(w), axis=0)
    np.testing.assert_allclose(info.residual_norms, res, atol=1e-10)
    assert np.max(res) > TOL
    # what it returns is still a Rayleigh–Ritz approximation: above the exact eigenvalues
    assert np.all(np.asarray(w) >= exact[:M] - 1e-12)


def test_dense_eigh():
    exact = np.concatenate([[-3.0, 0.0, 2.0], np.linspace(3.0, 9.0, 27)])
    h, _ = _matrix(exact, 20, complex_=True)
    w, v = dense_eigh(h, 4)
    np.testing.assert_allclose(w, exact[:4], atol=1e-12)
    np.testing.assert_allclose(h @ np.asarray(v), np.asarray(v) * np.asarray(w), atol=1e-11)
    with pytest.raises(InputError, match="nbands"):
        dense_eigh(h, 31)
    with pytest.raises(InputError, match="square"):
        dense_eigh(h[:, :-1], 2)


def test_bad_input():
    h = np.eye(10)
    with pytest.raises(InputError, match="shape"):
        lobpcg(lambda x: h @ x, np.ones(10))
    with pytest.raises(InputError, match="m <= n"):
        lobpcg(lambda x: x, np.ones((3, 4)))
    with pytest.raises(InputError, match="apply_h must map"):
        lobpcg(lambda x: x[:5], np.ones((10, 2)))
    with pytest.raises(InputError, match="tol"):
        lobpcg(lambda x: x, np.ones((10, 2)), tol=0.0)
    with pytest.raises(InputError, match="n_conv"):
        lobpcg(lambda x: x, np.ones((10, 2)), n_conv=3)
    with pytest.raises(InputError, match="precond"):
        lobpcg(lambda x: x, np.ones((10, 2)), precond=lambda r, lam: r[:, 0])
    with pytest.raises(InputError, match="soft_locking"):
        lobpcg(lambda x: x, np.ones((10, 2)), soft_locking=1)
    with pytest.raises(InputError, match="complex"):
        lobpcg(lambda x: 1j * x, np.ones((10, 2)))


def test_per_column_tolerances_and_loop_residuals():
    """tol per column (tight, loose, inf): each converged pair meets its own threshold; without the final
    H application the reported residual norms are still those of the returned pairs."""
    exact = _spectrum(30, [-1.0, -0.4, 0.2, 0.9, 1.3, 1.8, 2.4])
    h, _ = _matrix(exact, 31, complex_=True)
    tol = np.array([1e-10, 1e-10, 1e-10, 1e-5, 1e-5, np.inf])

    @jax.jit
    def solve(h, x0, tol):
        return lobpcg(lambda x: h @ x, x0, tol=tol, maxiter=400, recompute_residuals=False)

    w, v, info = solve(h, _x0(32, complex_=True), tol)
    w, v = np.asarray(w), np.asarray(v)
    res = np.linalg.norm(h @ v - v * w, axis=0)
    assert bool(info.converged) and np.all(res[:5] < tol[:5])
    np.testing.assert_allclose(info.residual_norms, res, atol=1e-11)
    np.testing.assert_allclose(w[:3], exact[:3], atol=1e-12)
    # loosely converged pairs: eigenvalue error second order in the residual
    assert np.all(np.abs(w[3:5] - exact[3:5]) < 1e-8)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(M), atol=1e-12)


def test_bad_tolerance_vector():
    with pytest.raises(InputError, match="tol"):
        lobpcg(lambda x: x, np.ones((10, 2)), tol=np.array([1e-8, 1e-8, 1e-8]))
    with pytest.raises(InputError, match="tol"):
        lobpcg(lambda x: x, np.ones((10, 2)), tol=np.array([1e-8, -1.0]))
    with pytest.raises(InputError, match="recompute_residuals"):
        lobpcg(lambda x: x, np.ones((10, 2)), recompute_residuals="no")
