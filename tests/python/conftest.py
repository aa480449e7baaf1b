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
