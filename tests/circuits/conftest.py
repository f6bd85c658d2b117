"""Fixtures of the circuit tests: which rotor-layer kernels the reversible adjoint uses."""

import pytest


@pytest.fixture(params=["native", "xla"])
def kernels(request, monkeypatch):
    """Run a test with the native rotor kernels (``QDIFF_NATIVE=auto``: they are used where they
    build, see :mod:`qdiff.circuits.native`) and with the XLA kernels (``QDIFF_NATIVE=off``), so the
    XLA path stays covered where the native one is the default."""
    monkeypatch.setenv("QDIFF_NATIVE", "auto" if request.param == "native" else "off")
    return request.param
