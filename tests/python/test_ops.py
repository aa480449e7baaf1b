"""Host operations and bindings: the only ways JavaScript reaches Python."""

from __future__ import annotations

import asyncio

import pytest

import jscell


def test_register_op_returns_distinct_int_ids(runtime):
    first = runtime.register_op("first", lambda: 1)
    second = runtime.register_op("second", lambda: 2, mode="async")
    assert isinstance(first, int) and isinstance(second, int) and first != second


def test_a_sync_op_is_called_with_its_arguments(runtime):
    op = runtime.register_op("add", lambda a, b: a + b)
    assert runtime.eval(f"__host_op_sync__({op}, 20, 22)") == 42


async def test_an_async_op_returns_a_promise_awaited_on_the_callers_loop(runtime):
    loop = asyncio.get_running_loop()
    seen = []

    async def fetch(key):
        seen.append(asyncio.get_running_loop() is loop)
        await asyncio.sleep(0.01)
        return {"key": key}

    op = runtime.register_op("fetch", fetch, mode="async")
    assert await runtime.eval_async(f"__host_op_async__({op}, 'k').then(v => v.key)") == "k"
    assert seen == [True]


async def test_async_ops_run_concurrently(runtime):
    order = []

    async def slow(name, delay):
        await asyncio.sleep(delay)
        order.append(name)
        return name

    op = runtime.register_op("slow", slow, mode="async")
    result = await runtime.eval_async(
        f"Promise.all([__host_op_async__({op}, 'a', 0.05), __host_op_async__({op}, 'b', 0.01)])"
    )
    assert result == ["a", "b"]
    assert order == ["b", "a"]


async def test_several_eval_async_calls_with_async_ops_can_be_gathered(runtime):
    async def double(x):
        await asyncio.sleep(0.01)
        return x * 2

    op = runtime.register_op("double", double, mode="async")
    results = await asyncio.gather(*(runtime.eval_async(f"__host_op_async__({op}, {i})") for i in range(10)))
    assert results == [i * 2 for i in range(10)]


def test_an_async_op_under_a_sync_eval_fails_naming_the_event_loop(runtime):
    async def slow():
        return 1

    op = runtime.register_op("slow", slow, mode="async")
    with pytest.raises(jscell.JavaScriptError, match="event loop"):
        runtime.eval(f"__host_op_async__({op})")


def test_calling_an_op_with_the_wrong_mode_is_a_type_error(runtime):
    op = runtime.register_op("sync_only", lambda: 1)
    assert runtime.eval(f"__host_op_async__({op}).catch(e => e.name + ': ' + e.message)") == (
        f"TypeError: op 'sync_only' (id {op}) is synchronous: call it with __host_op_sync__"
    )


def test_an_unknown_op_id_is_a_catchable_type_error(runtime):
    assert runtime.eval("try { __host_op_sync__(987654) } catch (e) { e.name }") == "TypeError"
    assert runtime.eval("try { __host_op_sync__('nope') } catch (e) { e.name }") == "TypeError"


def test_register_op_validates_its_arguments(runtime):
    runtime.register_op("taken", lambda: 1)
    with pytest.raises(RuntimeError, match="taken"):
        runtime.register_op("taken", lambda: 2)
    with pytest.raises(ValueError, match="mode"):
        runtime.register_op("other", lambda: 1, mode="sometimes")
    with pytest.raises(TypeError, match="callable"):
        runtime.register_op("other", 42)
    with pytest.raises(TypeError, match="name"):
        runtime.register_op(3, lambda: 1)


def test_bind_function_installs_a_global(runtime):
    runtime.bind_function("greet", lambda name: f"hello {name}")
    assert runtime.eval("greet('js')") == "hello js"
    assert runtime.eval("typeof globalThis.greet") == "function"


async def test_an_async_bound_function_returns_a_promise(runtime):
    async def later(x):
        await asyncio.sleep(0.01)
        return x + 1

    runtime.bind_function("later", later)
    assert runtime.eval("later(1) instanceof Promise") is True
    assert await runtime.eval_async("later(41)") == 42


def test_bind_object_installs_values_and_callables(runtime):
    runtime.bind_object("api", {"version": 3, "tags": ["a"], "double": lambda x: x * 2})
    assert runtime.eval("[api.version, api.tags[0], api.double(21)]") == [3, "a", 42]


def test_bind_object_requires_a_mapping_with_str_keys(runtime):
    with pytest.raises(TypeError, match="mapping"):
        runtime.bind_object("api", [1, 2])
    with pytest.raises(TypeError, match="keys"):
        runtime.bind_object("api", {1: "x"})


def test_callables_passed_as_arguments_become_js_functions(runtime):
    apply = runtime.eval("(f, x) => f(x) + 1")
    assert apply(lambda x: x * 10, 4) == 41


def test_a_handler_returning_an_awaitable_from_a_sync_binding_is_a_clear_error(runtime):
    async def coroutine():
        return 1

    def sync_returning_coroutine():
        return coroutine()

    runtime.bind_function("wrong", sync_returning_coroutine)
    with pytest.raises(jscell.JavaScriptError, match="awaitable"):
        runtime.eval("wrong()")


def test_a_sync_handler_that_calls_back_into_its_runtime_gets_a_clear_error(runtime):
    def reenter():
        return runtime.eval("1")

    runtime.bind_function("reenter", reenter)
    with pytest.raises(jscell.JavaScriptError, match="re-entrant"):
        runtime.eval("reenter()", timeout=10)
    assert runtime.eval("'still fine'") == "still fine"


async def test_an_async_handler_may_call_back_into_its_runtime(runtime):
    async def reenter(x):
        return await runtime.eval_async(f"{x} * 2")

    runtime.bind_function("reenter", reenter)
    assert await runtime.eval_async("reenter(21)", timeout=10) == 42


def test_terminate_during_a_host_call_stops_the_runtime(runtime):
    def stop():
        runtime.terminate()
        return 1

    runtime.bind_function("stop", stop)
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.eval("stop(); while (true) {}", timeout=10)


def panic_exception() -> type[BaseException]:
    """pyo3's PanicException: raised into Rust, it becomes a Rust panic there."""
    return next(
        kind for kind in BaseException.__subclasses__() if kind.__module__ == "pyo3_runtime" and kind.__name__ == "PanicException"
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_handler_that_panics_costs_one_js_error_and_every_later_call_works(runtime, mode):
    panic = panic_exception()

    def explode(*args):
        raise panic("boom")

    async def explode_later(*args):
        raise panic("boom")

    op = runtime.register_op("explode", explode if mode == "sync" else explode_later, mode=mode)
    call = f"__host_op_{mode}__({op})"
    message = await runtime.eval_async(f"(async () => {{ try {{ await {call} }} catch (e) {{ return e.message }} }})()")
    assert "panic" in message.lower()
    for _ in range(3):
        assert await runtime.eval_async(f"(async () => {{ try {{ await {call} }} catch (e) {{ return 'again' }} }})()") == "again"
    runtime.bind_function("fine", lambda x: x * 2)
    assert runtime.eval("fine(21)") == 42
    assert runtime.get_stats().host_call_sync_count >= 1


def resident_bytes() -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) * 1024


def test_callables_passed_into_js_are_released_once_js_drops_them(runtime):
    call = runtime.eval("g => g()")
    for _ in range(50_000):  # past the growth of both heaps to their working size
        call(lambda: 1)
    before = resident_bytes()
    most_grants = 0
    for i in range(100_000):
        assert call(lambda i=i: i) == i
        if i % 5_000 == 0:
            most_grants = max(most_grants, runtime.get_stats().live_grants)
    # V8 collects the wrappers in its own time: the count rises and falls with its cycles
    # (here between a few thousand and about 40,000), and never with the number of calls.
    assert most_grants < 60_000
    # Each call held on to about 1.5 kB before grants were released: 150 MB for these calls.
    assert resident_bytes() - before < 24 << 20


def test_a_callable_js_still_holds_keeps_working_while_others_are_released(runtime):
    runtime.eval("globalThis.kept = []")
    keep = runtime.eval("g => { kept.push(g) }")
    keep(lambda: "still here")
    call = runtime.eval("g => g()")
    for _ in range(50_000):
        call(lambda: 1)
    assert runtime.eval("kept[0]()") == "still here"
    op = runtime.register_op("op", lambda: "op")
    for _ in range(50_000):
        call(lambda: 1)
    assert runtime.eval(f"__host_op_sync__({op})") == "op"


def test_closing_a_runtime_releases_every_callable_it_was_given(make_runtime):
    import gc
    import weakref

    class Handler:
        def __call__(self) -> int:
            return 1

    runtime = make_runtime()
    handler = Handler()
    alive = weakref.ref(handler)
    runtime.bind_function("handler", handler)
    runtime.register_op("op", Handler())
    assert runtime.eval("handler()") == 1
    del handler
    runtime.close()
    gc.collect()
    assert alive() is None
