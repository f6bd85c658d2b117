"""Pseudopotential G = 0 correction (``PspCorrection``).

The local potential's G = 0 component is left out of the potential; its finite part
``lim_{q→0} [V̂_s(q) + 4πZ_s/q²]`` contributes
``E = (N_el/Ω) Σ_atoms lim_{q→0}[V̂_s(q) + 4πZ_s/q²]`` (Hartree) — the ABINIT/DFTK
convention, under which eigenvalues are measured.
"""

from __future__ import annotations

def psp_correction_energy(model) -> float:
    """The G = 0 correction energy, Hartree (independent of positions and orbitals)."""
    from ..pseudopotentials import local_form_factor_g0

    total = sum(float(local_form_factor_g0(p)) for p in model.psps)
    return float(total * model.n_electrons / model.volume)

