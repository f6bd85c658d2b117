"""Ewald ion–ion energy against outside numbers: Madelung constants (rocksalt, CsCl, zincblende),
ABINIT's Si2 Ewald energy, independence of the splitting parameter, forces and lattice derivative
against central finite differences, and forces that vanish by symmetry / sum to zero."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import ewald_energy, ewald_setup
from qdiff.errors import InputError

FCC = 0.5 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).T  # columns, a = 1


@pytest.mark.parametrize(
    "lattice,positions,nn_distance,madelung",
    [
        (FCC, [[0, 0, 0], [0.5, 0.5, 0.5]], 0.5, 1.747564594633),  # NaCl
        (np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], math.sqrt(3) / 2, 1.762674773),  # CsCl
        (FCC, [[0, 0, 0], [0.25, 0.25, 0.25]], math.sqrt(3) / 4, 1.638055053),  # zincblende
    ],
    ids=["rocksalt", "cesium-chloride", "zincblende"],
)
def test_madelung_constants(lattice, positions, nn_distance, madelung):
    # energy per ion pair of a ±1 crystal = −M / d_nn; scale the cell to test units as well
    scale = 7.3
    e = float(ewald_energy(scale * lattice, jnp.array([1.0, -1.0]), jnp.array(positions, dtype=float)))
    assert -e * scale * nn_distance == pytest.approx(madelung, abs=2e-9)


A_SI = 10.26 / 2 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).T
X_SI = np.array([[1 / 8] * 3, [-1 / 8] * 3])
Z_SI = np.array([4.0, 4.0])


def test_si2_matches_abinit():
    assert float(ewald_energy(A_SI, Z_SI, X_SI)) == pytest.approx(-8.4004647862, abs=1e-10)


def test_independent_of_eta():
    ref = float(ewald_energy(A_SI, Z_SI, X_SI, setup=ewald_setup(A_SI, eta=0.15)))
    for eta in (0.35, 0.8):
        assert float(ewald_energy(A_SI, Z_SI, X_SI, setup=ewald_setup(A_SI, eta=eta))) == pytest.approx(ref, abs=1e-12)


@pytest.fixture(scope="module")
def si_grad():
    setup = ewald_setup(A_SI)
    f = jax.jit(lambda a, x: ewald_energy(a, Z_SI, x, setup=setup))
    return f, jax.jit(jax.grad(f, argnums=(0, 1)))


def _cart_forces(a, dEdx):
    return -np.asarray(dEdx) @ np.linalg.inv(a)  # F_i = −inv(A).T ∂E/∂x_i  (rows)


def test_forces_vanish_by_symmetry(si_grad):
    _, grad = si_grad
    _, dx = grad(jnp.asarray(A_SI), jnp.asarray(X_SI))
    np.testing.assert_allclose(_cart_forces(A_SI, dx), 0.0, atol=1e-12)


def test_forces_and_lattice_derivative_vs_finite_differences(si_grad):
    energy, grad = si_grad
    disp = np.array([0.05, 0.02, 0.0])  # Bohr, atom 2 (the ABINIT displaced case)
    x = X_SI.copy()
    x[1] += np.linalg.solve(A_SI, disp)
    da, dx = grad(jnp.asarray(A_SI), jnp.asarray(x))
    forces = _cart_forces(A_SI, dx)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-12)
    assert np.linalg.norm(forces[0]) > 1e-3
    h = 1e-4
    for c in range(3):  # Cartesian displacement of atom 1
        step = np.zeros_like(x)
        step[0] = np.linalg.solve(A_SI, np.eye(3)[c]) * h
        fd = -(float(energy(A_SI, x + step)) - float(energy(A_SI, x - step))) / (2 * h)
        assert forces[0, c] == pytest.approx(fd, abs=1e-9)
    rng = np.random.default_rng(0)
    t = rng.normal(size=(3, 3))
    fd = (float(energy(A_SI + h * t, x)) - float(energy(A_SI - h * t, x))) / (2 * h)
    assert float(jnp.sum(da * t)) == pytest.approx(fd, rel=1e-8)


def test_translation_and_relabelling_invariance():
    x = X_SI + np.array([0.3, -0.7, 1.2])
    assert float(ewald_energy(A_SI, Z_SI, x)) == pytest.approx(-8.4004647862, abs=1e-10)
    e1 = float(ewald_energy(FCC * 6, jnp.array([3.0, 1.0]), jnp.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.4]])))
    e2 = float(ewald_energy(FCC * 6, jnp.array([1.0, 3.0]), jnp.array([[0.6, 0.5, 0.4], [0.1, 0.2, 0.3]])))
    assert e1 == pytest.approx(e2, abs=1e-12)


def test_bad_input():
    with pytest.raises(InputError, match="singular"):
        ewald_energy(np.zeros((3, 3)), Z_SI, X_SI)
    with pytest.raises(InputError, match="positions"):
        ewald_energy(A_SI, Z_SI, X_SI[0])
    with pytest.raises(InputError, match="charges"):
        ewald_energy(A_SI, Z_SI[:1], X_SI)
    with pytest.raises(InputError, match="ewald_setup"):
        jax.grad(lambda a: ewald_energy(a, Z_SI, X_SI))(jnp.asarray(A_SI))


def test_supercell_is_extensive():
    # a 2×2×2 supercell of Si2 (16 atoms) holds 8 copies: E = 8 E(Si2) (ABINIT value)
    n = 2
    xs = np.array([(x + np.array([i, j, k])) / n for i in range(n) for j in range(n) for k in range(n) for x in X_SI])
    e = float(ewald_energy(n * A_SI, np.full(len(xs), 4.0), xs))
    assert e / n**3 == pytest.approx(-8.4004647862, abs=1e-10)
