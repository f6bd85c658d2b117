"""``qdiff dft STRUCTURE``: plane-wave Kohn–Sham ground state (and forces) of a crystal.

STRUCTURE is a built-in name (``si``, ``si8``, ``al``) or a file read with ``ase.io``
(CIF, POSCAR, extxyz, …; needs the optional ``ase`` package).

JSON record (``--json``), schema ``qdiff.dft/1``:
  ``structure`` (name, symbols, lattice [Bohr, vectors as rows], positions [reduced]),
  ``settings`` (ecut, kgrid, kshift, functional, smearing, temperature, fft_size, n_kpoints,
  nbands), ``converged``, ``n_iterations``, ``energy`` (total free energy),
  ``energies`` (breakdown by term; ``entropy`` is −TS), ``fermi_level``, ``band_gap``
  (null for a metal), ``eigenvalues`` (per irreducible k-point), ``kpoints`` (reduced) and
  ``kweights``, ``forces`` (with ``--forces``; Cartesian), ``history`` (per iteration:
  energy, delta_energy, residual), ``units``.
"""

from __future__ import annotations

import numpy as np

HELP = "plane-wave DFT (LDA/PBE, GTH pseudopotentials): energy, bands, forces of a crystal"


def add_arguments(parser) -> None:
    parser.add_argument("structure", help="built-in structure (si, si8, al) or a file readable by ase.io")
    parser.add_argument("--ecut", type=float, default=15.0, help="kinetic-energy cutoff, Hartree (default 15)")
    parser.add_argument("--kgrid", type=int, nargs=3, default=[4, 4, 4], metavar=("N1", "N2", "N3"),
                        help="Monkhorst-Pack grid (default 4 4 4)")
    parser.add_argument("--kshift", type=int, nargs=3, default=[0, 0, 0], metavar=("S1", "S2", "S3"),
                        help="half-step shifts, 0 or 1 each (default 0 0 0)")
    parser.add_argument("--functional", default="lda", choices=["lda", "lda_pw92", "pbe"],
                        help="exchange-correlation functional (default lda = Teter Pade)")
    parser.add_argument("--smearing", default="none",
                        choices=["none", "fermi-dirac", "gaussian", "mp", "mv"], help="occupation smearing")
    parser.add_argument("--temperature", type=float, default=None,
                        help="smearing width, Hartree (default 0.01 with a smearing)")
    parser.add_argument("--tol", type=float, default=1e-8, help="SCF energy-change tolerance, Hartree (default 1e-8)")
    parser.add_argument("--tol-density", type=float, default=None,
                        help="SCF density-residual tolerance (default 100*tol, at least 1e-8)")
    parser.add_argument("--maxiter", type=int, default=60, help="maximum SCF iterations (default 60)")
    parser.add_argument("--fft-size", type=int, nargs=3, default=None, metavar=("N1", "N2", "N3"),
                        help="FFT grid (default: chosen from Ecut and the lattice)")
    parser.add_argument("--nbands", type=int, default=None, help="bands per k-point (default N_el/2 + 4)")
    parser.add_argument("--no-symmetry", action="store_true", help="reduce k-points by time reversal only")
    parser.add_argument("--forces", action="store_true", help="compute forces on the atoms")
    parser.add_argument("--checkpoint", default=None, help="SCF checkpoint file (written each iteration; resumed)")


def _load_structure(name: str):
    import os

    from ..dft.structures import BUILTIN, builtin_structure
    from ..errors import InputError

    if name.lower() in BUILTIN and not os.path.exists(name):
        lattice, symbols, positions = builtin_structure(name)
        return name.lower(), lattice, symbols, positions
    if not os.path.exists(name):
        raise FileNotFoundError(f"structure {name!r}: no such file and not a built-in name ({sorted(BUILTIN)})")
    try:
        import ase.io
    except ImportError:
        raise InputError("reading structure files needs the optional 'ase' package (pip install ase)") from None
    from ..dft.units import ANGSTROM

    atoms = ase.io.read(name)
    if not all(atoms.pbc) or atoms.cell.rank < 3:
        raise InputError(f"structure {name!r} is not a 3D periodic crystal (pbc={list(atoms.pbc)})")
    return (os.path.basename(name), np.asarray(atoms.cell.array).T * ANGSTROM, atoms.get_chemical_symbols(),
            atoms.get_scaled_positions(wrap=False))


def _summary(res, forces, name) -> str:
    from ..dft.model import TERMS

    lines = [f"qdiff dft: {name}  ({len(res.basis.model.symbols)} atoms, Ecut {res.basis.ecut:g} Ha, "
             f"k-grid {'x'.join(map(str, res.basis.kpoints.kgrid))} -> {res.basis.n_kpoints} k-points, "
             f"FFT {'x'.join(map(str, res.basis.fft_size))})"]
    status = "converged" if res.converged else "NOT converged"
    lines.append(f"SCF {status} in {res.n_iterations} iterations")
    lines.append("Energy breakdown (Hartree):")
    for k in TERMS:
        if k in res.energies:
            label = "entropy (-TS)" if k == "entropy" else k
            lines.append(f"  {label:<16s}{res.energies[k]:20.10f}")
    lines.append(f"  {'total':<16s}{res.energy:20.10f}")
    lines.append(f"Fermi level      {res.fermi_level:.9f} Ha")
    gap = res.band_gap
    lines.append("Band gap         " + ("none (metal)" if gap is None else f"{gap:.9f} Ha ({gap * 27.211386245988:.4f} eV)"))
    if forces is not None:
        lines.append("Forces (Hartree/Bohr, Cartesian):")
        for s, f in zip(res.basis.model.symbols, forces):
            lines.append(f"  {s:<3s}{f[0]:16.9e}{f[1]:16.9e}{f[2]:16.9e}")
    lines.append("SCF history: iter  energy (Ha)            dE           residual")
    for h in res.history:
        lines.append(f"  {h['iteration']:4d}  {h['energy']:20.12f}  {h['delta_energy']:11.3e}  {h['residual']:11.3e}")
    return "\n".join(lines)


def _record(res, forces, name, lattice, symbols, positions) -> dict:
    b = res.basis
    m = b.model
    return {
        "schema": "qdiff.dft/1",
        "structure": {"name": name, "symbols": list(symbols), "lattice": np.asarray(lattice).T.tolist(),
                      "positions": np.asarray(positions).tolist()},
        "settings": {"ecut": b.ecut, "kgrid": list(b.kpoints.kgrid), "kshift": list(b.kpoints.kshift),
                     "functional": m.functional, "smearing": m.smearing, "temperature": m.temperature,
                     "fft_size": list(b.fft_size), "n_kpoints": b.n_kpoints, "nbands": b.nbands,
                     "n_symmetry_ops": len(b.symops)},
        "converged": res.converged,
        "n_iterations": res.n_iterations,
        "energy": res.energy,
        "energies": dict(res.energies),
        "fermi_level": res.fermi_level,
        "band_gap": res.band_gap,
        "eigenvalues": res.eigenvalues,
        "kpoints": res.kpoints,
        "kweights": res.kweights,
        "forces": forces,
        "history": [{k: h[k] for k in ("iteration", "energy", "delta_energy", "residual")} for h in res.history],
        "units": {"energy": "Hartree", "energies": "Hartree", "fermi_level": "Hartree", "band_gap": "Hartree",
                  "eigenvalues": "Hartree", "forces": "Hartree/Bohr", "lattice": "Bohr (vectors as rows)",
                  "positions": "reduced", "kpoints": "reduced reciprocal", "ecut": "Hartree",
                  "temperature": "Hartree", "residual": "electrons/Bohr^1.5"},
    }


def run(args):
    from ..dft import PlaneWaveBasis, compute_forces, make_model, self_consistent_field
    from ..errors import ConvergenceError, InputError
    from ..progress import ProgressBar
    from . import CommandFailed

    name, lattice, symbols, positions = _load_structure(args.structure)
    temperature = args.temperature
    if temperature is None:
        temperature = 0.0 if args.smearing == "none" else 0.01
    if not (args.tol > 0):
        raise InputError(f"--tol must be > 0, got {args.tol}")
    tol_density = args.tol_density if args.tol_density is not None else max(100 * args.tol, 1e-8)
    model = make_model(lattice, symbols, positions, functional=args.functional, smearing=args.smearing,
                       temperature=temperature)
    basis = PlaneWaveBasis(model, args.ecut, tuple(args.kgrid), tuple(args.kshift), fft_size=args.fft_size,
                           symmetries=not args.no_symmetry, nbands=args.nbands)
    bar = ProgressBar(total=args.maxiter, desc="SCF", keys=("energy", "delta_energy", "residual"))
    try:
        res = self_consistent_field(basis, tol_energy=args.tol, tol_density=tol_density, maxiter=args.maxiter,
                                    callback=bar, checkpoint=args.checkpoint)
    except ConvergenceError as exc:
        res = exc.state
        raise CommandFailed(str(exc), _summary(res, None, name),
                            _record(res, None, name, lattice, symbols, positions)) from None
    finally:
        bar.close()
    forces = compute_forces(res) if args.forces else None
    return _summary(res, forces, name), _record(res, forces, name, lattice, symbols, positions)
