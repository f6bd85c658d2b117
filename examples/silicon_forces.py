"""Silicon: energy and forces by AD, then an ASE BFGS relaxation of a displaced atom.

Run:  python examples/silicon_forces.py      (the relaxation part needs `pip install ase`)

Si₂ (a = 10.26 Bohr) with the HGH LDA pseudopotential at Ecut 15 Ha on a 4×4×4 grid is the
ABINIT reference case of the test suite (E = −7.9248852443 Ha).  The second atom is then
displaced by (0.05, 0.02, 0) Bohr; qdiff's forces (−∂E/∂R by JAX AD, Hellmann–Feynman) drive
ASE's BFGS back to the symmetric structure, where the forces vanish.
"""

import numpy as np

import qdiff  # noqa: F401  (float64)
from qdiff.dft import PlaneWaveBasis, compute_forces, model_lda, self_consistent_field, silicon

lattice, symbols, positions = silicon(10.26)

# 1. the perfect crystal
model = model_lda(lattice, symbols, positions)
basis = PlaneWaveBasis(model, ecut=15.0, kgrid=(4, 4, 4), fft_size=(30, 30, 30))
scfres = self_consistent_field(basis)
print(f"perfect Si2: E = {scfres.energy:.10f} Ha (ABINIT -7.9248852443), gap {scfres.band_gap:.6f} Ha, "
      f"{scfres.n_iterations} SCF iterations")

# 2. displaced atom: forces by automatic differentiation
displaced = positions.copy()
displaced[1] += np.linalg.solve(lattice, [0.05, 0.02, 0.0])
model_d = model_lda(lattice, symbols, displaced)
basis_d = PlaneWaveBasis(model_d, ecut=15.0, kgrid=(4, 4, 4), fft_size=(30, 30, 30), symmetries=False)
res_d = self_consistent_field(basis_d)
forces = compute_forces(res_d)
print(f"displaced: E = {res_d.energy:.10f} Ha (ABINIT -7.9246841465)")
print("forces (Ha/Bohr):\n", forces, "\n  ABINIT atom 1: [6.932277485e-03 2.776029620e-03 1.884803147e-04]")

# 3. relax it with ASE's BFGS driving qdiff through the calculator
try:
    from ase import Atoms
    from ase.optimize import BFGS
except ImportError:
    print("ase not installed: skipping the BFGS relaxation (pip install ase)")
else:
    from qdiff.dft.ase import QdiffCalculator
    from qdiff.dft.units import BOHR, HARTREE

    atoms = Atoms(symbols, cell=lattice.T * BOHR, scaled_positions=displaced, pbc=True)
    atoms.calc = QdiffCalculator(ecut=15.0 * HARTREE, kpts=(4, 4, 4), fft_size=(30, 30, 30))
    BFGS(atoms, logfile="-").run(fmax=0.01)  # eV/Å (≈ 2e-4 Ha/Bohr)
    d = atoms.positions[1] - atoms.positions[0]
    print(f"relaxed Si-Si vector (Bohr): {d / BOHR}  (ideal: a/4·(1,1,1)·(-1) = {-10.26 / 4:.4f} each)")
