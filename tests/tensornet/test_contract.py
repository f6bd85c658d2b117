"""contract / contraction_cost / network_from_graph against numpy, brute-force
enumeration and finite differences."""

import itertools
import math

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.tensornet.contraction import contract, contraction_cost
from qdiff.tensornet.network import network_from_graph


def _rand(rng, *shape):
    return rng.standard_normal(shape)


def test_matches_numpy_einsum_with_mixed_hashable_labels():
    rng = np.random.default_rng(0)
    a, b, c = _rand(rng, 3, 4, 5), _rand(rng, 5, 6), _rand(rng, 6, 3, 2)
    out = contract(a, ("x", 1, (2, "y")), b, [(2, "y"), "z"], c, ("z", "x", None), output=(1, None))
    ref = np.einsum("abc,cd,dae->be", a, b, c)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    # default output: labels occurring once, in order of first appearance
    np.testing.assert_allclose(contract(a, ("x", 1, (2, "y")), b, [(2, "y"), "z"], c, ("z", "x", None)), ref,
                               rtol=1e-12)


def test_trace_hyperedge_and_string_labels():
    rng = np.random.default_rng(1)
    m, v, w = _rand(rng, 4, 4), _rand(rng, 4), _rand(rng, 4)
    assert float(contract(m, "ii")) == pytest.approx(np.trace(m), rel=1e-13)
    # 'i' on three operands: a hyperedge summed once
    assert float(contract(m, "ij", v, "i", w, "i", output=())) == pytest.approx(
        np.einsum("ij,i,i->", m, v, w), rel=1e-13)


@pytest.mark.parametrize("optimize", ["greedy", "optimal", "branch-2"])
def test_more_than_52_labels_ring_of_matrices(optimize):
    # trace of a product of 60 matrices: 60 distinct integer labels
    n = 60 if optimize == "greedy" else 8
    rng = np.random.default_rng(2)
    mats = [np.eye(3) + 0.1 * _rand(rng, 3, 3) for _ in range(n)]
    args = []
    for k, m in enumerate(mats):
        args += [m, (k, (k + 1) % n)]
    ref = np.trace(np.linalg.multi_dot(mats)) if n > 2 else np.trace(mats[0] @ mats[1])
    assert float(contract(*args, optimize=optimize)) == pytest.approx(ref, rel=1e-11)


def test_more_than_52_open_labels():
    # 60 open indices of dimension 1 plus a contracted one: output with 60 axes
    rng = np.random.default_rng(3)
    v = rng.standard_normal(5)
    ops = []
    for k in range(60):
        ops += [np.full((1, 5), float(k + 1)), (("open", k), "s")]
    out = contract(*ops, v, ("s",))
    assert out.shape == (1,) * 60
    assert float(out.reshape(())) == pytest.approx(float(math.factorial(60)) * v.sum(), rel=1e-12)


def test_cost_reported_before_and_memory_limit():
    a = jax.ShapeDtypeStruct((10, 20), jnp.float64)
    b = jax.ShapeDtypeStruct((20, 30), jnp.float64)
    c = jax.ShapeDtypeStruct((30, 40), jnp.float64)
    cost = contraction_cost(a, "ij", b, "jk", c, "kl", optimize="optimal")
    # best order: (A B) C = 2*(10*20*30 + 10*30*40) flops, largest formed tensor 10x40
    assert cost.flops == 2 * (10 * 20 * 30 + 10 * 30 * 40)
    assert cost.largest_intermediate == 400
    assert cost.largest_intermediate_bytes() == 3200
    assert cost.naive_flops >= cost.flops
    x = [np.ones(s.shape) for s in (a, b, c)]
    with pytest.raises(InputError, match="memory_limit"):
        contract(x[0], "ij", x[1], "jk", x[2], "kl", optimize="optimal", memory_limit=399)
    out = contract(x[0], "ij", x[1], "jk", x[2], "kl", optimize="optimal", memory_limit=400)
    np.testing.assert_allclose(out, np.full((10, 40), 600.0))


def test_explicit_path_and_cache_per_structure():
    from qdiff.tensornet import contraction as contract_module

    rng = np.random.default_rng(4)
    a, b, c = _rand(rng, 2, 3), _rand(rng, 3, 4), _rand(rng, 4, 5)
    ref = a @ b @ c
    np.testing.assert_allclose(contract(a, "ij", b, "jk", c, "kl", optimize=[(1, 2), (0, 1)]), ref, rtol=1e-12)
    contract_module._path_cached.cache_clear()
    contract(a, ("p", "q"), b, ("q", "r"), c, ("r", "s"))
    contract(a, (0, 1), b, (1, 2), c, (2, 3))  # same structure, other label names: cache hit
    info = contract_module._path_cached.cache_info()
    assert info.misses == 1 and info.hits == 1


def test_gradients_and_jit():
    rng = np.random.default_rng(5)
    a, b = _rand(rng, 3, 4), _rand(rng, 4, 3)

    def f(a, b):
        return contract(a, ("i", "j"), b, ("j", "k"), a, ("k", "l"), output=("i", "l")).sum() ** 2

    g = jax.jit(jax.grad(f, argnums=(0, 1)))(a, b)

    def ref(a, b):
        return (a @ b @ a).sum() ** 2

    eps = 1e-6
    for k, arr in enumerate((a, b)):
        idx = (1, 2)
        d = np.zeros_like(arr)
        d[idx] = eps
        args_p = [a, b]
        args_m = [a, b]
        args_p[k] = arr + d
        args_m[k] = arr - d
        fd = (ref(*args_p) - ref(*args_m)) / (2 * eps)
        assert float(g[k][idx]) == pytest.approx(fd, rel=1e-7)


@pytest.mark.parametrize("args,match", [
    ((np.ones((2, 3)), ("i",)), "operand 0 has 2 axes"),
    ((np.ones(2), "i", np.ones((2, 3)), ("i", "j", "k")), "operand 1 has 2 axes"),
    ((np.ones(2), "i", np.ones(3), "i"), "dimension 2 on operand 0 but 3 on operand 1"),
    ((np.ones(2),), "alternate"),
])
def test_bad_labels(args, match):
    with pytest.raises(InputError, match=match):
        contract(*args)


def test_bad_output_and_optimizer():
    with pytest.raises(InputError, match="output label 'z'"):
        contract(np.ones(2), "i", output=("z",))
    with pytest.raises(InputError, match="repeated"):
        contract(np.ones((2, 2)), "ij", output=("i", "i"))
    with pytest.raises(InputError, match="unknown optimize"):
        contract(np.ones(2), "i", optimize="fastest")


def test_cotengra_when_installed():
    pytest.importorskip("cotengra", reason="cotengra is optional")
    rng = np.random.default_rng(6)
    mats = [_rand(rng, 3, 3) for _ in range(6)]
    args = []
    for k, m in enumerate(mats):
        args += [m, (k, (k + 1) % 6)]
    ref = np.trace(np.linalg.multi_dot(mats))
    assert float(contract(*args, optimize="cotengra")) == pytest.approx(ref, rel=1e-11)


def test_cotengra_missing_is_a_clear_error(monkeypatch):
    import sys

    from qdiff.tensornet import contraction as contract_module

    monkeypatch.setitem(sys.modules, "cotengra", None)
    contract_module._path_cached.cache_clear()
    with pytest.raises(InputError, match="cotengra"):
        contract(np.ones(2), "i", np.ones(2), "i", optimize="cotengra")
    contract_module._path_cached.cache_clear()


def _ising_brute_force(graph, beta):
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in graph.edges])
    spins = np.array(list(itertools.product((1, -1), repeat=len(nodes))))
    bond_sums = np.sum(spins[:, edges[:, 0]] * spins[:, edges[:, 1]], axis=1)
    return float(np.sum(np.exp(beta * bond_sums)))


def test_graph_network_is_ising_partition_function_on_a_torus():
    # 3x4 periodic lattice: Z by a graph tensor network vs brute-force enumeration of 2^12 states
    beta = 0.37
    graph = nx.grid_2d_graph(3, 4, periodic=True)
    w = np.array([[math.sqrt(math.cosh(beta)), math.sqrt(math.sinh(beta))],
                  [math.sqrt(math.cosh(beta)), -math.sqrt(math.sinh(beta))]])  # W W^T = exp(beta s s')
    tensors = {}
    for node in graph.nodes:
        deg = graph.degree(node)
        tensors[node] = contract(*sum(([w, ("s", k)] for k in range(deg)), []), output=tuple(range(deg)))
    net = network_from_graph(graph, tensors)
    cost = net.cost()
    assert cost.flops > 0 and net.output == ()
    z = float(net.contract())
    assert z == pytest.approx(_ising_brute_force(graph, beta), rel=1e-11)
    # differentiable through the graph network: d ln Z / d beta = <sum s s'> by enumeration FD
    h = 1e-5
    fd = (math.log(_ising_brute_force(graph, beta + h)) - math.log(_ising_brute_force(graph, beta - h))) / (2 * h)

    def lnz(b):
        wb = jnp.array([[1.0, 0.0], [1.0, 0.0]]) * jnp.sqrt(jnp.cosh(b)) + jnp.array(
            [[0.0, 1.0], [0.0, -1.0]]) * jnp.sqrt(jnp.sinh(b))
        t = contract(*sum(([wb, ("s", k)] for k in range(4)), []), output=tuple(range(4)))
        return jnp.log(network_from_graph(graph, {n: t for n in graph.nodes}).contract())

    assert float(jax.jit(jax.grad(lnz))(beta)) == pytest.approx(fd, rel=1e-7)


def test_graph_legs_open_and_errors():
    rng = np.random.default_rng(7)
    a, b = _rand(rng, 3, 2), _rand(rng, 3, 4)
    g = nx.Graph()
    g.add_node("A", open=("p",))
    g.add_node("B", open=("q",))
    g.add_edge("A", "B")
    # a's axes: bond then open leg (default); b: give the order explicitly, edge written reversed
    net = network_from_graph(g, {"A": a, "B": b}, legs={"B": [("B", "A"), "q"]})
    np.testing.assert_allclose(net.contract(), a.T @ b, rtol=1e-12)
    g.add_edge("B", "B", label="loop")
    with pytest.raises(InputError, match="node 'B' has 2 axes but the node has 4 legs|tensor of node 'B'"):
        network_from_graph(g, {"A": a, "B": b})
    with pytest.raises(InputError, match="no tensor"):
        network_from_graph(g, {"A": a})
    g.remove_edge("B", "B")
    with pytest.raises(InputError, match="bond"):
        network_from_graph(g, {"A": a, "B": b}, legs={"B": ["x", "q"]})
