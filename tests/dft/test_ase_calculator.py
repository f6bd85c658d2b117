"""ASE calculator: units at the boundary (CODATA), forces equal ASE's finite differences of the energy."""

import numpy as np
import pytest

ase = pytest.importorskip("ase", reason="the ASE calculator needs the optional 'ase' package")


@pytest.fixture(scope="module")
def displaced_si():
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=10.26 * 0.529177210903)
    atoms.positions[1] += [0.03, 0.01, -0.02]
    return atoms


def _calc(**kw):
    from qdiff.dft.ase import QdiffCalculator

    return QdiffCalculator(ecut=5.0 * 27.211386245988, kpts=(2, 2, 2), symmetries=False,
                           tol_energy=1e-12 * 27.211386245988, tol_density=1e-9, **kw)


def test_forces_match_ase_numerical_forces(displaced_si):
    from ase.calculators.fd import calculate_numerical_forces

    atoms = displaced_si.copy()
    atoms.calc = _calc()
    forces = atoms.get_forces()
    assert forces.shape == (2, 3)
    # ASE's own central finite difference of get_potential_energy (eV/Å)
    fd = calculate_numerical_forces(atoms, eps=0.002, iatoms=[1], icarts=[0])[0, 0]
    assert abs(fd - forces[1, 0]) < 1e-5 * 27.211386245988 / 0.529177210903
    assert atoms.get_potential_energy() == pytest.approx(atoms.calc.get_property("free_energy"))


def test_energy_units_are_converted_with_codata(displaced_si):
    from qdiff.dft import PlaneWaveBasis, model_from_ase, self_consistent_field

    atoms = displaced_si.copy()
    atoms.calc = _calc()
    e_ev = atoms.get_potential_energy()
    basis = PlaneWaveBasis(model_from_ase(atoms), 5.0, (2, 2, 2), symmetries=False)
    e_ha = self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9).energy
    assert e_ev == pytest.approx(e_ha * 27.211386245988, abs=1e-8)
