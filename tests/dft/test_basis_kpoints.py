"""Plane-wave basis, k-points and symmetry against known counts, spglib, and exact identities."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import (PlaneWaveBasis, aluminium, default_fft_size, find_symmetries, model_lda, reduce_kpoints,
                       silicon)
from qdiff.dft.density import symmetrize_density
from qdiff.dft.fft import real_to_sphere, sphere_to_real


@pytest.mark.parametrize("structure", [silicon, aluminium])
def test_cubic_crystals_have_48_operations(structure):
    lattice, symbols, pos = structure()
    assert len(find_symmetries(lattice, symbols, pos)) == 48  # Fd-3m and Fm-3m: point group Oh


def test_symmetry_operations_agree_with_spglib():
    pytest.importorskip("spglib", reason="cross-check needs spglib")
    lattice, symbols, pos = silicon()
    pos = pos + np.array([[0.01, 0.01, 0.01], [0, 0, 0]])  # D3d: the pair keeps its inversion centre
    ours = find_symmetries(lattice, symbols, pos)
    theirs = find_symmetries(lattice, symbols, pos, use_spglib=True)
    assert len(ours) == len(theirs) == 12
    assert {op.W.tobytes() for op in ours} == {op.W.tobytes() for op in theirs}


@pytest.mark.parametrize("structure,n,expected", [(silicon, 4, 8), (aluminium, 8, 29), (aluminium, 4, 8)])
def test_irreducible_kpoint_counts_of_fcc_grids(structure, n, expected):
    # Γ-centred n×n×n grids of the fcc lattice: 8 (n=4) and 29 (n=8) irreducible points (ABINIT's counts)
    lattice, symbols, pos = structure()
    kp = reduce_kpoints((n, n, n), (0, 0, 0), find_symmetries(lattice, symbols, pos))
    assert len(kp.coords) == expected
    assert abs(kp.weights.sum() - 1.0) < 1e-14
    assert np.all(np.round(kp.weights * n**3) == kp.weights * n**3)


def test_time_reversal_only_count():
    # n even: 8 points with 2k ≡ 0 map to themselves, the rest pair up: (n³ − 8)/2 + 8
    kp = reduce_kpoints((4, 4, 4), (0, 0, 0), [], time_reversal=True)
    assert len(kp.coords) == (64 - 8) // 2 + 8
    assert len(reduce_kpoints((3, 2, 5), (0, 0, 0), [], time_reversal=False).coords) == 30


def test_default_fft_sizes_match_abinit():
    assert default_fft_size(silicon()[0], 15.0) == (30, 30, 30)
    assert default_fft_size(aluminium()[0], 15.0) == (24, 24, 24)


@pytest.fixture(scope="module")
def basis():
    return PlaneWaveBasis(model_lda(*silicon()), 15.0, (2, 2, 2), fft_size=(30, 30, 30))


def test_sphere_sizes_match_the_continuum_count(basis):
    # number of G with |k+G|² ≤ 2 Ecut ≈ Ω (2 Ecut)^{3/2} / (6π²)
    expected = basis.model.volume * (2 * 15.0) ** 1.5 / (6 * math.pi**2)
    assert np.all(np.abs(basis.n_planewaves / expected - 1) < 0.05)  # surface fluctuations ~ N^(2/3)
    kin = np.asarray(basis.data.kinetic)[np.asarray(basis.data.mask) > 0]
    assert kin.max() <= 15.0


def test_fft_normalisation_parseval_and_round_trip(basis):
    d = basis.data
    rng = np.random.default_rng(0)
    c = (rng.standard_normal((basis.npw, 3)) + 1j * rng.standard_normal((basis.npw, 3))) * np.asarray(d.mask[0])[:, None]
    u = sphere_to_real(jnp.asarray(c), d.fft_idx[0], d.mask[0], d.fft_size, d.volume)
    n = np.prod(basis.fft_size)
    np.testing.assert_allclose(np.sum(np.abs(u) ** 2, axis=(1, 2, 3)) * d.volume / n, np.sum(np.abs(c) ** 2, axis=0))
    np.testing.assert_allclose(real_to_sphere(u, d.fft_idx[0], d.mask[0], d.fft_size, d.volume), c, atol=1e-12)


def test_density_symmetriser_is_a_projection_preserving_charge(basis):
    rho = jnp.asarray(np.random.default_rng(1).random(basis.fft_size))
    s1 = symmetrize_density(basis.data, rho)
    np.testing.assert_allclose(symmetrize_density(basis.data, s1), s1, atol=1e-13)
    assert abs(float(s1.sum() - rho.sum())) < 1e-9


def _average_over_operations(basis, rho):
    """ρ_sym(G') = (1/|S|) Σ_S ρ(W^{-T}G') e^{2πi (W^{-T}G')·w}, operation by operation (the definition)."""
    shape = basis.fft_size
    freqs = [np.fft.fftfreq(n, 1.0 / n).round().astype(int) for n in shape]
    G = np.stack(np.meshgrid(*freqs, indexing="ij"), axis=-1).reshape(-1, 3)
    lo, hi = G.min(axis=0), G.max(axis=0)
    rG = np.fft.fftn(rho).reshape(-1) / rho.size
    acc = np.zeros(len(G), complex)
    inside = np.ones(len(G), bool)
    for op in basis.symops:
        Gs = G @ np.round(np.linalg.inv(op.W)).astype(int)  # rows: (W^{-T} G)^T
        inside &= np.all((Gs >= lo) & (Gs <= hi), axis=1)
        idx = ((Gs[:, 0] % shape[0]) * shape[1] + (Gs[:, 1] % shape[1])) * shape[2] + (Gs[:, 2] % shape[2])
        acc += rG[idx] * np.exp(2j * np.pi * Gs @ op.w)
    acc = np.where(inside, acc / len(basis.symops), 0.0)
    return np.real(np.fft.ifftn(acc.reshape(shape)) * rho.size)


@pytest.mark.parametrize("name", ["si", "si8"])
def test_star_symmetriser_equals_the_average_over_operations(name):
    # Si₈ (cubic cell): 192 operations incl. fcc translations, with systematic extinctions
    from qdiff.dft import builtin_structure

    basis = PlaneWaveBasis(model_lda(*builtin_structure(name)), 6.0, (1, 1, 1))
    rho = np.random.default_rng(2).random(basis.fft_size)
    assert len(basis.symops) == {"si": 48, "si8": 192}[name]
    np.testing.assert_allclose(symmetrize_density(basis.data, jnp.asarray(rho)),
                               _average_over_operations(basis, rho), atol=1e-13)
