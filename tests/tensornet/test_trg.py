"""Levin–Nave TRG for the 2D Ising model against Onsager's exact solution, finite
differences of itself, exact symmetries, and jnp.linalg.svd's derivatives."""

import math

import jax
import numpy as np
import pytest

from qdiff.cli import main
from qdiff.errors import InputError
from qdiff.tensornet.onsager import BETA_C, onsager_energy, onsager_lnz, onsager_specific_heat
from qdiff.tensornet.trg import _trg_lnz, ising_tensor, trg_lnz, trg_observables

CHI, STEPS = 8, 26  # cheap default; the chi = 24 targets are in the slow test below


def _rel(a, b):
    return abs(float(a) - b) / abs(b)


@pytest.fixture(scope="module")
def observables():
    return {beta: trg_observables(beta, chi=CHI, steps=STEPS) for beta in (0.3, 0.6, 0.44)}


def test_ising_tensor_bond_weights():
    # contracting two site tensors along one bond and summing the other legs with the
    # "V-leg" closing vectors reproduces exp(beta*s*s') factors: check against brute force
    beta = 0.37
    t = np.asarray(ising_tensor(beta))
    # a single site tensor closed on itself (1-site torus: l=r, u=d) is sum_s exp(2 beta) over
    # the two bonds s-s of the one spin: 2 exp(2 beta)
    assert np.einsum("lulu->", t) == pytest.approx(2 * math.exp(2 * beta), rel=1e-13)
    # a 2-site ring (horizontal) with vertical legs closed on themselves: sum_{s1,s2} of
    # exp(beta*(2 s1 s2 + 1 + 1)) = e^{2b}(2 e^{2b} + 2 e^{-2b})
    z2 = np.einsum("aubu,bvav->", t, t)
    assert z2 == pytest.approx(math.exp(2 * beta) * (2 * math.exp(2 * beta) + 2 * math.exp(-2 * beta)), rel=1e-13)


def test_lnz_energy_specific_heat_vs_onsager_away_from_criticality(observables):
    for beta in (0.3, 0.6):
        obs = observables[beta]
        assert _rel(obs["lnz"], onsager_lnz(beta)) < 1e-5
        assert _rel(obs["energy"], onsager_energy(beta)) < 1e-3
        assert _rel(obs["specific_heat"], onsager_specific_heat(beta)) < 3e-2


def test_near_criticality_finite_and_within_a_few_percent(observables):
    obs = observables[0.44]
    assert all(np.isfinite(float(v)) for v in obs.values())
    assert _rel(obs["lnz"], onsager_lnz(0.44)) < 1e-3
    assert _rel(obs["energy"], onsager_energy(0.44)) < 3e-2


def test_ad_derivatives_match_finite_differences_of_trg(observables):
    # AD through the truncated SVDs vs central differences of the same TRG function
    beta, h = 0.3, 1e-4
    f = lambda b: float(trg_lnz(b, chi=CHI, steps=STEPS))  # noqa: E731
    fp, f0, fm = f(beta + h), f(beta), f(beta - h)
    obs = observables[beta]
    assert -float(obs["energy"]) == pytest.approx((fp - fm) / (2 * h), rel=1e-6)
    assert float(obs["specific_heat"]) == pytest.approx(beta**2 * (fp - 2 * f0 + fm) / h**2, rel=1e-3)


def test_coupling_derivative_and_field_symmetry():
    # at h = 0, Z depends on K = beta*J only: d lnZ/dJ = (beta/J) d lnZ/dbeta; Z(h) = Z(-h)
    beta, J = 0.35, 1.2
    gb, gj = jax.grad(trg_lnz, argnums=(0, 3))(beta, 4, 12, J)
    assert float(gj) == pytest.approx(beta / J * float(gb), rel=1e-9)
    assert float(trg_lnz(beta, chi=4, steps=12, h=0.1)) == pytest.approx(
        float(trg_lnz(beta, chi=4, steps=12, h=-0.1)), rel=1e-12)


def test_reverse_over_forward_second_derivative_matches_finite_differences():
    # grad of jvp through the scan of TRG steps (zero-padded first steps included) is finite and
    # equals the central second difference of ln Z; (reverse inside reverse hits a JAX scan
    # limitation, see the trg module notes)
    beta, h = 0.4, 1e-3
    f = lambda b: trg_lnz(b, chi=4, steps=10)  # noqa: E731
    d2 = float(jax.grad(lambda b: jax.jvp(f, (b,), (1.0,))[1])(beta))
    fd = (float(f(beta + h)) - 2 * float(f(beta)) + float(f(beta - h))) / h**2
    assert np.isfinite(d2) and d2 == pytest.approx(fd, rel=1e-4)


def test_high_temperature_series():
    # ln Z/N = ln 2 + 2 ln cosh K + t^4 + 2 t^6 + O(t^8) at small K
    beta = 0.05
    t = math.tanh(beta)
    series = math.log(2) + 2 * math.log(math.cosh(beta)) + t**4 + 2 * t**6
    assert abs(float(trg_lnz(beta, chi=4, steps=12)) - series) < 10 * t**8


def test_native_svd_derivatives_are_nan_ours_finite():
    # the Ising tensors have exactly degenerate singular values (Z2 symmetry): the native
    # SVD rule divides by s_i^2 - s_j^2 = 0
    native = trg_observables(0.3, chi=4, steps=12, svd="jax")
    ours = trg_observables(0.3, chi=4, steps=12)
    assert np.isfinite(float(native["lnz"]))
    assert np.isnan(float(native["energy"])) and np.isnan(float(native["specific_heat"]))
    assert np.isfinite(float(ours["energy"])) and np.isfinite(float(ours["specific_heat"]))
    assert float(ours["lnz"]) == pytest.approx(float(native["lnz"]), rel=1e-12)


def test_compiled_program_does_not_grow_with_steps():
    # every step (the site tensor is zero-padded to chi) is one lax.scan body: the traced
    # program has the same size for 20 and 40 steps
    sizes = []
    for steps in (20, 40):
        jaxpr = jax.make_jaxpr(lambda b: _trg_lnz.__wrapped__(b, 1.0, 0.0, chi=6, steps=steps, svd="qdiff"))(0.3)
        sizes.append(len(jaxpr.jaxpr.eqns))
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("kwargs,match", [
    ({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"),
    ({"beta": 0.3, "chi": 1}, "chi"), ({"beta": 0.3, "chi": 2.5}, "chi"), ({"beta": 0.3, "steps": 0}, "steps"),
    ({"beta": 0.3, "J": 0.0}, "J"), ({"beta": 0.3, "svd": "lapack"}, "svd"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        trg_lnz(**kwargs)


def test_cli_json_and_errors(capsys):
    import json

    assert main(["trg", "--beta", "0.3", "--chi", "4", "--steps", "12", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["schema"] == "qdiff.trg/1"
    assert record["exact"]["lnz"] == pytest.approx(onsager_lnz(0.3), rel=1e-12)
    assert record["trg"]["lnz"] == pytest.approx(onsager_lnz(0.3), rel=1e-4)
    assert record["trg"]["energy"] == pytest.approx(onsager_energy(0.3), rel=2e-2)
    assert main(["trg", "--beta", str(BETA_C), "--chi", "4", "--steps", "12"]) == 0
    out = capsys.readouterr().out
    assert "cannot resolve the divergence" in out and "specific heat per site" in out
    assert main(["trg", "--beta", "-0.2"]) == 2
    assert "--beta" in capsys.readouterr().err


@pytest.mark.slow
def test_chi24_targets():
    # issue targets: chi = 24, >= 20 steps: 1e-7 / 1e-5 / 1e-3 relative at beta = 0.3, 0.6
    for beta in (0.3, 0.6):
        obs = trg_observables(beta, chi=24, steps=30)
        assert _rel(obs["lnz"], onsager_lnz(beta)) < 1e-7
        assert _rel(obs["energy"], onsager_energy(beta)) < 1e-5
        assert _rel(obs["specific_heat"], onsager_specific_heat(beta)) < 1e-3
    obs = trg_observables(BETA_C, chi=24, steps=30)
    assert _rel(obs["energy"], onsager_energy(BETA_C)) < 3e-2
    assert np.isfinite(float(obs["specific_heat"]))
