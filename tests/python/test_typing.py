"""The package's types as a user's type checker sees them: mypy --strict on a snippet that uses
them. ``assert_type`` fails on a wrong type, and an unused ``type: ignore`` (flagged under
--strict) on a call the types no longer refuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

USER_CODE = """
import datetime
from typing import Literal, assert_type

import jscell

config = jscell.RuntimeConfig(timeout=datetime.timedelta(seconds=1), module_root=None)
assert_type(config.backend, Literal["native", "hardened", "wasm"])
assert_type(config.backend, jscell.Backend)
assert_type(config.timeout, float | None)
assert_type(config.max_heap_size, int | None)
assert_type(config.module_root, str | None)
assert_type(config.guest_path, str | None)
assert_type(config.enable_console, bool)
assert_type(config.warm_guests, int)
assert_type(jscell.BACKENDS, tuple[jscell.Backend, ...])

jscell.RuntimeConfig(backend="quantum")  # type: ignore[arg-type]
config.timeout = 2.0  # type: ignore[misc]

runtime = jscell.Runtime(config)
mode: jscell.OpMode = "async"
runtime.register_op("op", lambda: 1, mode=mode)
runtime.register_op("other", lambda: 1, mode="sometimes")  # type: ignore[arg-type]
"""


def test_config_attributes_and_modes_are_typed_for_users(tmp_path):
    source = tmp_path / "user_code.py"
    source.write_text(textwrap.dedent(USER_CODE))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
