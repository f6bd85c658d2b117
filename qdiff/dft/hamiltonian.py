"""The Kohn–Sham Hamiltonian of one k-point, applied matrix-free or built densely.

``H = T + V(r) + V_nl`` with ``T`` diagonal (½|k+G|²), ``V`` the total local potential
on the real grid (local pseudopotential + Hartree + xc) applied through FFTs, and
``V_nl = P D P^†`` the separable projectors.  Spheres are padded to a common size: the
padding is decoupled from the physical block and given the large diagonal value
:data:`PAD_SHIFT`, so it never appears among the lowest eigenpairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from .fft import box_index, real_to_sphere, real_to_sphere_pruned, sphere_to_real, sphere_to_real_pruned

#: diagonal value (Hartree) placed on padding entries of the spheres
PAD_SHIFT = 1.0e4


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class HamiltonianK:
    """Data of the Hamiltonian at one k-point (or a batch of them, leading axis k).

    Attributes:
      kinetic: (npw,) ½|k+G|²;  mask: (npw,) 1/0;  fft_idx: (npw,) grid indices.
      V: (n1, n2, n3) total local potential, Hartree.
      P: (npw, nproj) projectors;  D: (nproj, nproj) couplings, Hartree.
      box: static half-widths of the box holding the spheres (``BasisData.sphere_box``):
        the FFTs then skip all-zero lines (:func:`~qdiff.dft.fft.sphere_to_real_pruned`);
        None: full 3-D FFTs.
      box_idx: (npw,) :func:`~qdiff.dft.fft.box_index` of the sphere for ``box``, integer work the
        size of the sphere done once when the Hamiltonian is built (:func:`hamiltonian_k`) rather
        than at every application; None: computed at each application.  It derives from
        ``fft_idx``, ``mask``, ``fft_size`` and ``box``: rebuild it (``hamiltonian_k``) when
        changing those.
    """

    kinetic: jax.Array
    mask: jax.Array
    fft_idx: jax.Array
    V: jax.Array
    P: jax.Array
    D: jax.Array
    fft_size: tuple = field(default=(1, 1, 1), metadata=dict(static=True))
    volume: float = field(default=1.0, metadata=dict(static=True))
    box: tuple | None = field(default=None, metadata=dict(static=True))
    box_idx: jax.Array | None = None


def hamiltonian_k(kinetic, mask, fft_idx, V, P, D, fft_size, volume, box=None) -> HamiltonianK:
    """A :class:`HamiltonianK` with its per-k index data (``box_idx``) computed once.

    Arguments as the fields of :class:`HamiltonianK`; works on one k-point or on a batch
    (leading axis k of ``mask``/``fft_idx``).
    """
    box_idx = None if box is None else box_index(fft_idx, mask, tuple(fft_size), box)
    return HamiltonianK(kinetic, mask, fft_idx, V, P, D, tuple(fft_size), volume, box=box, box_idx=box_idx)


def apply_local(h: HamiltonianK, X):
    """``V X`` for a block of vectors X (npw, nb): ``FFT⁻¹ → ·V(r) → FFT``, one band at a time.

    The bands go through the FFTs sequentially (``lax.map``), so the real-space work array
    is one grid (under ``vmap`` over k-points: one grid per k-point) however many bands:
    a few MB instead of nb grids, and measured no slower (the single grids stay in cache).
    """
    if h.box is None:
        def one(x):  # x: (npw,)
            u = sphere_to_real(x, h.fft_idx, h.mask, h.fft_size, h.volume)
            return real_to_sphere(h.V * u, h.fft_idx, h.mask, h.fft_size, h.volume)
    else:
        bidx = h.box_idx if h.box_idx is not None else box_index(h.fft_idx, h.mask, h.fft_size, h.box)

        def one(x):
            u = sphere_to_real_pruned(x, bidx, h.fft_size, h.box, h.volume)
            return real_to_sphere_pruned(h.V * u, bidx, h.mask, h.fft_size, h.box, h.volume)

    return jax.lax.map(one, X.T).T


def apply_hamiltonian(h: HamiltonianK, X):
    """``H X`` for a block of vectors X (npw, nb)."""
    m = h.mask[:, None]
    Xm = X * m
    vloc = apply_local(h, Xm)
    hx = h.kinetic[:, None] * Xm + vloc + h.P @ (h.D @ (jnp.conj(h.P).T @ Xm))
    return hx * m + PAD_SHIFT * (1.0 - m) * X


def hamiltonian_matrix(h: HamiltonianK):
    """Dense (npw, npw) Hermitian matrix of ``H`` (for small bases and tests)."""
    from .fft import to_fourier

    n1, n2, n3 = h.fft_size
    VG = to_fourier(h.V.astype(complex)).reshape(-1)
    i1, rem = jnp.divmod(h.fft_idx, n2 * n3)
    i2, i3 = jnp.divmod(rem, n3)
    d1 = (i1[:, None] - i1[None, :]) % n1
    d2 = (i2[:, None] - i2[None, :]) % n2
    d3 = (i3[:, None] - i3[None, :]) % n3
    Vmat = VG[(d1 * n2 + d2) * n3 + d3]
    H = jnp.diag(h.kinetic.astype(complex)) + Vmat + h.P @ h.D @ jnp.conj(h.P).T
    mm = h.mask[:, None] * h.mask[None, :]
    H = H * mm + jnp.diag(PAD_SHIFT * (1.0 - h.mask))
    return 0.5 * (H + jnp.conj(H).T)
