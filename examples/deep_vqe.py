"""Train a 10,000-layer, 300,010-parameter circuit on a laptop CPU (Yao.jl's demo, in qdiff).

The circuit is Yao's hardware-efficient ansatz on 10 qubits (Rx·Rz, then 10,000 × [CNOT ring,
Rz·Rx·Rz], last rotor Rz·Rx); the Hamiltonian is the antiferromagnetic Heisenberg ring
H = Σ_i (X_iX_{i+1} + Y_iY_{i+1} + Z_iZ_{i+1}).  Every step computes the energy and all
300,010 derivatives with the reversible adjoint (memory independent of depth) and takes one
Adam step.  The energy per step is plotted against the exact ground energy (Lanczos).

    python examples/deep_vqe.py               # 10 steps (a couple of minutes with compilation)
    python examples/deep_vqe.py --steps 100   # the full demo
"""

import argparse
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import qdiff.circuits as qc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qubits", type=int, default=10)
    ap.add_argument("--depth", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--checkpoint", default=None, help="checkpoint file (resumes if it exists)")
    ap.add_argument("--plot", default="deep_vqe.png", help="where to save the plot")
    args = ap.parse_args()

    t = time.perf_counter()
    circuit = qc.variational_circuit(args.qubits, args.depth)
    print(f"built {circuit.nparams:,} parameters {circuit.counts()} in {time.perf_counter() - t:.3f} s")
    h = qc.heisenberg(args.qubits)
    exact = qc.ground_energy(h)
    print(f"exact ground energy {exact:.10f}")
    res = qc.vqe(h, circuit, steps=args.steps, lr=args.lr, checkpoint=args.checkpoint, progress=True)
    for k, (e, g, s) in enumerate(zip(res.energy, res.grad_norm, res.seconds)):
        print(f"step {k:4d}  energy {e:+.10f}  |grad| {g:.3e}  {s:.2f} s")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(res.energy)), res.energy, "o-", ms=3, label=f"VQE, depth {args.depth:,} ({circuit.nparams:,} params)")
    ax.axhline(exact, color="k", ls="--", label=f"exact ground energy {exact:.4f}")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("energy ⟨H⟩ (J = 1)")
    ax.set_title(f"{args.qubits}-site Heisenberg ring")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"saved {args.plot}")


if __name__ == "__main__":
    main()
