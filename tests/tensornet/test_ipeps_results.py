"""The saved optimised C4v iPEPS tensors (benchmarks/results/) against published Heisenberg energies.

Outside numbers: the single-site C4v optima −0.6681274 (D=3, large χ), the issue's D=4 bound −0.66896,
and the quantum Monte Carlo ground-state energy −0.669437 (Sandvik, PRB 56, 11678 (1997)), which no
variational state may undercut by more than the finite-χ error.  Each check contracts the saved tensor
from scratch (fresh CTMRG); the D=3 state at χ=100, where its χ error is below 1e-6 (−0.66812462 at χ=100,
−0.66812552 at χ=128: docs/benchmarks.md), the D=4 state at χ=32.
"""

import os

import numpy as np
import pytest

from qdiff.tensornet import evaluate_ipeps

_RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "results")
PUBLISHED_D3 = -0.6681274
BOUND_D4 = -0.66896
QMC = -0.669437


def _evaluate_saved(name, D, chi):
    """Energy and magnetisation of a saved tensor, contracted from scratch at environment dimension χ."""
    path = os.path.join(_RESULTS, name)
    if not os.path.exists(path):
        pytest.skip(f"{name} not present (written by benchmarks/tensornet_ipeps_large.py)")
    with np.load(path, allow_pickle=False) as f:
        A = np.asarray(f["A"])
    assert A.shape == (2, D, D, D, D)
    ev = evaluate_ipeps(A, "heisenberg", chi, correlation=False, tol=1e-10, max_iter=500)
    assert ev["ctm_converged"]
    return ev


@pytest.mark.slow
def test_saved_d3_tensor_reaches_the_published_c4v_state_at_large_chi():
    """Issue 4's target: within 2e-5 of −0.6681274 when evaluated at large χ (χ=100, the 2×1 patch);
    the previous saved state (+5.0e-5 there) fails this.  Variational: not below the QMC energy."""
    ev = _evaluate_saved("heisenberg_c4v_D3.npz", 3, 100)
    assert QMC < ev["energy"] < PUBLISHED_D3 + 2e-5
    assert 0.0 < ev["magnetization"] < 0.5


@pytest.mark.slow
def test_saved_d4_tensor_is_below_the_issue_bound_and_above_qmc():
    ev = _evaluate_saved("heisenberg_c4v_D4.npz", 4, 32)
    assert QMC < ev["energy"] < BOUND_D4  # χ=32 is converged in χ to ~1e-6 for this state
