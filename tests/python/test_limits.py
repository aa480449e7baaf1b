"""Limits hold on every backend, and hostile input ends in the documented exception while the next
call (on a new runtime where the old one is gone) works."""

from __future__ import annotations

import asyncio

import pytest

import jscell
from jscell import bounds

HEAP_BOMBS = [
    "const hog = []; while (true) hog.push(new Array(1e5).fill(1.5))",
    "const hog = []; while (true) hog.push({n: Math.random(), s: 'x' + Math.random()})",
    "let s = 'x'; const keep = []; while (true) { s += s.length; keep.push(s.slice(-64) + '!') }",
]


def test_a_cyclic_python_list_is_a_serialization_error(echo):
    cyclic = [1]
    cyclic.append(cyclic)
    with pytest.raises(jscell.SerializationError, match="cycle"):
        echo(cyclic)


def test_a_cyclic_python_dict_is_a_serialization_error(echo):
    cyclic = {}
    cyclic["self"] = cyclic
    with pytest.raises(jscell.SerializationError, match="cycle"):
        echo(cyclic)


def test_a_cyclic_js_object_is_a_serialization_error(runtime):
    with pytest.raises(jscell.SerializationError, match="cycle"):
        runtime.eval("const o = {}; o.self = o; o")


def test_a_cyclic_js_object_holding_a_function_is_a_serialization_error(runtime):
    with pytest.raises(jscell.SerializationError, match="cycle"):
        runtime.eval("const p = {f: () => 1}; p.me = [p]; p")


def test_shared_objects_that_are_not_cycles_are_copied(runtime):
    assert runtime.eval("const s = {v: 1}; [s, s, {s}]") == [{"v": 1}, {"v": 1}, {"s": {"v": 1}}]


def test_python_values_deeper_than_the_limit_are_refused(make_runtime):
    echo = make_runtime(max_serialization_depth=10).eval("x => x")
    deep = []
    for _ in range(20):
        deep = [deep]
    with pytest.raises(jscell.SerializationError, match="max_serialization_depth"):
        echo(deep)


def test_js_values_deeper_than_the_limit_are_refused(make_runtime):
    runtime = make_runtime(max_serialization_depth=10)
    with pytest.raises(jscell.SerializationError, match=r"max_serialization_depth \(10\)"):
        runtime.eval("let d = []; for (let i = 0; i < 20; i++) d = [d]; d")


def test_a_million_deep_js_object_is_a_serialization_error_and_the_runtime_works_on(runtime):
    with pytest.raises(jscell.SerializationError, match="max_serialization_depth"):
        runtime.eval("let d = {}; for (let i = 0; i < 1e6; i++) d = {d}; d")
    assert runtime.eval("'fine'") == "fine"


def test_values_up_to_the_depth_limit_cross_whole(make_runtime):
    runtime = make_runtime(max_serialization_depth=50)
    value = runtime.eval("let d = 0; for (let i = 0; i < 49; i++) d = [d]; d")
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (depth, value) == (49, 0)


def test_values_larger_than_the_byte_limit_are_refused_both_ways(make_runtime):
    runtime = make_runtime(max_serialization_bytes=10_000)
    with pytest.raises(jscell.SerializationError, match=r"max_serialization_bytes \(10000 bytes\)"):
        runtime.eval("'x'.repeat(20000)")
    with pytest.raises(jscell.SerializationError, match="max_serialization_bytes"):
        runtime.eval("x => x")("y" * 20_000)
    assert runtime.eval("'x'.repeat(100)") == "x" * 100


def test_a_script_larger_than_the_value_limit_still_runs(make_runtime):
    """The byte limit is for values; a large script is no value (and on hardened it is too large
    for the shared-memory lane, so it must take the socket)."""
    runtime = make_runtime(max_serialization_bytes=10_000)
    assert runtime.eval("'" + "a" * 3_000_000 + "'.length") == 3_000_000
    assert runtime.eval("'after'") == "after"


def test_large_values_cross_again_and_again_whole(runtime):
    for size in (5 << 20, 1 << 10, 20 << 20, 7):
        assert runtime.eval(f"'ab'.repeat({size})") == "ab" * size
        assert runtime.eval("s => s.length")("é" * size) == size


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("Symbol('s')", "Symbol"),
        ("({w: new WeakMap()})", "WeakMap"),
        ("({p: Promise.resolve(1)})", "Promise"),
        ("new Proxy({}, {})", "Proxy"),
        ("new Date(NaN)", "invalid Date"),
    ],
)
def test_unconvertible_js_values_name_what_they_are(runtime, source, what):
    with pytest.raises(jscell.SerializationError, match=what):
        runtime.eval(source)


def test_unconvertible_python_values_name_their_type(echo):
    with pytest.raises(jscell.SerializationError, match="complex"):
        echo(1 + 2j)


def test_an_infinite_loop_is_stopped_by_its_timeout(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("while (true) {}", timeout=0.2)
    assert runtime.eval("1 + 1") == 2


@pytest.mark.parametrize("bomb", HEAP_BOMBS)
def test_a_heap_bomb_terminates_its_runtime_not_the_process(make_runtime, bomb):
    runtime = make_runtime(max_heap_size=64 << 20)
    with pytest.raises(jscell.RuntimeTerminated, match="heap limit") as caught:
        runtime.eval(bomb, timeout=60)
    assert caught.value.reason == "heap_limit"
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.eval("1")
    assert make_runtime().eval("40 + 2") == 42


def test_stack_overflow_is_a_range_error_and_the_runtime_works_on(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("function r() { return r() + 1 } r()")
    assert caught.value.name == "RangeError"
    assert runtime.eval("2 * 21") == 42


def test_throwing_a_number_is_a_javascript_error(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("throw 42")
    assert (caught.value.name, caught.value.message) == ("Uncaught", "42")


def test_thousands_of_pending_promises_and_timers_settle(runtime):
    source = """
        (async () => {
            const waits = [];
            for (let i = 0; i < 5000; i++) waits.push(new Promise(r => setTimeout(() => r(i), i % 7)));
            return (await Promise.all(waits)).reduce((a, b) => a + b, 0);
        })()
    """
    assert runtime.eval(source) == sum(range(5000))


def test_a_huge_array_is_returned_whole(runtime):
    assert runtime.eval("Array.from({length: 200000}, (_, i) => i)") == list(range(200000))


def test_prototype_pollution_through_a_bound_object_stays_in_js(runtime):
    config = {"limit": 3}
    runtime.bind_object("config", config)
    runtime.eval("config.__proto__.polluted = true; Object.prototype.evil = 1")
    assert config == {"limit": 3}
    assert not hasattr(config, "polluted")
    assert runtime.eval("({}).evil") == 1


async def test_async_host_calls_beyond_the_window_are_refused_with_a_range_error(runtime):
    """However many async host calls JS starts, at most bounds.MAX_ASYNC_CALLS wait at once:
    the engine refuses the next one (on hardened, the parent would otherwise end the guest)."""
    release = asyncio.Event()

    async def wait():
        await release.wait()
        return 1

    runtime.bind_function("wait", wait)
    started = runtime.eval_async(
        f"""
        globalThis.waits = Array.from({{length: {bounds.MAX_ASYNC_CALLS}}}, () => wait());
        wait().then(() => 'admitted', e => `${{e.name}}: ${{e.message}}`)
        """
    )
    refused = await asyncio.wait_for(started, 60)
    assert refused.startswith("RangeError: async host call refused: more than 10000 async host calls")
    release.set()
    assert await runtime.eval_async("Promise.all(waits).then(all => all.length)", timeout=60) == bounds.MAX_ASYNC_CALLS
    assert await runtime.eval_async("wait()", timeout=10) == 1


async def test_the_arguments_of_waiting_async_host_calls_are_bounded_together(make_runtime):
    runtime = make_runtime(max_serialization_bytes=1 << 20)
    release = asyncio.Event()

    async def wait(text):
        await release.wait()
        return len(text)

    runtime.bind_function("wait", wait)
    source = """
        const text = 'x'.repeat(400 << 10);
        globalThis.first = [wait(text), wait(text)];
        wait(text).then(() => 'admitted', e => `${e.name}: ${e.message}`)
    """
    refused = await asyncio.wait_for(runtime.eval_async(source), 30)
    assert refused.startswith("RangeError: async host call refused: async host calls whose values together exceed")
    release.set()
    assert await runtime.eval_async("Promise.all(first)", timeout=10) == [400 << 10] * 2


def test_an_array_whose_named_property_shares_one_object_everywhere_converts_at_once(runtime):
    """Named properties of arrays are not part of the value, and a DAG in one that would expand
    to 2^40 nodes is not expanded either."""
    source = "const a = [1, 2]; let d = {}; for (let i = 0; i < 40; i++) d = {l: d, r: d}; a.extra = d; a"
    assert runtime.eval(source, timeout=5) == [1, 2]


def test_errors_carry_at_most_the_documented_number_of_stack_frames(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("Error.stackTraceLimit = 1000; function down(n) { if (n === 0) throw new Error('deep'); down(n - 1) } down(200)")
    assert len(caught.value.frames) == bounds.MAX_STACK_FRAMES
