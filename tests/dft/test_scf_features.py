"""SCF driver features: callback, history, ConvergenceError with state, checkpoint/resume, solvers agree."""

import numpy as np
import pytest

from qdiff.dft import PlaneWaveBasis, model_lda, self_consistent_field, silicon
from qdiff.errors import CheckpointError, ConvergenceError


@pytest.fixture(scope="module")
def basis():
    return PlaneWaveBasis(model_lda(*silicon()), 5.0, (2, 2, 2))


@pytest.fixture(scope="module")
def reference(basis):
    return self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9, solver="lobpcg")


def test_callback_sees_every_iteration_and_history_is_consistent(basis, reference):
    seen = []
    res = self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9, solver="lobpcg", callback=seen.append)
    assert [s["iteration"] for s in seen] == list(range(1, res.n_iterations + 1))
    assert len(res.history) == res.n_iterations
    energies = [h["energy"] for h in res.history]
    np.testing.assert_allclose(np.diff(energies), [h["delta_energy"] for h in res.history[1:]], atol=1e-14)
    assert res.history[-1]["residual"] < 1e-9 and abs(res.history[-1]["delta_energy"]) < 1e-12
    # total energy = sum of the breakdown
    assert abs(sum(res.energies.values()) - res.energy) < 1e-13


def test_not_converged_raises_with_last_state(basis):
    with pytest.raises(ConvergenceError) as err:
        self_consistent_field(basis, maxiter=2, solver="lobpcg")
    state = err.value.state
    assert state is not None and not state.converged and state.n_iterations == 2
    res = self_consistent_field(basis, maxiter=2, solver="lobpcg", raise_on_failure=False)
    assert not res.converged and np.isfinite(res.energy)


def test_dense_and_lobpcg_agree(basis, reference):
    dense = self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9, solver="dense")
    assert abs(dense.energy - reference.energy) < 1e-10
    np.testing.assert_allclose(dense.eigenvalues, reference.eigenvalues, atol=1e-8)


def test_checkpoint_resume_reaches_the_same_state(basis, reference, tmp_path):
    path = tmp_path / "scf.npz"
    first = self_consistent_field(basis, maxiter=3, solver="lobpcg", raise_on_failure=False, checkpoint=path,
                                  tol_energy=1e-12, tol_density=1e-9)
    assert path.exists() and not first.converged
    resumed = self_consistent_field(basis, solver="lobpcg", checkpoint=path, tol_energy=1e-12, tol_density=1e-9)
    assert resumed.converged and resumed.history[0]["iteration"] == 1 and resumed.history[3]["iteration"] == 4
    assert abs(resumed.energy - reference.energy) < 1e-10
    other = PlaneWaveBasis(model_lda(*silicon(10.0)), 5.0, (2, 2, 2))
    with pytest.raises(CheckpointError):
        self_consistent_field(other, solver="lobpcg", checkpoint=path)


def test_band_gap_from_eigenvalues(reference):
    eig = reference.eigenvalues
    gap = eig[:, 4].min() - eig[:, 3].max()
    assert reference.band_gap == pytest.approx(gap)
