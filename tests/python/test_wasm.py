"""The wasm backend's own promises: hostile JavaScript costs the caller one clear exception and
never the host process, a runtime that hits a limit is discarded whole, and each instance is its
own (seeded apart, sharing nothing). Every other test in the suite runs on wasm too; these probe
what only a guest in linear memory, stopped by an interrupt check and an epoch backstop, can get
wrong."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import jscell

MiB = 1 << 20


@pytest.fixture
def make_wasm():
    """Wasm runtimes with config overrides, closed at the end."""
    runtimes = []

    def make(**config):
        runtime = jscell.Runtime(jscell.RuntimeConfig(backend="wasm", **config))
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


def test_a_memory_bomb_ends_its_runtime_and_no_other(make_wasm):
    bystander = make_wasm()
    bomb = make_wasm(max_heap_size=32 * MiB)
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        bomb.eval("const hoard = []; while (true) hoard.push(new Array(4096).fill(hoard.length))")
    assert caught.value.reason == "heap_limit"
    with pytest.raises(jscell.RuntimeTerminated):
        bomb.eval("1")
    assert bystander.eval("[1, 2, 3].length") == 3


def test_catching_the_out_of_memory_error_does_not_save_the_runtime(make_wasm):
    runtime = make_wasm(max_heap_size=32 * MiB)
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        runtime.eval("""
            let caught = 0;
            const keep = [];
            for (;;) { try { keep.push('x'.repeat(1 << 16) + keep.length) } catch (e) { caught++ } }
        """)
    assert caught.value.reason == "heap_limit"


def test_a_string_bomb_is_refused_and_the_runtime_lives_on(make_wasm):
    runtime = make_wasm(max_heap_size=64 * MiB)
    with pytest.raises((jscell.JavaScriptError, jscell.RuntimeTerminated)):
        runtime.eval("let s = 'x'; for (;;) s += s")
    fresh = make_wasm()
    with pytest.raises(jscell.SerializationError, match="max_serialization_bytes"):
        fresh.eval("'x'.repeat(200 << 20)")
    assert fresh.eval("'still here'") == "still here"


def test_deep_recursion_is_a_catchable_range_error(make_wasm):
    runtime = make_wasm()
    assert runtime.eval("function dive(n) { return dive(n + 1) + 1 } try { dive(0) } catch (e) { e instanceof RangeError }")
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("(function dive() { return [dive()] })()")
    assert caught.value.name == "RangeError"
    assert runtime.eval("40 + 2") == 42


def test_deep_structures_stop_at_the_depth_limit_not_the_stack(make_wasm):
    runtime = make_wasm(max_serialization_depth=10_000)
    with pytest.raises(jscell.SerializationError, match="max_serialization_depth"):
        runtime.eval("let v = []; for (let i = 0; i < 200000; i++) v = [v]; v")
    with pytest.raises(jscell.SerializationError):
        runtime.eval("JSON.parse('['.repeat(50000) + ']'.repeat(50000))")
    echo = runtime.eval("x => x")
    nested: list = []
    for _ in range(9_000):
        nested = [nested]
    back, depth = echo(nested), 0
    while back:
        back, depth = back[0], depth + 1
    assert depth == 9_000


@pytest.mark.parametrize(
    "source",
    [
        "new Uint8Array(2 ** 32)",
        "new Array(2 ** 32 - 1)",
        "Array.prototype.concat.call({ length: 2 ** 53 - 1 })",
        "({ length: 2 ** 53 - 1, __proto__: Array.prototype }).map(x => x)",
        "'x'.repeat(2 ** 31)",
        "new ArrayBuffer(2 ** 33)",
    ],
)
def test_garbage_lengths_are_errors_not_crashes(make_wasm, source):
    runtime = make_wasm(max_heap_size=64 * MiB)
    try:
        runtime.eval(source, timeout=10)
    except (jscell.JavaScriptError, jscell.SerializationError, jscell.ExecutionTimeout):
        assert runtime.eval("1 + 1") == 2
    except jscell.RuntimeTerminated as terminated:
        assert terminated.reason == "heap_limit"


def test_a_value_with_a_huge_sparse_length_crosses_bounded(make_wasm):
    runtime = make_wasm(max_serialization_bytes=MiB)
    with pytest.raises(jscell.SerializationError, match="max_serialization_bytes"):
        runtime.eval("const a = []; a.length = 2 ** 32 - 1; a")


def test_a_timeout_during_an_async_host_call_leaves_the_runtime_usable(make_wasm):
    runtime = make_wasm()
    answered = threading.Event()

    async def slow():
        await asyncio.sleep(0.5)
        answered.set()
        return "late"

    runtime.bind_function("slow", slow)

    async def main():
        with pytest.raises(jscell.ExecutionTimeout):
            await runtime.eval_async("slow().then(v => { globalThis.late = v; return v })", timeout=0.1)
        await asyncio.sleep(0.6)
        return await runtime.eval_async("globalThis.late ?? 'unset'")

    # The late answer still reaches the promise that asked for it; nothing else is disturbed.
    assert asyncio.run(main()) == "late"
    assert answered.is_set()
    assert runtime.eval("'ok'") == "ok"


def test_terminate_during_a_sync_host_call_ends_the_runtime_once_it_returns(make_wasm):
    runtime = make_wasm()
    entered = threading.Event()

    def wait():
        entered.set()
        time.sleep(0.3)
        return 1

    runtime.bind_function("wait", wait)
    threading.Thread(target=lambda: (entered.wait(5), runtime.terminate())).start()
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        runtime.eval("wait(); for (;;) {}")
    assert caught.value.reason == "requested"


def test_a_guest_stuck_outside_the_interrupt_check_is_stopped_by_the_backstop(make_wasm):
    """One long C operation (building a huge string) never reaches QuickJS's interrupt check;
    the epoch backstop ends the guest shortly after its deadline, costing this runtime alone."""
    runtime = make_wasm()
    bystander = make_wasm()
    started = time.monotonic()
    try:
        runtime.eval("'ab'.repeat(2 ** 28).length", timeout=0.05)
    except jscell.ExecutionTimeout:
        assert runtime.eval("1") == 1
    except jscell.RuntimeTerminated as terminated:
        assert terminated.reason == "timeout_overdue"
    else:
        pytest.fail("a 512 MiB string in 50 ms")
    assert time.monotonic() - started < 10
    assert bystander.eval("2") == 2


def test_each_instance_has_its_own_random_sequence(make_wasm):
    draws = {tuple(make_wasm().eval("[Math.random(), Math.random(), Math.random()]")) for _ in range(4)}
    assert len(draws) == 4


def test_the_guest_sees_no_system_interfaces(make_wasm):
    runtime = make_wasm()
    names = ["require", "process", "std", "os", "fetch", "WebAssembly", "performance"]
    assert runtime.eval(f"[{', '.join(f'typeof {name}' for name in names)}]") == ["undefined"] * len(names)
    assert runtime.eval("typeof Date.now()") == "number"


def test_many_runtimes_come_and_go(make_wasm):
    for index in range(50):
        with jscell.Runtime(jscell.RuntimeConfig(backend="wasm")) as runtime:
            assert runtime.eval(f"{index} * 2") == index * 2


def run_in_fresh_process(cache_home, code="import jscell; print(jscell.Runtime(jscell.RuntimeConfig(backend='wasm')).eval('6 * 7'))"):
    import os
    import subprocess
    import sys

    environment = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_compiled_guest_is_cached_privately_and_a_bad_cache_is_replaced(tmp_path):
    assert run_in_fresh_process(tmp_path) == "42"
    cache = tmp_path / "jscell"
    (compiled,) = cache.glob("wasm-guest-*.cwasm")
    assert cache.stat().st_mode & 0o777 == 0o700
    compiled.write_bytes(b"not a module")
    assert run_in_fresh_process(tmp_path) == "42"
    assert compiled.read_bytes() != b"not a module"


def test_a_cache_others_can_write_is_not_used(tmp_path):
    cache = tmp_path / "jscell"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    assert run_in_fresh_process(tmp_path) == "42"
    assert not list(cache.glob("wasm-guest-*.cwasm"))
