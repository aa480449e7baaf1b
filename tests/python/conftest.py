"""Shared fixtures for the jscell test suite.

Every test that touches a runtime takes the ``backend`` fixture (directly or through ``runtime``
/ ``make_runtime``), so the whole suite runs once per backend listed in
``jscell._config.BACKENDS``. A test that passes on one backend and fails on another is a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import jscell
from jscell._config import BACKENDS


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test: each test runs once per available backend."""
    return request.param


@pytest.fixture
def runtime(backend: str) -> Iterator[jscell.Runtime]:
    """A fresh runtime with default settings on the backend under test, closed afterwards."""
    rt = jscell.Runtime(jscell.RuntimeConfig(backend=backend))
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def make_runtime(backend: str) -> Iterator[Callable[..., jscell.Runtime]]:
    """Factory: ``make_runtime(**config_kwargs)`` builds a runtime on the backend under test.

    Every runtime it made is closed at teardown.
    """
    created: list[jscell.Runtime] = []

    def make(**config_kwargs: object) -> jscell.Runtime:
        rt = jscell.Runtime(jscell.RuntimeConfig(backend=backend, **config_kwargs))
        created.append(rt)
        return rt

    try:
        yield make
    finally:
        for rt in created:
            rt.close()


@pytest.fixture
def echo(runtime: jscell.Runtime) -> jscell.JsFunction:
    """The JS identity function ``x => x`` of ``runtime``: a round trip Python → JS → Python."""
    return runtime.eval("x => x")


# Where QuickJS-ng (the wasm backend's engine) and V8 differ by design, not by a jscell bug. A
# test asserts what every backend shares, and the V8-only part unless `engine_differs` says the
# backend's engine differs there; the README lists these differences.
ENGINE_DIFFERENCES = {
    "error wording": "QuickJS words its own error messages (e.g. syntax errors) differently from V8",
    "module fetch order": "QuickJS fetches the modules of a graph one at a time, in import order; V8 fetches them concurrently",
    "async iterator close on throw": "when a for-await loop's body throws, QuickJS calls the iterator's return() but does "
    "not await it before the exception leaves the loop (the spec, and V8, await it)",
}


def engine_differs(backend: str, difference: str) -> bool:
    """Whether ``backend``'s engine differs from V8 in ``difference`` (a key of ENGINE_DIFFERENCES)."""
    return backend == "wasm" and difference in ENGINE_DIFFERENCES
