"""Observables of a C4v iPEPS (or a classical C4v tensor network) from its CTMRG environment.

All reduced density matrices are normalised to unit trace, so the overall scale of
the environment and of the tensors drops out.  Index conventions follow
:mod:`qdiff.tensornet.ipeps`: ``a[u, l, d, r]``, ``C[α, β]``, ``T[α, s, β]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .ipeps import CTMEnv, double_layer, double_layer_open
from .models import Model


def _column(env: CTMEnv) -> jax.Array:
    """Boundary column ``L[α, s, β] = Σ C[α, γ] T[γ, s, δ] C[δ, β]`` (top corner, edge, bottom corner)."""
    return jnp.einsum("ag,gsd,db->asb", env.C, env.T, env.C)


def _half(env: CTMEnv, a_site: jax.Array) -> jax.Array:
    """Left half of a 3×2 patch: boundary column + one site column, open to the right.

    ``H[α, r, β, …] = Σ L[x, l, y] T[x, u, α] T[y, d, β] a[u, l, d, r, …]``.
    """
    L = _column(env)
    LT = jnp.einsum("xly,xua->ulya", L, env.T)
    LTT = jnp.einsum("ulya,ydb->ulabd", LT, env.T)
    return jnp.einsum("ulabd,uldr...->arb...", LTT, a_site)


def rdm_nn(A: jax.Array, env: CTMEnv) -> jax.Array:
    """Nearest-neighbour two-site reduced density matrix ``ρ[(s1 s2), (s1' s2')]`` (d²×d², unit trace).

    Computed on the 2×1 patch (two sites in a row, boundary of 2 corners + 6 edges each
    side); by C4v symmetry the vertical bond is identical.
    """
    d = A.shape[0]
    H = _half(env, double_layer_open(A))  # H[α, r, β, s, s']
    rho = jnp.einsum("arbsS,arbtT->stST", H, H).reshape(d * d, d * d)
    rho = 0.5 * (rho + rho.conj().T)
    return rho / jnp.trace(rho)


def _corner(env: CTMEnv, a_site: jax.Array) -> jax.Array:
    """Enlarged corner ``M[(α,r),(β,d), …]`` for a site tensor with optional open indices."""
    chi, D2 = env.T.shape[0], env.T.shape[1]
    CT = jnp.einsum("gd,gua->dua", env.C, env.T)
    CTT = jnp.einsum("dua,dlb->ualb", CT, env.T)
    M = jnp.einsum("ualb,uldr...->arbd...", CTT, a_site)
    rest = M.shape[4:]
    return M.reshape((chi * D2, chi * D2) + rest)


def rdm_diagonal(A: jax.Array, env: CTMEnv) -> jax.Array:
    """Next-nearest-neighbour (diagonal) two-site reduced density matrix from the 2×2 plaquette.

    The plaquette is four enlarged corners ``M`` around a square; the two sites on one
    diagonal are left open: ``ρ = Tr(M_o M M_o M) / Tr(M⁴)`` (d²×d², unit trace).
    """
    d = A.shape[0]
    M = _corner(env, double_layer(A))
    Mo = _corner(env, double_layer_open(A))  # (N, N, d, d)
    X = jnp.einsum("ijsS,jk->iksS", Mo, M)
    rho = jnp.einsum("iksS,kitT->stST", X, X).reshape(d * d, d * d)
    rho = 0.5 * (rho + rho.conj().T)
    return rho / jnp.trace(rho)


def energy_per_site(A: jax.Array, env: CTMEnv, model: Model) -> jax.Array:
    """Energy per site ``e = 2 Tr(ρ_nn h_nn) + 2 Tr(ρ_diag h_nnn)`` (units of the model's couplings)."""
    return bond_energy(A, env, model.h_nn, model.h_nnn)


def bond_energy(A: jax.Array, env: CTMEnv, h_nn: jax.Array, h_nnn: jax.Array | None = None) -> jax.Array:
    """``2 Tr(ρ_nn h_nn) + 2 Tr(ρ_diag h_nnn)`` for bond terms given as arrays (jit-friendly)."""
    e = 2.0 * jnp.real(jnp.sum(rdm_nn(A, env) * jnp.asarray(h_nn).T))
    if h_nnn is not None:
        e = e + 2.0 * jnp.real(jnp.sum(rdm_diagonal(A, env) * jnp.asarray(h_nnn).T))
    return e


def magnetization(A: jax.Array, env: CTMEnv) -> jax.Array:
    """Length of the local spin vector ``|⟨S⟩|`` (spin-1/2, S = σ/2).

    For a sublattice-rotated model (Heisenberg) this is the staggered magnetisation of
    the original spins.
    """
    from .models import spin_operators

    d = A.shape[0]
    rho2 = rdm_nn(A, env).reshape(d, d, d, d)
    rho1 = jnp.einsum("stut->su", rho2)
    comps = [jnp.real(jnp.trace(rho1 @ jnp.asarray(S))) for S in spin_operators()]
    return jnp.sqrt(sum(c ** 2 for c in comps))


def log_kappa(a: jax.Array, env: CTMEnv) -> jax.Array:
    """Logarithm of the per-site contraction value ``κ = Z₁ Z₄ / Z₂²``.

    ``Z₁`` is the 3×3 patch (one ``a`` surrounded by 4 corners and 4 edges), ``Z₄ = Tr C⁴``
    and ``Z₂`` the 3×2 patch without ``a``.  For a classical model ``ln κ`` is ln Z per site;
    for a double layer it is the log-norm per site.  Gauge- and scale-invariant.
    """
    L = _column(env)
    Z1 = jnp.einsum("arb,arb->", _half(env, a), L)
    Z2 = jnp.einsum("asb,asb->", L, L)
    C2 = env.C @ env.C
    Z4 = jnp.sum(C2 * C2.T)
    return jnp.log(jnp.abs(Z1)) + jnp.log(jnp.abs(Z4)) - 2.0 * jnp.log(jnp.abs(Z2))


def transfer_spectrum(a: jax.Array, env: CTMEnv, k: int = 4) -> np.ndarray:
    """Largest-magnitude eigenvalues of the column transfer matrix (T–a–T), descending in |λ|.

    ``E[(α',s',β'),(α,s,β)] = Σ T[α,u,α'] a[u,s,d,s'] T[β,d,β']`` is symmetric for C4v
    tensors; Lanczos (scipy ``eigsh``) on a jitted matrix-vector product.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    T = jnp.asarray(env.T)
    chi, D2 = T.shape[0], T.shape[1]
    n = chi * chi * D2

    @jax.jit
    def matvec(v):
        v = v.reshape(chi, D2, chi)
        x = jnp.einsum("asb,aup->upsb", v, T)
        x = jnp.einsum("upsb,usdt->pbdt", x, a)
        x = jnp.einsum("pbdt,bdq->ptq", x, T)
        return x.reshape(n)

    if n <= 600:
        E = np.asarray(jax.vmap(matvec)(jnp.eye(n, dtype=T.dtype))).T
        lam = np.linalg.eigvalsh(0.5 * (E + E.T))
    else:
        op = LinearOperator((n, n), matvec=lambda v: np.asarray(matvec(jnp.asarray(v, T.dtype))),
                            dtype=np.float64)
        lam = eigsh(op, k=min(k, n - 2), which="LM", return_eigenvectors=False, tol=1e-12)
    lam = lam[np.argsort(-np.abs(lam))]
    return lam[:k]


def correlation_length(a: jax.Array, env: CTMEnv) -> float:
    """Correlation length ``ξ = −1 / ln|λ₂/λ₁|`` (lattice spacings) of the column transfer matrix.

    Returns ``inf`` when the two leading eigenvalues are degenerate (long-range order in a
    symmetric environment, or χ too small to resolve the gap).
    """
    lam = transfer_spectrum(a, env, k=3)
    ratio = abs(lam[1] / lam[0])
    if ratio >= 1.0 - 1e-13:
        return float("inf")
    return float(-1.0 / np.log(ratio))


__all__ = ["rdm_nn", "rdm_diagonal", "energy_per_site", "bond_energy", "magnetization", "log_kappa",
           "transfer_spectrum", "correlation_length"]
