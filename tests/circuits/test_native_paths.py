"""The simulators with the native rotor kernels (``QDIFF_NATIVE=on``) against the XLA kernels
(``QDIFF_NATIVE=off``), plain JAX backprop and finite differences; the fallback when the kernels
cannot be built (``auto``/``on``/``off``/bad values), and the on-disk build cache.

The native choice is read when a circuit function is traced, so each compiled function below is
built (traced) inside its own ``QDIFF_NATIVE`` setting; the FFI targets in its jaxpr show which
kernels it runs.
"""

import logging
import re
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qdiff.circuits as qc
from qdiff.circuits import native
from qdiff.errors import InputError


def fd(f, x, idx, h=1e-3):
    """Fourth-order central differences of scalar ``f`` along coordinates ``idx`` of the real array ``x``."""
    x = np.asarray(x, float)
    out = []
    for i in idx:
        e = np.zeros_like(x)
        e.flat[i] = h
        out.append((8 * (f(x + e) - f(x - e)) - (f(x + 2 * e) - f(x - 2 * e))) / (12 * h))
    return np.array(out)


def native_available() -> bool:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QDIFF_NATIVE", "auto")
        return native.enabled()


@pytest.fixture(scope="module")
def needs_native():
    if not native_available():
        pytest.skip(f"native rotor kernels unavailable: {native._load()}")


def traced(mode: str, fn, *args):
    """``fn(*args)`` with ``QDIFF_NATIVE=mode``, and the names of the native FFI targets in its jaxpr."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QDIFF_NATIVE", mode)
        out = jax.block_until_ready(fn(*args))
        targets = set(re.findall(r"qdiff_rotor_\w+", str(jax.make_jaxpr(fn)(*args))))
    return out, targets


NATIVE = {"qdiff_rotor_apply", "qdiff_rotor_back"}


# --- every gate kind ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def every_kind(needs_native):
    """Random 5-qubit circuit with every gate kind (rotor layers outside and inside a repeat), a
    random observable and input state; native energy and gradient (params, state), and the energy
    by plain JAX (backprop; forward only, its gradient compile is the slow test below)."""
    n, key = 5, jax.random.PRNGKey(11)
    circ = qc.random_circuit(n, key)
    obs = qc.random_observable(n, jax.random.fold_in(key, 1))
    p = np.asarray(qc.random_params(circ, jax.random.fold_in(key, 2)))
    s = np.asarray(qc.random_state(n, jax.random.fold_in(key, 3)))
    f_on = jax.jit(jax.value_and_grad(lambda t, x: qc.expect(obs, circ, t, x), argnums=(0, 1)))
    on, calls = traced("on", f_on, p, s)
    # backprop never uses the native kernels (they have no JAX derivative)
    e_bp, bp_calls = traced("on", lambda t, x: qc.expect(obs, circ, t, x, method="backprop"), p, s)
    return dict(circ=circ, obs=obs, p=p, s=s, f_on=f_on, on=on, e_bp=e_bp, calls=calls, bp_calls=bp_calls)


def test_every_kind_traces_the_native_kernels(every_kind):
    assert every_kind["calls"] == NATIVE
    assert every_kind["bp_calls"] == set()


def test_every_kind_energy_matches_backprop(every_kind):
    assert abs(float(every_kind["on"][0]) - float(every_kind["e_bp"])) < 1e-10


def test_every_kind_gradient_matches_finite_differences(every_kind):
    """Every parameter component, and two input-state directions (jax.grad of a real function of a
    complex z returns ∂f/∂Re z − i ∂f/∂Im z)."""
    p, s, f = every_kind["p"], every_kind["s"], every_kind["f_on"]
    _, (gp, gs) = every_kind["on"]
    g_fd = fd(lambda t: float(f(t, s)[0]), p, range(p.size))
    np.testing.assert_allclose(np.asarray(gp), g_fd, atol=1e-8, rtol=0)
    j = 5
    e_j = np.eye(s.size)[j]
    d_re = fd(lambda x: float(f(p, s + x[0] * e_j)[0]), np.zeros(1), [0])[0]
    d_im = fd(lambda x: float(f(p, s + 1j * x[0] * e_j)[0]), np.zeros(1), [0])[0]
    assert abs(float(gs[j].real) - d_re) < 1e-8 and abs(-float(gs[j].imag) - d_im) < 1e-8


@pytest.mark.slow
def test_every_kind_gradient_matches_xla_kernels_and_backprop(every_kind):
    """The full gradient (params and state) to 1e-10 against QDIFF_NATIVE=off and backprop
    (two more compiles of the large every-kind program, ≈ 8 s)."""
    circ, obs, p, s = every_kind["circ"], every_kind["obs"], every_kind["p"], every_kind["s"]
    e_on, (gp, gs) = every_kind["on"]
    for mode, method in (("off", "adjoint"), ("off", "backprop")):
        f = jax.jit(jax.value_and_grad(lambda t, x: qc.expect(obs, circ, t, x, method=method), argnums=(0, 1)))
        (e, (gp_ref, gs_ref)), calls = traced(mode, f, p, s)
        assert calls == set()
        assert abs(float(e_on) - float(e)) < 1e-10
        np.testing.assert_allclose(np.asarray(gp), np.asarray(gp_ref), atol=1e-10, rtol=0)
        np.testing.assert_allclose(np.asarray(gs), np.asarray(gs_ref), atol=1e-10, rtol=0)


# --- Yao's variational circuit: repeat body below 12 qubits, chunked backward from 12 ----------

def _variational(n: int) -> dict:
    """Depth-3 variational circuit, Heisenberg ring, random input state; energy and gradient with the
    native and with the XLA kernels."""
    circ, obs = qc.variational_circuit(n, 3), qc.heisenberg(n)
    p = np.asarray(qc.random_params(circ, jax.random.PRNGKey(n)))
    s = np.asarray(qc.random_state(n, jax.random.PRNGKey(n + 1)))
    out = dict(n=n, circ=circ, obs=obs, p=p, s=s)
    for mode in ("on", "off"):
        f = jax.jit(jax.value_and_grad(lambda t, x: qc.expect(obs, circ, t, x)))
        out[mode], out[mode + "_calls"] = traced(mode, f, p, s)
        out["f_" + mode] = f
    return out


@pytest.fixture(scope="module")
def var7(needs_native):
    return _variational(7)


@pytest.fixture(scope="module")
def var12(needs_native):
    return _variational(12)


@pytest.fixture(params=["var7", "var12"])
def variational(request):
    return request.getfixturevalue(request.param)


def test_variational_native_matches_xla_kernels(variational):
    v = variational
    assert v["on_calls"] == NATIVE and v["off_calls"] == set()
    (e_on, g_on), (e_off, g_off) = v["on"], v["off"]
    assert abs(float(e_on) - float(e_off)) < 1e-10
    np.testing.assert_allclose(np.asarray(g_on), np.asarray(g_off), atol=1e-10, rtol=0)


def test_variational_native_matches_finite_differences(variational):
    v = variational
    f, p, s = v["f_on"], v["p"], v["s"]
    idx = [0, 5, p.size // 2, p.size - 1]
    g_fd = fd(lambda t: float(f(t, s)[0]), p, idx)
    np.testing.assert_allclose(np.asarray(v["on"][1])[idx], g_fd, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_variational_native_matches_backprop(variational):
    """Against plain JAX AD as well (one more compile per size; off-vs-backprop is test_adjoint's)."""
    v = variational
    circ, obs, p, s = v["circ"], v["obs"], v["p"], v["s"]
    f = jax.jit(jax.value_and_grad(lambda t, x: qc.expect(obs, circ, t, x, method="backprop")))
    (e_bp, g_bp), calls = traced("on", f, p, s)
    assert calls == set()
    e_on, g_on = v["on"]
    assert abs(float(e_on) - float(e_bp)) < 1e-10
    np.testing.assert_allclose(np.asarray(g_on), np.asarray(g_bp), atol=1e-10, rtol=0)


# --- batches -----------------------------------------------------------------------------------

def test_batch_of_params_and_states_matches_single_calls(var7):
    """(B, nparams) parameters with B states, natively: each element's energy and gradient equal a
    single call's with the native and with the XLA kernels."""
    v = var7
    circ, obs, p, s = v["circ"], v["obs"], v["p"], v["s"]
    rng = np.random.default_rng(3)
    ps = p + rng.normal(size=(3, p.size))
    ss = np.asarray(qc.random_state(v["n"], jax.random.PRNGKey(99), batch=3))

    def total(t, x):
        e = qc.expect(obs, circ, t, x)
        return e.sum(), e

    ((_, es), gs), calls = traced("on", jax.jit(jax.value_and_grad(total, has_aux=True)), ps, ss)
    assert calls == NATIVE and es.shape == (3,) and gs.shape == ps.shape
    for b in range(3):
        for mode in ("on", "off"):
            e_b, g_b = v["f_" + mode](ps[b], ss[b])
            assert abs(float(es[b]) - float(e_b)) < 1e-10, (b, mode)
            np.testing.assert_allclose(np.asarray(gs[b]), np.asarray(g_b), atol=1e-10, rtol=0)


# --- fallback when the kernels cannot be built (runs everywhere) ----------------------------------

@pytest.fixture
def no_compiler(monkeypatch):
    """No C++ compiler: fresh load/warning caches now, and again afterwards so that later tests
    load (and register) the real kernels anew."""
    monkeypatch.setattr(native, "_compiler", lambda: None)
    native._load.cache_clear()
    native._warn_once.cache_clear()
    yield
    native._load.cache_clear()
    native._warn_once.cache_clear()


def test_auto_falls_back_with_one_warning(no_compiler, monkeypatch, caplog):
    monkeypatch.setenv("QDIFF_NATIVE", "auto")
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        assert native.enabled() is False
        assert native.enabled() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no C++ compiler" in warnings[0].getMessage()
    # the simulators then trace the XLA kernels only
    circ, obs = qc.variational_circuit(4, 1), qc.heisenberg(4)
    p = np.zeros(circ.nparams)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QDIFF_NATIVE", "auto")
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda t: qc.expect(obs, circ, t)))(p))
    assert "qdiff_rotor" not in jaxpr and "ffi_call" not in jaxpr


def test_on_without_compiler_raises_the_reason(no_compiler, monkeypatch):
    monkeypatch.setenv("QDIFF_NATIVE", "on")
    with pytest.raises(RuntimeError, match="QDIFF_NATIVE=on.*no C\\+\\+ compiler"):
        native.enabled()


@pytest.mark.parametrize("value", ["bogus", "1", "native"])
def test_unknown_mode_is_an_input_error(no_compiler, monkeypatch, value):
    monkeypatch.setenv("QDIFF_NATIVE", value)
    with pytest.raises(InputError, match="QDIFF_NATIVE must be one of"):
        native.enabled()


@pytest.mark.parametrize("value", ["off", " OFF "])
def test_off_never_builds(no_compiler, monkeypatch, value):
    def fail(*args):
        raise AssertionError("QDIFF_NATIVE=off must not look for a compiler or build")

    monkeypatch.setattr(native, "_compiler", fail)
    monkeypatch.setattr(native, "_build", fail)
    monkeypatch.setenv("QDIFF_NATIVE", value)
    assert native.enabled() is False


def test_kernels_load_again_after_the_caches_are_cleared(needs_native, monkeypatch):
    """Clearing the load cache re-registers the same FFI targets from the same library file; that must
    work (the fallback tests above depend on it) and the kernels must still compute.  (A *different*
    library file, e.g. after changing QDIFF_CACHE_DIR, is refused by XLA: "Duplicate FFI handler
    registration ... with different bundle addresses"; no test here does that.)"""
    native._load.cache_clear()
    assert native._load() is None
    monkeypatch.setenv("QDIFF_NATIVE", "on")
    assert native.enabled() is True
    psi = jnp.zeros((1, 8), jnp.complex128).at[0, 0].set(1.0)
    x = np.array([[0, 1], [1, 0]], complex)
    out = native.rotor_apply(psi, np.stack([x, x]), [0, 2], 3)  # |000> -> |101>
    np.testing.assert_array_equal(np.asarray(out)[0], np.eye(8)[0b101])


# --- the build cache ---------------------------------------------------------------------------

@pytest.fixture
def compiler():
    cxx = native._compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    return cxx


def _tiny_source(path, body="int qdiff_probe() { return 7; }"):
    path.write_text('extern "C" ' + body + "\n")
    return path


def test_build_is_cached(compiler, monkeypatch, tmp_path):
    """One ``rotor_kernels-*.so`` per source, built once: a second call returns it without running the
    compiler; another source gets another file.  (A small source stands in for the kernels: the
    cache logic is the same, and the real source is compiled by every other test here.)"""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QDIFF_CACHE_DIR", str(cache))
    monkeypatch.setattr(native, "_SOURCE", _tiny_source(tmp_path / "a.cc"))
    so = native._build(compiler)
    assert list(cache.iterdir()) == [so] and so.name.startswith("rotor_kernels-") and so.suffix == ".so"
    mtime = so.stat().st_mtime_ns

    def no_compile(*args, **kw):
        raise AssertionError("recompiled although the build is cached")

    with monkeypatch.context() as mp:
        mp.setattr(subprocess, "run", no_compile)
        assert native._build(compiler) == so
    assert so.stat().st_mtime_ns == mtime
    monkeypatch.setattr(native, "_SOURCE", _tiny_source(tmp_path / "b.cc", "int qdiff_probe() { return 8; }"))
    other = native._build(compiler)
    assert other != so and sorted(cache.iterdir()) == sorted([so, other])


def test_failed_build_raises_the_compiler_message_and_leaves_nothing(compiler, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("QDIFF_CACHE_DIR", str(cache))
    bad = tmp_path / "broken.cc"
    bad.write_text("int qdiff_broken_source( { return 1; }\n")
    monkeypatch.setattr(native, "_SOURCE", bad)
    with pytest.raises(RuntimeError, match="failed") as err:
        native._build(compiler)
    assert str(bad) in str(err.value) and "error" in str(err.value)
    assert list(cache.iterdir()) == []


@pytest.mark.slow
def test_real_kernels_build_into_an_empty_cache(compiler, monkeypatch, tmp_path):
    """The shipped source compiles into a fresh cache and exports both FFI handlers (a few seconds)."""
    import ctypes

    monkeypatch.setenv("QDIFF_CACHE_DIR", str(tmp_path))
    so = native._build(compiler)
    assert list(tmp_path.iterdir()) == [so]
    lib = ctypes.cdll.LoadLibrary(str(so))
    for name in native._TARGETS:
        assert getattr(lib, name) is not None
