"""GTH/HGH pseudopotential data and form factors, checked against numbers from outside qdiff:
published parameters (ABINIT reference settings), the HGH paper's fixed off-diagonal relations,
numerical radial Fourier transforms (scipy quad), 3D quadrature of the plane-wave matrix element,
the spherical-harmonic addition theorem, and the ABINIT psp-correction energy of Si2."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import eval_legendre, spherical_jn

from qdiff.dft import (
    GthPseudo,
    available_gth,
    load_gth,
    local_form_factor,
    local_form_factor_g0,
    local_potential_real,
    projector_form_factor,
    projector_real,
    real_ylm,
)
from qdiff.errors import InputError

# ---------------------------------------------------------------- data


def test_si_al_parameters_match_reference_to_8_decimals():
    # dft_references.md (HGH 1998 / GTH-PADE, as used by ABINIT)
    si = load_gth("Si", "lda")
    assert si.zion == 4 and si.rloc == 0.44
    assert si.cloc == (-7.33610297, 0.0, 0.0, 0.0)
    assert si.rp == (0.42273813, 0.48427842)
    assert si.h[0] == ((5.90692831, -1.26189397), (-1.26189397, 3.25819622))
    assert si.h[1] == ((2.72701346,),)
    al = load_gth("Al")
    assert al.zion == 3 and al.rloc == 0.45 and al.cloc[0] == -8.49135116
    assert al.rp == (0.46010427, 0.53674439)
    assert al.h[0] == ((5.08833953, -1.03784325), (-1.03784325, 2.67969975))
    assert al.h[1] == ((2.19343827,),)


def test_coverage_h_to_ar_and_ga_ge_as():
    symbols = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar Ga Ge As").split()
    for func in ("lda", "pbe"):
        table = available_gth(func)
        for s in symbols:
            assert s in table, (func, s)
            psp = load_gth(s, func)
            assert psp.functional == func and psp.element == s
    assert set(available_gth("lda")["Na"]) >= {1, 9}
    assert load_gth("Na", zion=1).zion == 1 and load_gth("Na", zion=9).zion == 9


# HGH 1998 Eq. (4): off-diagonal h_ij fixed by the diagonal ones
_HGH_REL = {
    0: (-0.5 * math.sqrt(3 / 5), 0.5 * math.sqrt(5 / 21), -0.5 * math.sqrt(100 / 63)),
    1: (-0.5 * math.sqrt(5 / 7), math.sqrt(35 / 11) / 6, -14 / (6 * math.sqrt(11))),
    2: (-0.5 * math.sqrt(7 / 9), 0.5 * math.sqrt(63 / 143), -9 / math.sqrt(143)),
}


@pytest.mark.parametrize("symbol", "H He B C N O F Ne Mg Al Si P S Cl Ar Ge As".split())
def test_hgh_offdiagonal_relations_lda(symbol):
    """The full matrices reproduce the HGH paper's relations (checks the off-diagonal placement)."""
    for zion in available_gth("lda")[symbol]:
        psp = load_gth(symbol, "lda", zion=zion)
        for l in range(len(psp.h)):
            h = psp.h_matrix(l)
            assert np.array_equal(h, h.T)
            n = h.shape[0]
            if n >= 2:
                assert h[0, 1] == pytest.approx(_HGH_REL[l][0] * h[1, 1], abs=2e-8)
            if n >= 3:
                assert h[0, 2] == pytest.approx(_HGH_REL[l][1] * h[2, 2], abs=2e-8)
                assert h[1, 2] == pytest.approx(_HGH_REL[l][2] * h[2, 2], abs=2e-8)


def test_pseudo_is_hashable_and_static():
    a, b = load_gth("Si"), load_gth("si", "LDA")
    assert a == b and hash(a) == hash(b)
    f = jax.jit(lambda q, psp: local_form_factor(psp, q), static_argnums=1)
    assert np.isfinite(float(f(1.0, a)))


def test_bad_input_messages():
    with pytest.raises(InputError, match="Xx.*available elements"):
        load_gth("Xx")
    with pytest.raises(InputError, match=r"zion=5.*\[1, 9\]"):
        load_gth("Na", zion=5)
    with pytest.raises(InputError, match="functional"):
        load_gth("Si", functional="b3lyp")
    with pytest.raises(InputError, match="projectors"):
        projector_form_factor(load_gth("Si"), 1, 2, 1.0)
    with pytest.raises(InputError, match="real_ylm"):
        real_ylm(4, jnp.ones(3))


# ---------------------------------------------------------------- form factors vs quadrature
# Independent numpy transcriptions of the HGH real-space formulas (PRB 58, 3641, Eqs. 1-3).


def _vloc_plus_coulomb_np(psp, r):
    """V_loc(r) + Z/r = Z erfc(r/(√2 r_loc))/r + exp(-x²/2)(C1 + C2 x² + C3 x⁴ + C4 x⁶)."""
    from scipy.special import erfc

    x = r / psp.rloc
    c1, c2, c3, c4 = psp.cloc
    return (psp.zion * erfc(x / math.sqrt(2)) / r
            + np.exp(-x * x / 2) * (c1 + c2 * x**2 + c3 * x**4 + c4 * x**6))


def _proj_np(psp, l, i, r):
    rl = psp.rp[l]
    nu = l + (4 * i - 1) / 2
    return math.sqrt(2) * r ** (l + 2 * (i - 1)) * np.exp(-r * r / (2 * rl * rl)) / (rl**nu * math.sqrt(math.gamma(nu)))


def test_real_space_functions_match_formulas():
    r = np.linspace(0.01, 3.0, 17)
    for symbol, zion in (("Li", 3), ("Ga", 13)):
        psp = load_gth(symbol, zion=zion)
        np.testing.assert_allclose(local_potential_real(psp, r) + psp.zion / r, _vloc_plus_coulomb_np(psp, r),
                                   rtol=1e-13, atol=1e-13)
        for l, i in psp.channels():
            np.testing.assert_allclose(projector_real(psp, l, i, r), _proj_np(psp, l, i, r), rtol=1e-13, atol=1e-15)
    # finite r -> 0 limit of V_loc: -Z·√(2/π)/r_loc + C1
    psp = load_gth("Si")
    assert float(local_potential_real(psp, 0.0)) == pytest.approx(
        -psp.zion * math.sqrt(2 / math.pi) / psp.rloc + psp.cloc[0], rel=1e-14)


def _num_local_ff(psp, q):
    """∫ V_loc e^{-iq·r} d³r = 4π ∫ r² (V_loc + Z/r) j0(qr) dr − 4πZ/q²."""
    f = lambda r: 4 * math.pi * r * r * _vloc_plus_coulomb_np(psp, r) * math.sin(q * r) / (q * r)
    return quad(f, 1e-12, 40 * psp.rloc, limit=400, epsabs=1e-13)[0] - 4 * math.pi * psp.zion / q**2


@pytest.mark.parametrize("symbol,zion", [("Si", 4), ("Li", 3), ("Na", 9), ("O", 6), ("Ga", 13)])
def test_local_form_factor_vs_quadrature(symbol, zion):
    psp = load_gth(symbol, zion=zion)
    qs = np.array([0.2, 0.9, 2.3, 4.7])
    ours = np.asarray(local_form_factor(psp, qs))
    ref = np.array([_num_local_ff(psp, q) for q in qs])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("symbol,zion", [("Si", 4), ("Li", 3), ("Na", 9)])
def test_local_form_factor_g0_vs_quadrature(symbol, zion):
    psp = load_gth(symbol, zion=zion)
    f = lambda r: 4 * math.pi * r * r * _vloc_plus_coulomb_np(psp, r)
    ref = quad(f, 1e-12, 40 * psp.rloc, limit=400, epsabs=1e-13)[0]
    assert local_form_factor_g0(psp) == pytest.approx(ref, rel=1e-10, abs=1e-10)


def test_psp_correction_si2_matches_abinit():
    psp = load_gth("Si")
    volume = 10.26**3 / 4
    e = 2 * local_form_factor_g0(psp) * 8 / volume
    assert e == pytest.approx(-0.2948927658, abs=1e-10)


def test_local_form_factor_q0_and_gradients():
    psp = load_gth("Si")
    q = jnp.array([0.0, 0.5, 1.5])
    v = local_form_factor(psp, q)
    assert float(v[0]) == 0.0
    g = jax.jit(jax.grad(lambda q: jnp.sum(local_form_factor(psp, q))))(q)
    assert np.all(np.isfinite(g)) and float(g[0]) == 0.0
    h = 1e-5
    fd = (local_form_factor(psp, q[1:] + h) - local_form_factor(psp, q[1:] - h)) / (2 * h)
    np.testing.assert_allclose(g[1:], fd, rtol=1e-7)


_PROJ_CASES = [("Si", 4), ("Ga", 13), ("Ga", 3), ("La", 11)]


@pytest.mark.parametrize("symbol,zion", _PROJ_CASES)
def test_projector_normalised_and_form_factor_vs_quadrature(symbol, zion):
    psp = load_gth(symbol, zion=zion)
    assert psp.channels()
    for l, i in psp.channels():
        rl = psp.rp[l]
        norm = quad(lambda r: (r * _proj_np(psp, l, i, r)) ** 2, 0, 30 * rl, limit=200)[0]
        assert norm == pytest.approx(1.0, abs=1e-10)
        qs = np.array([0.0, 0.6, 2.1, 4.0]) / rl
        ours = np.asarray(projector_form_factor(psp, l, i, qs))
        for q, val in zip(qs, ours):
            f = lambda r: r * r * _proj_np(psp, l, i, r) * spherical_jn(l, q * r)
            ref = quad(f, 0, 30 * rl, limit=200, epsabs=1e-14)[0]
            assert val == pytest.approx(ref, rel=1e-9, abs=1e-12), (l, i, q)


def test_projector_form_factor_gradient_vs_fd_and_q0():
    psp = load_gth("Ga", zion=13)
    q = jnp.array([0.0, 0.4, 1.7, 3.2])
    for l, i in psp.channels():
        g = jax.jit(jax.grad(lambda q: jnp.sum(projector_form_factor(psp, l, i, q))))(q)
        assert np.all(np.isfinite(g))
        h = 1e-5
        fd = (projector_form_factor(psp, l, i, q[1:] + h) - projector_form_factor(psp, l, i, q[1:] - h)) / (2 * h)
        np.testing.assert_allclose(g[1:], fd, rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------- real spherical harmonics


def _sphere_grid(n=24):
    xg, wg = np.polynomial.legendre.leggauss(n)  # cos(theta)
    phi = 2 * np.pi * np.arange(2 * n) / (2 * n)
    ct, ph = np.meshgrid(xg, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    pts = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    w = (wg[:, None] * np.full(phi.shape, 2 * np.pi / (2 * n))[None, :]).reshape(-1)
    return pts, w


@pytest.mark.parametrize("l", [0, 1, 2, 3])
def test_real_ylm_orthonormal_and_addition_theorem(l):
    pts, w = _sphere_grid()
    y = np.asarray(real_ylm(l, 3.7 * pts))  # any length: normalised inside
    gram = (y * w[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(2 * l + 1), atol=1e-12)
    rng = np.random.default_rng(l)
    a, b = rng.normal(size=(2, 3))
    lhs = float(jnp.dot(real_ylm(l, a), real_ylm(l, b)))
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert lhs == pytest.approx((2 * l + 1) / (4 * np.pi) * eval_legendre(l, cos), abs=1e-13)


def test_real_ylm_safe_at_zero():
    def all_l(q):
        return jnp.concatenate([real_ylm(l, q) for l in (0, 1, 2, 3)])

    v = all_l(jnp.zeros(3))
    np.testing.assert_allclose(v, [1 / math.sqrt(4 * math.pi)] + [0.0] * 15, atol=0)
    g = jax.jit(jax.jacrev(all_l))(jnp.zeros(3))
    assert np.all(np.isfinite(g))


# ---------------------------------------------------------------- the documented plane-wave convention


def test_plane_wave_projector_matrix_element_convention():
    """∫ p_i^l(r) Y_lm(r̂) e^{-iq·r} d³r = 4π (−i)^l Y_lm(q̂) P_i^l(|q|), by direct 3D quadrature."""
    psp = load_gth("Ga", zion=13)
    pts, w_ang = _sphere_grid(20)
    xr, wr = np.polynomial.legendre.leggauss(80)
    for l, i in [(0, 2), (1, 1), (1, 2), (2, 1)]:
        rl = psp.rp[l]
        rmax = 12 * rl
        r = 0.5 * rmax * (xr + 1)
        w_r = 0.5 * rmax * wr * r**2 * _proj_np(psp, l, i, r)
        ylm_r = np.asarray(real_ylm(l, pts))  # (nang, 2l+1)
        for qvec in (np.array([0.7, -0.3, 1.1]), np.array([0.0, 2.0, 0.5])):
            qr = np.einsum("a,kc,c->ak", r, pts, qvec)
            phase = np.exp(-1j * qr)  # (nr, nang)
            integral = np.einsum("a,ak,k,km->m", w_r, phase, w_ang, ylm_r)
            expect = (4 * np.pi * (-1j) ** l * np.asarray(real_ylm(l, qvec))
                      * float(projector_form_factor(psp, l, i, np.linalg.norm(qvec))))
            np.testing.assert_allclose(integral, expect, atol=1e-10)
