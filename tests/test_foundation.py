"""Registry, harness, checkpoint and precision behaviour of the foundation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qdiff
from qdiff.checkpoint import load_checkpoint, save_checkpoint
from qdiff.errors import CheckpointError
from qdiff.primitives import Case, Primitive, check, register


def _cube_with_rule(factor):
    @jax.custom_vjp
    def cube(x):
        return x ** 3

    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (factor * x ** 2 * g,))
    return cube


def _cases(key):
    return [Case("real", (jnp.array([0.3, -1.2, 0.7]),)), Case("complex", (jnp.array([0.3 + 0.1j, 1.2j]),))]


def test_float64_is_default_after_import():
    assert jnp.zeros(1).dtype == jnp.float64
    assert (jnp.zeros(1) + 1j).dtype == jnp.complex128


def test_harness_passes_a_correct_rule_against_finite_differences():
    p = Primitive("test.cube", _cube_with_rule(3.0), _cases, probe=lambda y: jnp.sum(jnp.abs(y) ** 2),
                  reference=lambda x: x ** 3, order=2)
    report = check(p)
    assert report.passed, report
    assert report.max_error < 1e-8
    assert {"rev", "second", "reference_grad", "jit", "vmap"} <= set(report.cases[0].errors)


def test_harness_catches_a_wrong_rule():
    # d(x^3)/dx = 3x^2; a rule with 2x^2 is off by exactly 1/3 relative to the finite difference.
    p = Primitive("test.bad", _cube_with_rule(2.0), _cases, probe=jnp.sum)
    report = check(p)
    assert not report.passed
    assert report.cases[0].errors["rev"] == pytest.approx(1 / 3, rel=1e-6)


def test_harness_reports_crashing_case_as_failure():
    def broken(x):
        raise ValueError("boom")

    report = check(Primitive("test.crash", broken, _cases, probe=jnp.sum))
    assert not report.passed and math.isinf(report.max_error)
    assert "boom" in report.cases[0].message


def test_register_is_write_once():
    name = "test.write_once"
    register(name, examples=_cases, probe=jnp.sum)(_cube_with_rule(3.0))
    with pytest.raises(ValueError, match="registered twice"):
        register(name, examples=_cases, probe=jnp.sum)(_cube_with_rule(3.0))


def test_register_rejects_bad_modes():
    with pytest.raises(ValueError, match="modes"):
        register("test.modes", examples=_cases, probe=jnp.sum, modes=("sideways",))


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    state = {"params": jnp.arange(3.0), "step": np.int64(7), "opt": (jnp.ones(2), jnp.zeros((2, 2)))}
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, state, {"seed": 3})
    restored, meta = load_checkpoint(path, state)
    assert meta == {"seed": 3}
    np.testing.assert_array_equal(restored["params"], np.arange(3.0))
    assert int(restored["step"]) == 7
    with pytest.raises(CheckpointError, match="structure"):
        load_checkpoint(path, {"params": jnp.arange(3.0)})
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path, {**state, "params": jnp.arange(4.0)})
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path, state)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary files left behind


def test_require_x64_names_the_fix():
    from qdiff.precision import require_x64

    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="jax_enable_x64"):
            require_x64("test")
    finally:
        jax.config.update("jax_enable_x64", True)
    assert qdiff.precision.x64_enabled()
