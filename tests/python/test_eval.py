"""Evaluating JavaScript: ``Runtime.eval`` / ``Runtime.eval_async``, promises, timers, timeouts."""

from __future__ import annotations

import asyncio
import datetime
import math
import time

import pytest

import jscell

# --- eval and eval_async ------------------------------------------------------------------------


def test_eval_returns_the_value_of_the_last_expression(runtime):
    assert runtime.eval("1 + 2") == 3


def test_eval_returns_the_completion_value_of_a_statement_list(runtime):
    assert runtime.eval("let total = 0; for (let i = 1; i <= 4; i++) { total += i } total") == 10


def test_eval_of_an_empty_script_returns_undefined(runtime):
    assert runtime.eval("") is jscell.undefined


async def test_eval_async_returns_the_value_of_the_last_expression(runtime):
    assert await runtime.eval_async("'abc'.toUpperCase()") == "ABC"


async def test_eval_async_does_not_block_the_event_loop(runtime):
    import asyncio

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.ensure_future(ticker())
    try:
        result = await runtime.eval_async("new Promise(resolve => setTimeout(() => resolve('done'), 150))")
    finally:
        task.cancel()
    assert result == "done"
    assert ticks > 1


# --- global state -------------------------------------------------------------------------------


def test_var_declarations_persist_between_evals(runtime):
    runtime.eval("var counter = 41")
    assert runtime.eval("counter + 1") == 42


def test_let_and_const_declarations_persist_between_evals(runtime):
    runtime.eval("let greeting = 'hi'; const target = 'there'")
    assert runtime.eval("`${greeting} ${target}`") == "hi there"


def test_function_declarations_persist_between_evals(runtime):
    runtime.eval("function square(x) { return x * x }")
    assert runtime.eval("square(7)") == 49


def test_mutations_of_global_state_are_seen_by_later_evals(runtime):
    runtime.eval("globalThis.items = []")
    runtime.eval("items.push('a')")
    runtime.eval("items.push('b')")
    assert runtime.eval("items") == ["a", "b"]


async def test_eval_and_eval_async_share_the_same_globals(runtime):
    runtime.eval("var shared = 1")
    assert await runtime.eval_async("shared += 1") == 2
    assert runtime.eval("shared") == 2


def test_separate_runtimes_do_not_share_globals(make_runtime):
    first, second = make_runtime(), make_runtime()
    first.eval("var onlyInFirst = 1")
    assert second.eval("typeof onlyInFirst") == "undefined"


# --- promises -----------------------------------------------------------------------------------


def test_eval_awaits_a_returned_promise(runtime):
    assert runtime.eval("Promise.resolve(5)") == 5


def test_eval_awaits_a_promise_settled_by_a_timer(runtime):
    assert runtime.eval("new Promise(resolve => setTimeout(() => resolve('late'), 10))") == "late"


def test_eval_awaits_an_async_function(runtime):
    assert runtime.eval("(async () => { await null; return 7 })()") == 7


async def test_eval_async_awaits_a_returned_promise(runtime):
    assert await runtime.eval_async("Promise.resolve([1, 2])") == [1, 2]


async def test_eval_async_awaits_a_promise_settled_by_a_timer(runtime):
    assert await runtime.eval_async("new Promise(resolve => setTimeout(() => resolve('late'), 10))") == "late"


async def test_eval_async_awaits_a_chain_of_promises(runtime):
    code = "Promise.resolve(1).then(x => x + 1).then(x => new Promise(r => setTimeout(() => r(x * 10), 5)))"
    assert await runtime.eval_async(code) == 20


async def test_a_promise_that_can_never_settle_ends_eval_async_with_an_error_instead_of_hanging(runtime):
    # Nothing can ever settle this promise; with a timeout the call must end either way.
    with pytest.raises(RuntimeError):
        await runtime.eval_async("new Promise(() => {})", timeout=0.3)


# --- timers and microtasks ----------------------------------------------------------------------


def test_set_timeout_callbacks_run_in_order_of_their_delay(runtime):
    code = """
    new Promise(resolve => {
        const log = [];
        setTimeout(() => log.push('slow'), 40);
        setTimeout(() => log.push('fast'), 5);
        setTimeout(() => log.push('instant'), 0);
        setTimeout(() => resolve(log), 80);
    })
    """
    assert runtime.eval(code) == ["instant", "fast", "slow"]


def test_set_timeout_with_equal_delays_runs_in_scheduling_order(runtime):
    code = """
    new Promise(resolve => {
        const log = [];
        for (const name of ['a', 'b', 'c', 'd']) setTimeout(() => log.push(name), 0);
        setTimeout(() => resolve(log), 20);
    })
    """
    assert runtime.eval(code) == ["a", "b", "c", "d"]


def test_set_timeout_waits_at_least_its_delay(runtime):
    started = time.monotonic()
    runtime.eval("new Promise(resolve => setTimeout(resolve, 100))")
    assert time.monotonic() - started >= 0.09


def test_clear_timeout_cancels_a_pending_timeout(runtime):
    code = """
    new Promise(resolve => {
        let fired = false;
        const id = setTimeout(() => { fired = true }, 5);
        clearTimeout(id);
        setTimeout(() => resolve(fired), 40);
    })
    """
    assert runtime.eval(code) is False


def test_set_interval_repeats_until_cleared(runtime):
    code = """
    new Promise(resolve => {
        let ticks = 0;
        const id = setInterval(() => {
            ticks += 1;
            if (ticks === 3) {
                clearInterval(id);
                setTimeout(() => resolve(ticks), 40);
            }
        }, 1);
    })
    """
    assert runtime.eval(code) == 3


def test_clear_interval_before_the_first_tick_stops_it(runtime):
    code = """
    new Promise(resolve => {
        let ticks = 0;
        const id = setInterval(() => { ticks += 1 }, 5);
        clearInterval(id);
        setTimeout(() => resolve(ticks), 40);
    })
    """
    assert runtime.eval(code) == 0


def test_timer_ids_are_distinct(runtime):
    assert runtime.eval("const ids = [setTimeout(() => {}, 0), setTimeout(() => {}, 0)]; ids[0] !== ids[1]") is True


def test_microtasks_run_before_timers_and_in_queue_order(runtime):
    code = """
    const log = [];
    setTimeout(() => log.push('timeout'), 0);
    Promise.resolve().then(() => log.push('promise'));
    queueMicrotask(() => log.push('microtask'));
    log.push('sync');
    new Promise(resolve => setTimeout(() => resolve(log), 20))
    """
    assert runtime.eval(code) == ["sync", "promise", "microtask", "timeout"]


async def test_timers_run_under_eval_async(runtime):
    code = """
    new Promise(resolve => {
        const log = [];
        queueMicrotask(() => log.push('micro'));
        setTimeout(() => log.push('timer'), 1);
        const id = setInterval(() => { log.push('tick'); clearInterval(id); }, 2);
        setTimeout(() => resolve(log), 40);
    })
    """
    assert await runtime.eval_async(code) == ["micro", "timer", "tick"]


def test_timers_left_pending_by_one_eval_fire_during_a_later_eval(runtime):
    runtime.eval("globalThis.fired = false; setTimeout(() => { fired = true }, 1)")
    assert runtime.eval("new Promise(resolve => setTimeout(() => resolve(fired), 30))") is True


# --- timeouts -----------------------------------------------------------------------------------


def test_execution_timeout_is_a_runtime_error_and_a_timeout_error():
    assert issubclass(jscell.ExecutionTimeout, RuntimeError)
    assert issubclass(jscell.ExecutionTimeout, TimeoutError)


def test_eval_timeout_stops_an_infinite_loop(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("while (true) {}", timeout=0.2)


def test_eval_timeout_can_be_caught_as_timeout_error(runtime):
    with pytest.raises(TimeoutError):
        runtime.eval("while (true) {}", timeout=0.2)


def test_runtime_keeps_working_after_an_eval_timeout(runtime):
    runtime.eval("var kept = 'still here'")
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("while (true) {}", timeout=0.2)
    assert runtime.eval("1 + 1") == 2
    assert runtime.eval("kept") == "still here"


def test_eval_timeout_covers_waiting_for_a_promise(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("new Promise(resolve => setTimeout(resolve, 10000))", timeout=0.2)


async def test_eval_async_timeout_stops_an_infinite_loop(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        await runtime.eval_async("while (true) {}", timeout=0.2)
    assert await runtime.eval_async("2 + 2") == 4


async def test_eval_async_timeout_covers_waiting_for_a_promise(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        await runtime.eval_async("new Promise(resolve => setTimeout(resolve, 10000))", timeout=0.2)
    assert await runtime.eval_async("'ok'") == "ok"


def test_timeout_stops_an_infinite_loop_inside_a_microtask(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("Promise.resolve().then(() => { while (true) {} })", timeout=0.2)
    assert runtime.eval("3") == 3


def test_timeout_stops_an_infinite_loop_inside_a_timer_callback(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("new Promise(resolve => setTimeout(() => { while (true) {} }, 0))", timeout=0.2)
    assert runtime.eval("4") == 4


def test_timeout_as_timedelta(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("while (true) {}", timeout=datetime.timedelta(milliseconds=200))
    assert runtime.eval("5") == 5


async def test_eval_async_timeout_as_timedelta(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        await runtime.eval_async("while (true) {}", timeout=datetime.timedelta(milliseconds=200))


def test_integer_timeout_in_seconds_is_accepted(runtime):
    assert runtime.eval("6", timeout=1) == 6


def test_a_generous_timeout_does_not_interrupt_quick_code(runtime):
    assert runtime.eval("new Promise(resolve => setTimeout(() => resolve('in time'), 20))", timeout=5) == "in time"


def test_config_timeout_applies_to_every_eval(make_runtime):
    rt = make_runtime(timeout=0.2)
    with pytest.raises(jscell.ExecutionTimeout):
        rt.eval("while (true) {}")
    assert rt.eval("7") == 7


async def test_config_timeout_applies_to_eval_async(make_runtime):
    rt = make_runtime(timeout=0.2)
    with pytest.raises(jscell.ExecutionTimeout):
        await rt.eval_async("while (true) {}")
    assert await rt.eval_async("8") == 8


def test_config_timeout_as_timedelta(make_runtime):
    rt = make_runtime(timeout=datetime.timedelta(milliseconds=200))
    with pytest.raises(jscell.ExecutionTimeout):
        rt.eval("while (true) {}")


def test_per_call_timeout_overrides_config_timeout(make_runtime):
    rt = make_runtime(timeout=0.1)
    assert rt.eval("new Promise(resolve => setTimeout(() => resolve('slow but allowed'), 300))", timeout=5) == (
        "slow but allowed"
    )


def test_config_timeout_does_not_disturb_quick_code(make_runtime):
    rt = make_runtime(timeout=5)
    assert [rt.eval(f"{i} * 2") for i in range(5)] == [0, 2, 4, 6, 8]


def test_timeout_does_not_carry_over_to_the_next_call(runtime):
    with pytest.raises(jscell.ExecutionTimeout):
        runtime.eval("while (true) {}", timeout=0.2)
    # No timeout on this call: it must run to completion even though it takes longer than 0.2 s.
    assert runtime.eval("new Promise(resolve => setTimeout(() => resolve('done'), 300))") == "done"


# --- invalid arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [123, b"1 + 1", None, ["1"]], ids=["int", "bytes", "None", "list"])
def test_eval_rejects_code_that_is_not_a_str(runtime, code):
    with pytest.raises(TypeError):
        runtime.eval(code)


@pytest.mark.parametrize("code", [123, b"1 + 1", None], ids=["int", "bytes", "None"])
async def test_eval_async_rejects_code_that_is_not_a_str(runtime, code):
    with pytest.raises(TypeError):
        await runtime.eval_async(code)


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        ("1", TypeError),
        (b"1", TypeError),
        ([1], TypeError),
        (True, TypeError),
        (0, ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (datetime.timedelta(0), ValueError),
        (datetime.timedelta(seconds=-1), ValueError),
    ],
    ids=repr,
)
def test_eval_rejects_an_invalid_timeout(runtime, timeout, error):
    with pytest.raises(error):
        runtime.eval("1", timeout=timeout)
    assert runtime.eval("1") == 1


@pytest.mark.parametrize(("timeout", "error"), [("1", TypeError), (0, ValueError), (-1, ValueError)], ids=repr)
async def test_eval_async_rejects_an_invalid_timeout(runtime, timeout, error):
    with pytest.raises(error):
        await runtime.eval_async("1", timeout=timeout)


def test_eval_timeout_is_keyword_only(runtime):
    with pytest.raises(TypeError):
        runtime.eval("1", 5)


async def cancel_and_check_usable(runtime, awaitable):
    """Cancel `awaitable` while its JS runs; then the runtime answers at once."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(runtime.eval_async("6 * 7"), 5) == 42
    assert runtime.eval("ticks > 0")


async def test_cancelling_an_awaited_eval_stops_its_javascript(runtime):
    runtime.eval("globalThis.ticks = 0")
    await cancel_and_check_usable(runtime, runtime.eval_async("for (;;) { ticks++ }"))


async def test_cancelling_an_awaited_call_stops_its_javascript(runtime):
    spin = runtime.eval("globalThis.ticks = 0; () => { for (;;) { ticks++ } }")
    await cancel_and_check_usable(runtime, spin.call_async())


async def test_cancelling_an_awaited_module_stops_its_javascript(runtime):
    runtime.eval("globalThis.ticks = 0")
    runtime.add_static_module("spin", "await null; for (;;) { ticks++ }")
    await cancel_and_check_usable(runtime, runtime.eval_module_async("spin"))


async def test_a_wait_for_timeout_stops_waiting_for_a_promise_and_the_runtime_works_on(runtime):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(runtime.eval_async("new Promise(() => {})"), 0.2)
    runtime.eval("globalThis.ticks = 0")
    await cancel_and_check_usable(runtime, runtime.eval_async("for (;;) { ticks++ }"))
    assert runtime.eval("[1, 2].length") == 2


def test_the_same_script_evaluated_again_runs_again(runtime):
    # Engines cache compiled scripts; a cached script must still run each time, in the state
    # the runtime is in now.
    source = "globalThis.runs = (globalThis.runs ?? 0) + 1"
    assert [runtime.eval(source) for _ in range(3)] == [1, 2, 3]
    runtime.eval("let declared = 1")
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("let declared = 1")
    assert caught.value.name == "SyntaxError"
