"""iPEPS models, tensors, observables and the L-BFGS optimisation (checkpoint/resume, bad input).

Outside numbers: Heisenberg bond spectrum (−3/4, 1/4, 1/4, 1/4), analytic product-state energies
and magnetisation, C4v group properties, the published C4v D=2 Heisenberg optimum
−0.6602310935 (Liao et al., PRX 9, 031041 (2019)).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.errors import CheckpointError, InputError
from qdiff.tensornet import (ctmrg, double_layer, energy_per_site, get_model, heisenberg, j1j2, magnetization,
                             model_names, optimize_ipeps, pad_tensor, random_tensor, rdm_diagonal, rdm_nn, symmetrize,
                             transverse_ising, two_site_model)
from qdiff.tensornet.ipeps import c4v_residual

PUBLISHED_D2 = -0.6602310935


def test_heisenberg_bond_spectrum_is_that_of_s_dot_s():
    for model in (heisenberg(), j1j2(0.5)):
        w = np.linalg.eigvalsh(model.h_nn)
        assert np.allclose(w, [-0.75, 0.25, 0.25, 0.25], atol=1e-14)
    w = np.linalg.eigvalsh(j1j2(0.5).h_nnn)
    assert np.allclose(w, 0.5 * np.array([-0.75, 0.25, 0.25, 0.25]), atol=1e-14)


def test_model_validation():
    h = np.zeros((4, 4))
    h[0, 1] = 1.0  # not Hermitian
    with pytest.raises(InputError, match="Hermitian"):
        two_site_model(h)
    with pytest.raises(InputError, match="4x4"):
        two_site_model(np.eye(3))
    with pytest.raises(InputError, match="heisenberg"):
        get_model("potts")
    assert set(model_names()) == {"heisenberg", "tfim", "j1j2"}


def test_symmetrize_is_a_projector_onto_c4v_tensors():
    A = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 3, 3, 3))
    S = symmetrize(A)
    assert c4v_residual(S) < 1e-14
    assert float(jnp.abs(symmetrize(S) - S).max()) < 1e-14
    # orthogonal projector: <A - S, S> = 0
    assert abs(float(jnp.sum((A - S) * S))) < 1e-12


def _product(theta, D=1):
    A = jnp.zeros((2, D, D, D, D))
    return A.at[0, 0, 0, 0, 0].set(jnp.cos(theta)).at[1, 0, 0, 0, 0].set(jnp.sin(theta))


def test_product_state_observables_are_analytic():
    """D=1 product state padded to D=2 (zero virtual components): ρ = ρ₁⊗ρ₁ exactly."""
    theta = 0.37
    A = pad_tensor(_product(theta), 2, key=jax.random.PRNGKey(1), noise=0.0)
    env = ctmrg(double_layer(A), 4, tol=1e-12)
    psi = np.array([math.cos(theta), math.sin(theta)])
    rho1 = np.outer(psi, psi)
    rho2 = np.kron(rho1, rho1)
    assert np.allclose(np.asarray(rdm_nn(A, env)), rho2, atol=1e-12)
    assert np.allclose(np.asarray(rdm_diagonal(A, env)), rho2, atol=1e-12)
    model = j1j2(0.4)
    exact = 2 * np.trace(rho2 @ model.h_nn) + 2 * np.trace(rho2 @ model.h_nnn)
    assert abs(float(energy_per_site(A, env, model)) - exact) < 1e-12
    # |<S>| of a pure spin-1/2 state is 1/2
    assert abs(float(magnetization(A, env)) - 0.5) < 1e-12


@pytest.fixture(scope="module")
def d2_optimum():
    return optimize_ipeps("heisenberg", 2, 16, key=0, steps=80)


def test_heisenberg_d2_reaches_published_c4v_optimum(d2_optimum):
    """Liao et al. (PRX 2019): the C4v D=2 optimum is −0.6602310935 per site."""
    r = d2_optimum
    assert abs(r.energy - PUBLISHED_D2) < 1e-6
    assert r.history[-1] == r.energy and r.history[0] > r.energy
    assert c4v_residual(r.A) < 1e-12


def test_warm_started_environment_reaches_the_same_published_optimum():
    """``env_start="previous"`` (CTMRG warm-started from the current iterate) reaches −0.6602310935 too."""
    r = optimize_ipeps("heisenberg", 2, 16, key=0, steps=80, env_start="previous")
    assert abs(r.energy - PUBLISHED_D2) < 1e-6


def test_continuing_with_handed_over_curvature_reaches_the_published_optimum():
    """A run continued from an earlier run's tensor and L-BFGS pairs (as when χ is raised) reaches −0.6602310935."""
    first = optimize_ipeps("heisenberg", 2, 16, key=0, steps=8)
    assert int(first.curvature["pairs"]) == 8 and first.curvature["S"].shape == (20, 32)
    r = optimize_ipeps("heisenberg", 2, 16, A0=first.A, curvature=first.curvature, steps=80)
    assert abs(r.energy - PUBLISHED_D2) < 1e-6


def test_checkpoint_resume_continues_the_same_trajectory(tmp_path):
    path = tmp_path / "run.npz"
    straight = optimize_ipeps("heisenberg", 2, 16, key=3, steps=6)
    first = optimize_ipeps("heisenberg", 2, 16, key=3, steps=3, checkpoint=path)
    assert first.steps == 3
    resumed = optimize_ipeps("heisenberg", 2, 16, key=3, steps=6, checkpoint=path)
    assert resumed.steps == 6
    assert resumed.history == straight.history  # nothing lost, nothing repeated
    assert np.array_equal(resumed.A, straight.A)


def test_corrupt_or_foreign_checkpoint_is_rejected(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        optimize_ipeps("heisenberg", 2, 16, key=3, steps=1, checkpoint=bad)
    good = tmp_path / "good.npz"
    optimize_ipeps("heisenberg", 2, 16, key=3, steps=0, checkpoint=good)
    with pytest.raises(CheckpointError, match="different run"):
        optimize_ipeps(transverse_ising(2.0), 2, 16, key=3, steps=1, checkpoint=good)


def test_checkpoint_records_the_adjoint_method_and_older_ones_still_resume(tmp_path):
    """A checkpoint written before ``ctm_adjoint_method`` existed (no key in its metadata) resumes, and
    the resumed run records the method it used."""
    import json

    def meta_of(path):
        with np.load(path) as data:
            arrays = {k: np.array(data[k]) for k in data.files}
        return arrays, json.loads(bytes(arrays["__qdiff_meta__"]).decode())

    path = tmp_path / "run.npz"
    optimize_ipeps("heisenberg", 2, 16, key=3, steps=1, checkpoint=path)
    arrays, record = meta_of(path)
    assert record["meta"].pop("ctm_adjoint_method") == "iterate"
    arrays["__qdiff_meta__"] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    np.savez(path, **arrays)  # as an older qdiff wrote it
    assert optimize_ipeps("heisenberg", 2, 16, key=3, steps=2, checkpoint=path).steps == 2
    assert meta_of(path)[1]["meta"]["ctm_adjoint_method"] == "iterate"


@pytest.mark.parametrize("kwargs, match", [
    ({"D": 0, "chi": 16}, "D must be a positive integer"),
    ({"D": 2, "chi": -3}, "chi must be a positive integer"),
    ({"D": 2, "chi": 16, "method": "adam"}, "method"),
    ({"D": 2, "chi": 16, "env_start": "warm"}, "env_start"),
    ({"D": 2, "chi": 16, "A0": np.ones((2, 3, 3, 3, 3))}, "A0 must have shape"),
    ({"D": 2, "chi": 16, "A0": np.ones((2, 2, 2, 2, 2)) * 1j}, "real"),
    ({"D": 2, "chi": 16, "ctm_adjoint_tol": 0.0}, "ctm_adjoint_tol must be positive"),
    ({"D": 2, "chi": 16, "ctm_adjoint_method": "anderson"}, "ctm_adjoint_method"),
    ({"D": 2, "chi": 16, "curvature": {"S": np.zeros((20, 162)), "Y": np.zeros((20, 162)), "pairs": 1}},
     "same D and memory"),
    ({"D": 2, "chi": 16, "curvature": {"S": np.zeros((20, 32))}}, "keys"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        optimize_ipeps("heisenberg", **kwargs)
    with pytest.raises(InputError, match="known models"):
        optimize_ipeps("ising3d", 2, 16)


def test_pad_tensor_keeps_the_state():
    A = random_tensor(jax.random.PRNGKey(2), 2, 2)
    B = pad_tensor(A, 3, key=jax.random.PRNGKey(4), noise=0.0)
    assert B.shape == (2, 3, 3, 3, 3)
    assert float(jnp.abs(B[:, :2, :2, :2, :2] - A / jnp.linalg.norm(A)).max()) < 1e-14
    with pytest.raises(InputError, match="smaller"):
        pad_tensor(B, 2, key=jax.random.PRNGKey(0))
