"""Aluminium, a metal: Fermi–Dirac smearing, Kerker-preconditioned Anderson mixing, SCF convergence plot.

Run:  python examples/aluminium.py     (writes aluminium_scf.png; needs matplotlib)

fcc Al (a = 7.65 Bohr), HGH LDA, Ecut 15 Ha, 8×8×8 Γ-centred k-points, T = 0.01 Ha — the ABINIT
reference case of the test suite (free energy −2.0993200776 Ha, Fermi level 0.354670408 Ha).
"""

import numpy as np

import qdiff  # noqa: F401  (float64)
from qdiff.dft import PlaneWaveBasis, aluminium, model_lda, self_consistent_field

model = model_lda(*aluminium(7.65), smearing="fermi-dirac", temperature=0.01)
basis = PlaneWaveBasis(model, ecut=15.0, kgrid=(8, 8, 8), fft_size=(24, 24, 24))
print(basis)
scfres = self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9, callback=lambda info: print(
    f"  iter {info['iteration']:2d}  F = {info['energy']:.12f} Ha  residual {info['residual']:.2e}"))
print(f"free energy {scfres.energy:.10f} Ha (ABINIT -2.0993200776)")
print(f"Fermi level {scfres.fermi_level:.9f} Ha (ABINIT 0.354670408)")
print(f"-TS         {scfres.energies['entropy']:.10f} Ha (ABINIT -0.0036868053)")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    it = [h["iteration"] for h in scfres.history]
    res = [h["residual"] for h in scfres.history]
    de = [abs(h["delta_energy"]) if np.isfinite(h["delta_energy"]) else np.nan for h in scfres.history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(it, res, "o-", label="density residual ‖ρ_out − ρ_in‖")
    ax.semilogy(it, de, "s--", label="|ΔF| (Ha)")
    ax.set_xlabel("SCF iteration")
    ax.set_title("fcc Al, Fermi–Dirac T = 0.01 Ha, Kerker + Anderson")
    ax.legend()
    fig.tight_layout()
    fig.savefig("aluminium_scf.png", dpi=120)
    print("wrote aluminium_scf.png")
