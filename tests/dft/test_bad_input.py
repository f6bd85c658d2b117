"""Bad input raises InputError naming the problem, before any SCF work."""

import numpy as np
import pytest

from qdiff.dft import PlaneWaveBasis, aluminium, make_model, model_lda, self_consistent_field, silicon
from qdiff.errors import InputError


def test_overlapping_atoms():
    lattice, symbols, pos = silicon()
    pos = np.array([[0.125, 0.125, 0.125], [0.126, 0.125, 0.125]])
    with pytest.raises(InputError, match="overlapping atoms"):
        model_lda(lattice, symbols, pos)


def test_atoms_overlapping_through_periodic_image():
    lattice, symbols, _ = silicon()
    pos = np.array([[0.0, 0.0, 0.0], [0.999, 0.0, 0.0]])
    with pytest.raises(InputError, match="overlapping atoms"):
        model_lda(lattice, symbols, pos)


def test_singular_lattice():
    lattice, symbols, pos = silicon()
    lattice = lattice.copy()
    lattice[:, 2] = lattice[:, 0] + lattice[:, 1]
    with pytest.raises(InputError, match="singular"):
        model_lda(lattice, symbols, pos)


def test_left_handed_lattice():
    lattice, symbols, pos = silicon()
    with pytest.raises(InputError, match="left-handed"):
        model_lda(lattice[:, [1, 0, 2]], symbols, pos)


def test_element_without_pseudopotential():
    lattice, _, pos = silicon()
    with pytest.raises(InputError, match="Xx"):
        model_lda(lattice, ["Si", "Xx"], pos)


def test_odd_electrons_without_smearing():
    with pytest.raises(InputError, match="odd number of electrons"):
        model_lda(*aluminium())
    # with smearing it is accepted
    model_lda(*aluminium(), smearing="fermi-dirac", temperature=0.01)


def test_smearing_needs_temperature():
    with pytest.raises(InputError, match="temperature"):
        model_lda(*aluminium(), smearing="fermi-dirac")


@pytest.mark.parametrize("ecut", [0.0, -5.0, float("nan")])
def test_nonpositive_ecut(ecut):
    model = model_lda(*silicon())
    with pytest.raises(InputError, match="ecut"):
        PlaneWaveBasis(model, ecut, (2, 2, 2))


@pytest.mark.parametrize("kgrid", [(0, 2, 2), (2, -1, 2), (2, 2)])
def test_kgrid_with_zero(kgrid):
    model = model_lda(*silicon())
    with pytest.raises(InputError, match="kgrid"):
        PlaneWaveBasis(model, 5.0, kgrid)


def test_fft_grid_too_small():
    model = model_lda(*silicon())
    with pytest.raises(InputError, match="fft_size"):
        PlaneWaveBasis(model, 10.0, (1, 1, 1), fft_size=(8, 8, 8))


def test_unknown_functional_and_smearing():
    with pytest.raises(InputError, match="functional"):
        make_model(*silicon(), functional="b3lyp")
    with pytest.raises(InputError, match="smearing"):
        make_model(*silicon(), smearing="boltzmann", temperature=0.01)


def test_scf_tolerance_checked_before_work():
    basis = PlaneWaveBasis(model_lda(*silicon()), 3.0, (1, 1, 1))
    with pytest.raises(InputError, match="tol_energy"):
        self_consistent_field(basis, tol_energy=0.0)
