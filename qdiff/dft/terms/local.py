"""Local part of the GTH/HGH pseudopotentials (``AtomicLocal``).

``V_loc(r) = Σ_G V_G e^{iG·r}`` with
``V_G = (1/Ω) Σ_atoms V̂_s(|G|) e^{−iG·τ_a}``, where ``V̂_s(q) = ∫ V_s(r) e^{−iq·r} d³r`` is
the species' form factor (Coulomb tail included).  The G = 0 component is set to zero:
its (finite) part enters through :mod:`~qdiff.dft.terms.psp_correction`, the divergent
part cancels with the Hartree and Ewald G = 0 terms.
``E_loc = ∫ V_loc ρ = (Ω/N) Σ_j V_loc(r_j) ρ(r_j)``.  Hartree, Bohr.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..fft import to_real


def local_form_factors(basis) -> jnp.ndarray:
    """Form factors ``V̂_s(|G|)`` of each species on the FFT grid, (nspecies, n1, n2, n3); 0 at G = 0."""
    from ..pseudopotentials import local_form_factor

    model = basis.model
    G2 = np.asarray(basis.data.G2grid)
    q = np.sqrt(np.where(G2 > 0, G2, 1.0))
    out = []
    for s in model.species:
        psp = model.psps[model.symbols.index(s)]
        out.append(np.where(G2 > 0, np.asarray(local_form_factor(psp, jnp.asarray(q))), 0.0))
    return jnp.asarray(np.stack(out))


def species_index(model) -> np.ndarray:
    """Index into ``model.species`` of every atom."""
    return np.array([model.species.index(s) for s in model.symbols])


def local_potential_fourier(data, form_factors, species_idx, positions):
    """Fourier coefficients ``V_G`` of the local potential (n1, n2, n3), Hartree.

    Args:
      positions: (n_atoms, 3) reduced coordinates (differentiable).
    """
    phase = jnp.exp(-2j * jnp.pi * jnp.einsum("xyzi,ai->axyz", data.Ggrid, positions))
    return jnp.sum(form_factors[species_idx] * phase, axis=0) / data.volume


def local_potential(data, form_factors, species_idx, positions):
    """Local potential on the real grid, Hartree."""
    return jnp.real(to_real(local_potential_fourier(data, form_factors, species_idx, positions)))


def local_energy(data, form_factors, species_idx, positions, rho):
    """``E_loc = ∫ V_loc ρ``, Hartree."""
    V = local_potential(data, form_factors, species_idx, positions)
    return data.volume / rho.size * jnp.sum(V * rho)
