"""Every registered primitive passes the shared finite-difference harness on its example inputs."""

import pytest

import qdiff.primitives as qp


def _params():
    entries = qp.registry()
    return [pytest.param(name, marks=[pytest.mark.slow] if "slow" in p.tags else [], id=name)
            for name, p in entries.items()]


@pytest.mark.parametrize("name", _params())
def test_primitive_passes_check(name):
    report = qp.check(name)
    lines = [f"{c.label}: max_error={c.max_error:.2e} {c.errors} {c.message}" for c in report.cases]
    assert report.passed, f"{name} failed (tolerance {report.tolerance}):\n" + "\n".join(lines)
