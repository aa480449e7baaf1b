"""The parent against a compromised guest. `jscell-evil-guest` stands in for a hardened guest
that JavaScript has taken over: it speaks the wire and the lane protocols and attacks the
parent in the way its runtime's ``bootstrap`` names (``tests/evil-guest/src/attacks.rs``).

Every attack must end in one clear way, within the call's timeout plus the grace (calls without
a timeout: within their fixed deadline): the call's normal result or error, or
``RuntimeTerminated`` naming why the guest was ended (``protocol_violation``, or
``timeout_overdue`` for a guest that stops answering). And in every case:

- the parent's peak memory grows by at most a small multiple of ``max_serialization_bytes``;
- the attacked guest is reaped by the time the runtime is closed;
- other runtimes in the process keep working, and a fresh one starts;
- the user's module loader is only ever asked for URLs the parent resolved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import os
import pathlib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import jscell
from jscell import bounds

EVIL_GUEST = pathlib.Path(__file__).resolve().parents[2] / "target" / "release" / "jscell-evil-guest"

# Every attacked runtime has this value limit, so amplification is measured against it.
LIMIT = 4 << 20
# The parent's peak memory may grow by this many times LIMIT during one attack. Python objects
# are several times larger than what the limit counts (a list of a million None is 8 MB, a
# dict entry and its key string some 100 bytes): the largest values an honest guest may send
# take about 15 times LIMIT, which is what this bound leaves room for.
RSS_BOUND = 24 * LIMIT
# Scheduling noise on a loaded 2-core machine, on top of every deadline.
SLACK = 1.0
SHORT = 0.5
LONG = 5.0

VIOLATION = "protocol_violation"
OVERDUE = "timeout_overdue"


@dataclasses.dataclass(frozen=True)
class Attack:
    """How the test sets an attack off, and what the parent must make of it.

    ``trigger``: ``start`` (the handshake), ``eval``, ``eval_async``, ``bind``, ``stats``, ``call``
    (an eval returning a function, called with a Python callable), ``stream`` (an eval returning a
    stream, read to its end), or ``drop`` (an eval returning function handles, dropped, then more evals). ``reason``: the
    ``RuntimeTerminated.reason`` the call must raise, or None when ``check`` judges a normal
    outcome (the returned value, or the normal exception)."""

    trigger: str = "eval"
    reason: str | None = VIOLATION
    timeout: float | None = LONG
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "run"
    check: Callable[[Any], None] | None = None
    # For calls without a timeout: another thread calls terminate() this long after the call.
    terminate_after: float | None = None


def returns(expected: Any) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        assert outcome == expected

    return check


def raises(kind: type[BaseException], match: str) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        assert isinstance(outcome, kind), outcome
        assert re.search(match, str(outcome)), outcome

    return check


def a_list_of(count: int, kind: type) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        assert isinstance(outcome, list) and len(outcome) == count
        assert all(isinstance(item, kind) for item in outcome[:: max(1, count // 100)])

    return check


def a_dict_of(count: int) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        assert isinstance(outcome, dict) and len(outcome) == count

    return check


NODES = LIMIT // 8
# One object, so what piles up for a guest that does not read is the parent's own copies.
BIG_RESULT = "x" * (3 << 20)
BIG_SOURCE = "/*" + "x" * (3 << 20) + "*/ 1"
COLLIDING_KEYS = LIMIT // (32 + 8 + 8) - 1

ATTACKS: dict[str, Attack] = {
    # A claimed length is never a reason to allocate.
    "claim_serialized_array_2e40": Attack(),
    "claim_serialized_array_2e61": Attack(),
    "claim_serialized_array_2e61_async": Attack(trigger="eval_async"),
    "claim_serialized_sparse_array": Attack(),
    "claim_serialized_string": Attack(),
    "claim_serialized_two_byte_string": Attack(),
    "claim_serialized_bigint": Attack(),
    "claim_serialized_buffer": Attack(),
    "claim_serialized_view": Attack(),
    "claim_serialized_back_reference": Attack(),
    "claim_serialized_varint": Attack(),
    "claim_serialized_in_host_call": Attack(),
    "claim_wire_string": Attack(),
    "claim_wire_bytes": Attack(),
    "claim_wire_array": Attack(),
    "claim_wire_bigint": Attack(),
    "claim_frame_prefix": Attack(trigger="eval_async", reason=OVERDUE, timeout=SHORT),
    "claim_lane_total": Attack(reason=OVERDUE, timeout=SHORT),
    # What one reply decodes to is charged once against the limit, node by node.
    "amplify_null_array": Attack(),
    "amplify_null_array_async": Attack(trigger="eval_async"),
    "amplify_null_args": Attack(),
    "amplify_stack_frames": Attack(),
    "amplify_serialized_dag": Attack(),
    "amplify_dags_in_args": Attack(),
    "amplify_nested_serialized": Attack(),
    "amplify_ignored_property_dag": Attack(),
    "amplify_deep_tree": Attack(),
    "amplify_deep_serialized": Attack(),
    "amplify_empty_keys": Attack(),
    "amplify_map_entries": Attack(),
    "amplify_layers": Attack(trigger="start"),
    "amplify_uncaught_frames": Attack(trigger="eval_async"),
    "amplify_one_node_over": Attack(),
    "amplify_at_the_limit": Attack(reason=None, check=a_list_of(NODES - 1, type(None))),
    "amplify_large_error_message": Attack(reason=None, check=raises(jscell.JavaScriptError, "^Error: xxx")),
    "amplify_max_functions": Attack(reason=None, check=a_list_of(NODES - 1, jscell.JsFunction)),
    # Every queue the guest can grow is bounded; writes to a guest that stops reading give up.
    "flood_sync_calls_unread": Attack(trigger="eval_async"),
    "flood_sync_calls_read": Attack(trigger="eval_async", reason=OVERDUE, timeout=SHORT),
    "flood_sync_calls_lane": Attack(reason=OVERDUE, timeout=SHORT),
    "flood_async_calls": Attack(trigger="eval_async"),
    "flood_async_call_bytes": Attack(trigger="eval_async"),
    "flood_async_duplicate_ids": Attack(trigger="eval_async"),
    "flood_async_completions_unread": Attack(trigger="eval_async"),
    "flood_module_loads_repeated": Attack(trigger="eval_async"),
    "flood_module_loads_window": Attack(trigger="eval_async"),
    "flood_resolutions": Attack(trigger="eval_async", reason=None, check=returns(LIMIT // ((64 << 10) + 64))),
    "flood_releases_unread": Attack(trigger="drop", timeout=None),
    "flood_replies_unknown": Attack(trigger="eval_async"),
    "flood_console_socket": Attack(trigger="eval_async", reason=OVERDUE, timeout=SHORT, config={"enable_console": True}),
    "flood_console_lane": Attack(reason=OVERDUE, timeout=SHORT, config={"enable_console": True}),
    "flood_uncaught_socket": Attack(trigger="eval_async", reason=OVERDUE, timeout=SHORT),
    "flood_function_handles_in_args": Attack(reason=None, check=returns(1)),
    # A stream's chunks come one per read the parent makes, each bounded by the value limit.
    "flood_stream_chunks": Attack(trigger="stream"),
    "amplify_stream_chunk": Attack(trigger="stream"),
    # Whatever the guest does on the wire, a call ends by its deadline.
    "stall_handshake_trickle": Attack(trigger="start", reason=OVERDUE),
    "stall_handshake_silent": Attack(trigger="start", reason=OVERDUE),
    "stall_frame_trickle_socket": Attack(trigger="eval_async", reason=OVERDUE, timeout=SHORT),
    "stall_frame_trickle_lane": Attack(reason=OVERDUE, timeout=SHORT),
    "stall_bind": Attack(trigger="bind", reason=OVERDUE, timeout=None),
    "stall_stats": Attack(trigger="stats", reason=OVERDUE, timeout=None),
    "stall_lane_turn_kept": Attack(reason=OVERDUE, timeout=SHORT),
    "stall_lane_ack": Attack(reason=OVERDUE, timeout=SHORT, source=BIG_SOURCE),
    "stall_lane_ack_until_terminated": Attack(reason="requested", timeout=None, source=BIG_SOURCE, terminate_after=SHORT),
    "stall_lane_second_chunk": Attack(timeout=None, source=BIG_SOURCE),
    "stall_socket_unread": Attack(trigger="eval_async", timeout=None, source=BIG_SOURCE),
    "stall_reply_late": Attack(reason=OVERDUE, timeout=SHORT),
    # Tables keyed by guest data cannot be flooded with collisions.
    "hash_colliding_keys_tree": Attack(reason=None, check=a_dict_of(COLLIDING_KEYS)),
    "hash_colliding_keys_serialized": Attack(reason=None, check=a_dict_of(COLLIDING_KEYS)),
    # The guest holds no capability the parent did not grant it.
    "bypass_load_secret": Attack(trigger="eval_async"),
    "bypass_load_http_on_lane": Attack(),
    "bypass_load_static_unresolved": Attack(trigger="eval_async"),
    "bypass_load_near_url": Attack(trigger="eval_async"),
    "bypass_load_other_kind": Attack(trigger="eval_async", reason=None, check=returns('{"loaded": "data"}')),
    "bypass_host_function_value": Attack(),
    "bypass_unknown_op": Attack(reason=None, check=returns("no op or host function has id 4000")),
    "bypass_mode_mismatch": Attack(reason=None, check=lambda text: "asynchronous" in text or pytest.fail(text)),
    "bypass_forged_termination": Attack(),
    "bypass_forged_heap_limit": Attack(),
    "bypass_release_an_op": Attack(),
    "bypass_release_twice": Attack(trigger="call"),
    "amplify_grant_releases": Attack(),
    # Frames that do not belong where they arrive.
    "protocol_parent_frame": Attack(trigger="eval_async"),
    "protocol_ready_again": Attack(trigger="eval_async"),
    "protocol_reply_twice": Attack(trigger="eval_async", reason=None, check=returns(1)),
    "protocol_lane_reply_on_socket": Attack(),
    "protocol_garbage": Attack(trigger="eval_async"),
    "protocol_truncated_then_closed": Attack(trigger="eval_async"),
    "protocol_invalid_utf8": Attack(),
    "protocol_unknown_frame_tag": Attack(trigger="eval_async"),
    "protocol_unknown_value_tag": Attack(),
    "protocol_trailing_bytes": Attack(trigger="eval_async"),
    "protocol_console_disabled": Attack(),
    "protocol_lane_out_of_turn": Attack(),
    "protocol_lane_empty_chunk": Attack(),
    "protocol_lane_chunk_over_capacity": Attack(),
    "protocol_lane_total_over_limit": Attack(),
    "protocol_exit": Attack(reason="guest_exited"),
    "protocol_close_socket": Attack(trigger="eval_async"),
}


def test_every_attack_the_evil_guest_knows_is_run_here():
    listed = subprocess.run([EVIL_GUEST, "--list"], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == sorted(ATTACKS)


def deadline(attack: Attack) -> float:
    """How long the parent may take to settle `attack`."""
    if attack.trigger == "start":
        return bounds.START_DEADLINE
    if attack.terminate_after is not None:
        return attack.terminate_after
    if attack.timeout is not None:
        return attack.timeout + bounds.GRACE
    if attack.trigger in ("bind", "stats"):
        return bounds.CONTROL_DEADLINE
    return bounds.STALL_DEADLINE


def peak_rss_growth(measure: Callable[[], Any]) -> tuple[Any, int]:
    """`measure()`'s outcome and how far this process's peak resident memory rose during it."""
    gc.collect()
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets the peak to the current size
    before = status_bytes("VmRSS")
    outcome = measure()
    return outcome, status_bytes("VmHWM") - before


def status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def evil_guests() -> set[int]:
    """Pids of this process's live (not zombie) evil guests."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if name.startswith("jscell-evil") and int(rest[1]) == os.getpid():
            found.add(int(entry))
    return found


def fingerprint(text: str) -> str:
    """`text`, or a digest of it when long: the test keeps no large copies of what it saw."""
    return text if len(text) < 1024 else hashlib.sha256(text.encode()).hexdigest()


class Grants:
    """The capabilities every attacked runtime holds, recording what the guest made of them."""

    def __init__(self) -> None:
        self.resolved: set[str] = set()
        self.loaded: list[str] = []

    def resolver(self, specifier: str, referrer: str) -> None:
        self.resolved.add(fingerprint(specifier))  # None: the loader takes the specifier as its URL

    def loader(self, url: str) -> Any:
        self.loaded.append(fingerprint(url))
        if url.startswith("slow:"):
            return asyncio.sleep(60)
        return '{"loaded": "data"}'

    def install(self, runtime: jscell.Runtime) -> None:
        runtime.register_op("echo", lambda *args: list(args))
        runtime.register_op("wait", self.wait, mode="async")
        runtime.register_op("big", self.big, mode="async")
        runtime.set_module_resolver(self.resolver)
        runtime.set_module_loader(self.loader)
        runtime.add_static_module("util", "export default 1")

    async def wait(self, *args: Any) -> None:
        await asyncio.sleep(60)

    async def big(self, *args: Any) -> str:
        return BIG_RESULT


@pytest.fixture(scope="module")
def bystanders() -> Iterator[list[jscell.Runtime]]:
    """A runtime of each backend that lives through every attack."""
    runtimes = [jscell.Runtime(jscell.RuntimeConfig(backend=backend)) for backend in jscell.BACKENDS]
    yield runtimes
    for runtime in runtimes:
        runtime.close()


class Watchdog:
    """Terminates a runtime whose call outlives `seconds`, so a parent that fails to end a
    call fails this test instead of hanging the suite."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runtime: jscell.Runtime | None = None
        self.fired = False
        self.timer = threading.Timer(seconds, self.fire)

    def fire(self) -> None:
        self.fired = True
        if self.runtime is not None:
            self.runtime.terminate()

    def __enter__(self) -> Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.timer.cancel()


async def read_stream(runtime: jscell.Runtime, attack: Attack) -> list[Any]:
    stream = await runtime.eval_async(attack.source, timeout=attack.timeout)
    return [chunk async for chunk in stream]


def set_off(
    name: str, attack: Attack, grants: Grants, watchdog: Watchdog, runtimes: list[jscell.Runtime], triggered: list[float]
) -> Any:
    """Start the attacked runtime and make the call the attack is about; its result or error.
    `triggered` gets the moment the attack's deadline starts to run, when that is not the start."""
    config = jscell.RuntimeConfig(
        backend="hardened", guest_path=EVIL_GUEST, bootstrap=name, max_serialization_bytes=LIMIT, **attack.config
    )
    try:
        runtime = jscell.Runtime(config)
    except jscell.RuntimeTerminated as error:
        if attack.trigger != "start":
            raise
        return error
    runtimes.append(runtime)
    watchdog.runtime = runtime
    grants.install(runtime)
    if attack.terminate_after is not None:
        threading.Timer(attack.terminate_after, runtime.terminate).start()
    try:
        if attack.trigger in ("eval", "start"):
            return runtime.eval(attack.source, timeout=attack.timeout)
        if attack.trigger == "eval_async":
            return asyncio.run(runtime.eval_async(attack.source, timeout=attack.timeout))
        if attack.trigger == "stream":
            return asyncio.run(read_stream(runtime, attack))
        if attack.trigger == "bind":
            return runtime.bind_function("f", print)
        if attack.trigger == "stats":
            return runtime.get_stats()
        if attack.trigger == "call":
            function = runtime.eval(attack.source, timeout=attack.timeout)
            return function(lambda: 1, timeout=attack.timeout)
        assert attack.trigger == "drop"
        functions = runtime.eval(attack.source, timeout=attack.timeout)
        assert len(functions) == NODES - 1
        # The stall deadline runs from the releases, not from making half a million handles.
        triggered.append(time.monotonic())
        del functions
        gc.collect()
        # The releases back up in a guest that stopped reading, until the stall deadline.
        started = time.monotonic()
        while time.monotonic() - started < bounds.STALL_DEADLINE + SLACK:
            runtime.eval("1", timeout=attack.timeout)
            time.sleep(0.05)
        return None
    except Exception as error:
        return error


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_parent_survives_an_evil_guest(name, bystanders):
    attack = ATTACKS[name]
    grants = Grants()
    runtimes: list[jscell.Runtime] = []
    allowed = deadline(attack) + SLACK
    triggered: list[float] = []
    with Watchdog(allowed + 5) as watchdog:
        started = time.monotonic()
        outcome, growth = peak_rss_growth(lambda: set_off(name, attack, grants, watchdog, runtimes, triggered))
        elapsed = time.monotonic() - (triggered[0] if triggered else started)
    assert not watchdog.fired, f"the call outlived its deadline of {deadline(attack)} s; the test had to terminate it"
    assert elapsed < allowed, f"settled after {elapsed:.2f} s, deadline {deadline(attack)} s"
    if attack.reason is not None:
        assert isinstance(outcome, jscell.RuntimeTerminated), repr(outcome)
        assert outcome.reason == attack.reason, outcome
    else:
        assert attack.check is not None
        attack.check(outcome)
    del outcome
    assert growth < RSS_BOUND, f"the parent's peak memory grew by {growth >> 20} MiB"
    for runtime in runtimes:
        runtime.close()
    assert not evil_guests(), "an attacked guest outlived its runtime"
    assert set(grants.loaded) <= grants.resolved, "the loader was asked for a URL nothing resolved"
    assert [runtime.eval("6 * 7") for runtime in bystanders] == [42] * len(bystanders)
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as fresh:
        assert fresh.eval("'fresh'") == "fresh"


def test_every_bound_is_declared_and_documented():
    """The README restates every bound the parent holds a guest to, with its value."""
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, value, _why in bounds.TABLE:
        assert re.search(rf"`{name}`[^\n]*\| {re.escape(value)} \|", readme), f"README lacks {name} = {value}"
    assert f"{len(ATTACKS)} attacks" in readme
