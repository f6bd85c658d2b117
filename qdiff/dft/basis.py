"""The plane-wave basis: k-points, G-spheres, FFT grid, density symmetriser.

For every irreducible k-point the orbitals are expanded in the plane waves
``e^{i(k+G)·r}/√Ω`` with ``|k+G|²/2 ≤ Ecut``.  The spheres have different sizes; they
are padded to the largest one (``npw``) with a 0/1 ``mask`` so that all k-points are
processed by one vmapped program.  The FFT grid (see :func:`default_fft_size`) holds
the density and potentials; ``fft_idx`` maps every sphere entry to its flat grid index.

The arrays used inside compiled code live in :class:`BasisData` (a pytree: k-points and
lattice are array leaves, grid sizes static), so structures with the same shapes reuse
compiled programs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from .kpoints import KPoints, reduce_kpoints
from .fft import sphere_box
from .model import Model
from .symmetry import density_symmetriser, find_symmetries, identity_only

logger = logging.getLogger(__name__)


def _is_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def default_fft_size(lattice, ecut: float) -> tuple:
    """FFT grid holding the density of orbitals with cutoff ``ecut`` without aliasing.

    ``n_i = 2·ceil(2·√(2·Ecut)·|a_i|/2π) + 1`` (the density has components up to twice the
    orbitals' cutoff wave vector), rounded up to the next even 2,3,5-smooth integer (the
    rule ABINIT's choices follow: Si₂ a=10.26 Ecut 15 → 30, Al a=7.65 Ecut 15 → 24).
    """
    A = np.asarray(lattice, float)
    gmax = 2.0 * math.sqrt(2.0 * ecut)
    out = []
    for i in range(3):
        n = 2 * math.ceil(gmax * np.linalg.norm(A[:, i]) / (2 * math.pi)) + 1
        while n % 2 or not _is_smooth(n):
            n += 1
        out.append(n)
    return tuple(out)


def centered_frequencies(n: int) -> np.ndarray:
    """Integer frequencies of an n-point FFT axis in FFT order: 0, 1, …, -1."""
    return np.fft.fftfreq(n, 1.0 / n).round().astype(np.int64)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class BasisData:
    """Arrays of a :class:`PlaneWaveBasis` used inside compiled code.

    Attributes:
      lattice: (3, 3) lattice columns, Bohr.
      kcoords: (nk, 3) reduced k-points;  kweights: (nk,) weights summing to 1.
      G: (nk, npw, 3) integer G vectors of each sphere (reduced), padding = 0.
      mask: (nk, npw) 1.0 inside the sphere, 0.0 in the padding.
      fft_idx: (nk, npw) flat FFT-grid index of each G (padding points to 0).
      kinetic: (nk, npw) |k+G|²/2, Hartree (0 in the padding).
      Ggrid: (n1, n2, n3, 3) integer G of every FFT grid point (centered).
      G2grid: (n1, n2, n3) |G|², Bohr⁻².
      sym_star: (n1*n2*n3,) flat index of the representative of each grid point's star.
      sym_phase: (n1*n2*n3,) complex phase of each point relative to its star (0: extinct).
      sym_weight: (n1*n2*n3,) 1/(star size), 0 where the star is extinct
        (see :func:`~qdiff.dft.symmetry.density_symmetriser`).
      fft_size: static grid size; volume: static cell volume (Bohr³);
      n_symops: static number of symmetry operations (1: no symmetrisation).
      sphere_box: static half-widths ``m_i`` of the box ``|G_i| ≤ m_i`` holding every sphere
        (used by the pruned FFTs of :mod:`qdiff.dft.fft`).
    """

    lattice: jax.Array
    kcoords: jax.Array
    kweights: jax.Array
    G: jax.Array
    mask: jax.Array
    fft_idx: jax.Array
    kinetic: jax.Array
    Ggrid: jax.Array
    G2grid: jax.Array
    sym_star: jax.Array
    sym_phase: jax.Array
    sym_weight: jax.Array
    fft_size: tuple = field(default=(1, 1, 1), metadata=dict(static=True))
    volume: float = field(default=1.0, metadata=dict(static=True))
    n_symops: int = field(default=1, metadata=dict(static=True))
    sphere_box: tuple | None = field(default=None, metadata=dict(static=True))

    @property
    def n_grid(self) -> int:
        return int(np.prod(self.fft_size))


class PlaneWaveBasis:
    """Plane waves up to ``ecut`` on a Monkhorst–Pack k-grid, with FFT grid and symmetries.

    Args:
      model: the :class:`~qdiff.dft.model.Model`.
      ecut: kinetic-energy cutoff, Hartree (> 0).
      kgrid: Monkhorst–Pack grid, three positive integers.
      kshift: three values in {0, 1} (1 = half-step shift).
      fft_size: FFT grid (three integers); default :func:`default_fft_size`.
      symmetries: True (find the crystal's operations), False (none), "spglib"
        (find them with spglib) or an explicit list of
        :class:`~qdiff.dft.symmetry.SymOp`.
      time_reversal: reduce k-points by k ~ -k.
      nbands: bands computed per k-point (default ⌈N_el/2⌉ + 4).

    Raises:
      InputError: for a non-positive cutoff, a bad k-grid or an FFT grid too small for
        the orbitals' spheres.
    """

    def __init__(self, model: Model, ecut: float, kgrid=(1, 1, 1), kshift=(0, 0, 0), *, fft_size=None,
                 symmetries=True, time_reversal: bool = True, nbands: int | None = None):
        try:
            ecut = float(ecut)
        except (TypeError, ValueError):
            raise InputError(f"ecut must be a positive number (Hartree), got {ecut!r}") from None
        if not (ecut > 0 and np.isfinite(ecut)):
            raise InputError(f"ecut must be > 0 Hartree, got {ecut}")
        self.model = model
        self.ecut = ecut
        A = model.lattice
        B = model.recip_lattice
        if symmetries is True or symmetries == "spglib":
            ops = find_symmetries(A, model.symbols, model.positions, use_spglib=(symmetries == "spglib"))
        elif symmetries is False or symmetries is None:
            ops = identity_only()
        else:
            ops = list(symmetries)
        self.kpoints: KPoints = reduce_kpoints(kgrid, kshift, ops, time_reversal)
        self.symops = self.kpoints.symops
        n_occ = math.ceil(model.n_electrons / 2)
        self.nbands = int(nbands) if nbands is not None else n_occ + 4
        if self.nbands < n_occ:
            raise InputError(f"nbands={self.nbands} is smaller than the {n_occ} occupied bands")

        if fft_size is None:
            fft_size = default_fft_size(A, ecut)
        try:
            fft_size = tuple(int(n) for n in fft_size)
        except (TypeError, ValueError):
            raise InputError(f"fft_size must be three positive integers, got {fft_size!r}") from None
        if len(fft_size) != 3 or any(n <= 0 for n in fft_size):
            raise InputError(f"fft_size must be three positive integers, got {fft_size!r}")
        self.fft_size = fft_size

        # G-spheres per k-point
        kc = self.kpoints.coords
        bound = [math.ceil(math.sqrt(2 * ecut) * np.linalg.norm(A[:, i]) / (2 * math.pi)) + 1 for i in range(3)]
        rng = [np.arange(-b, b + 1) for b in bound]
        box = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
        spheres = []
        for k in kc:
            q = (box + k) @ B.T
            inside = 0.5 * np.sum(q * q, axis=1) <= ecut
            spheres.append(box[inside])
        npw = max(len(s) for s in spheres)
        span = np.max([np.abs(s).max(axis=0) for s in spheres], axis=0)
        for i in range(3):
            if 2 * span[i] + 1 > fft_size[i]:
                raise InputError(f"fft_size {fft_size} too small: the orbitals' sphere needs at least "
                                 f"{2 * span[i] + 1} points along direction {i + 1}")
        nk = len(kc)
        G = np.zeros((nk, npw, 3), np.int64)
        mask = np.zeros((nk, npw))
        for ik, s in enumerate(spheres):
            G[ik, : len(s)] = s
            mask[ik, : len(s)] = 1.0
        n1, n2, n3 = fft_size
        fidx = ((G[..., 0] % n1) * n2 + (G[..., 1] % n2)) * n3 + (G[..., 2] % n3)
        fidx = np.where(mask > 0, fidx, 0)
        qk = (G + kc[:, None, :]) @ B.T
        kin = np.where(mask > 0, 0.5 * np.sum(qk * qk, axis=-1), 0.0)
        self.n_planewaves = np.array([len(s) for s in spheres])

        freqs = [centered_frequencies(n) for n in fft_size]
        Ggrid = np.stack(np.meshgrid(*freqs, indexing="ij"), axis=-1)
        Gc = Ggrid @ B.T
        G2 = np.sum(Gc * Gc, axis=-1)
        star, phase, weight = density_symmetriser(self.symops, fft_size)

        self.data = BasisData(
            lattice=jnp.asarray(A), kcoords=jnp.asarray(kc), kweights=jnp.asarray(self.kpoints.weights),
            G=jnp.asarray(G), mask=jnp.asarray(mask), fft_idx=jnp.asarray(fidx), kinetic=jnp.asarray(kin),
            Ggrid=jnp.asarray(Ggrid.astype(float)), G2grid=jnp.asarray(G2), sym_star=jnp.asarray(star),
            sym_phase=jnp.asarray(phase), sym_weight=jnp.asarray(weight), fft_size=fft_size,
            volume=model.volume, n_symops=len(self.symops), sphere_box=sphere_box(G, mask))
        logger.info("basis: Ecut=%g Ha, %d k-points, npw<=%d, FFT %s, %d symmetry ops",
                    ecut, nk, npw, fft_size, len(self.symops))

    @property
    def n_kpoints(self) -> int:
        return len(self.kpoints.coords)

    @property
    def npw(self) -> int:
        """Padded sphere size (largest number of plane waves of any k-point)."""
        return int(self.data.G.shape[1])

    def __repr__(self) -> str:
        return (f"PlaneWaveBasis(Ecut={self.ecut}, kgrid={self.kpoints.kgrid}, nk={self.n_kpoints}, "
                f"npw<={self.npw}, fft_size={self.fft_size}, nsym={len(self.symops)})")
