"""The Runtime object: lifecycle, stats, configuration, console, threads, and the module-level
default runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import pytest

import jscell
from jscell._config import BACKENDS


def test_a_runtime_is_a_context_manager_that_closes(backend):
    with jscell.Runtime(jscell.RuntimeConfig(backend=backend)) as runtime:
        assert runtime.is_closed() is False
    assert runtime.is_closed() is True


def test_close_is_idempotent_and_later_calls_raise_runtime_terminated(runtime):
    runtime.close()
    runtime.close()
    with pytest.raises(jscell.RuntimeTerminated, match="closed"):
        runtime.eval("1")
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.bind_function("f", lambda: 1)


async def test_terminate_during_eval_async_raises_and_stays_terminated(runtime):
    pending = asyncio.ensure_future(runtime.eval_async("new Promise(() => {})"))
    await asyncio.sleep(0.05)
    runtime.terminate()
    with pytest.raises(jscell.RuntimeTerminated):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.eval("1")


def test_terminate_from_another_thread_stops_a_running_script(runtime):
    timer = threading.Timer(0.2, runtime.terminate)
    timer.start()
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.eval("for (;;) {}", timeout=10)
    timer.join()


def test_get_stats_reports_memory_and_counters(runtime):
    before = runtime.get_stats()
    runtime.eval("globalThis.big = new Array(100000).fill(1)")
    after = runtime.get_stats()
    assert isinstance(after, jscell.RuntimeStats)
    assert after.heap_used_bytes > 0 and after.heap_total_bytes >= after.heap_used_bytes
    assert after.eval_sync_count == before.eval_sync_count + 1
    assert after.last_execution_kind == "eval"
    assert after.total_execution_time >= after.last_execution_time > 0


async def test_get_stats_counts_async_work(runtime):
    await runtime.eval_async("setTimeout(() => {}, 10000); setInterval(() => {}, 10000); 1")
    stats = runtime.get_stats()
    assert (stats.eval_async_count, stats.last_execution_kind) == (1, "eval_async")
    assert (stats.active_timers, stats.active_intervals) == (1, 1)


def test_inspector_endpoints_is_none_without_an_inspector(runtime):
    assert runtime.inspector_endpoints() is None


def test_bootstrap_runs_at_start(make_runtime):
    runtime = make_runtime(bootstrap="globalThis.answer = 42")
    assert runtime.eval("answer") == 42


def test_a_failing_bootstrap_raises_at_construction(backend):
    with pytest.raises(jscell.JavaScriptError, match="bootstrap broke"):
        jscell.Runtime(jscell.RuntimeConfig(backend=backend, bootstrap="throw new Error('bootstrap broke')"))


def test_console_is_absent_unless_enabled(runtime):
    assert runtime.eval("typeof console") == "undefined"


def test_console_output_goes_to_logging(make_runtime, caplog):
    runtime = make_runtime(enable_console=True)
    with caplog.at_level(logging.DEBUG, logger="jscell.console"):
        runtime.eval("console.log('hello', {a: 1}); console.error('bad')")
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "jscell.console"]
    assert records == [(logging.INFO, 'hello {"a":1}'), (logging.ERROR, "bad")]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("backend", "quantum", ValueError),
        ("backend", 3, TypeError),
        ("max_heap_size", -1, ValueError),
        ("max_heap_size", "big", TypeError),
        ("initial_heap_size", 1.5, TypeError),
        ("bootstrap", 42, TypeError),
        ("timeout", 0, ValueError),
        ("timeout", "1s", TypeError),
        ("enable_console", "yes", TypeError),
        ("max_serialization_depth", 0, ValueError),
        ("max_serialization_depth", 10**6, ValueError),
        ("max_serialization_bytes", 0, ValueError),
        ("module_root", "/definitely/not/here", ValueError),
        ("module_root", 42, TypeError),
    ],
)
def test_invalid_config_is_refused_at_construction_naming_the_field(field, value, error):
    with pytest.raises(error, match=field):
        jscell.RuntimeConfig(**{field: value})


def test_unknown_config_options_are_refused():
    with pytest.raises(TypeError):
        jscell.RuntimeConfig(turbo=True)


def test_a_runtime_needs_a_runtime_config():
    with pytest.raises(TypeError, match="RuntimeConfig"):
        jscell.Runtime({"backend": "native"})


def test_the_backend_defaults_to_the_environment(monkeypatch):
    for backend in BACKENDS:
        monkeypatch.setenv("JSCELL_BACKEND", backend)
        assert jscell.RuntimeConfig().backend == backend
    monkeypatch.delenv("JSCELL_BACKEND")
    assert jscell.RuntimeConfig().backend == "native"


def test_a_runtime_refuses_calls_from_another_thread(runtime):
    errors = []

    def use():
        try:
            runtime.eval("1")
        except RuntimeError as error:
            errors.append(str(error))

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "thread" in errors[0]


def test_create_and_close_a_thousand_runtimes_without_leaking_threads_or_fds(backend):
    cycles = 1000 if backend == "native" else 100
    for _ in range(5):
        jscell.Runtime(jscell.RuntimeConfig(backend=backend)).close()
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    tasks = len(os.listdir("/proc/self/task"))
    for _ in range(cycles):
        with jscell.Runtime(jscell.RuntimeConfig(backend=backend)) as runtime:
            runtime.eval("1")
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) <= fds
    assert len(os.listdir("/proc/self/task")) <= tasks + 2


def test_the_default_runtime_is_per_thread():
    first = jscell.get_default_runtime()
    assert jscell.get_default_runtime() is first
    jscell.bind_function("triple", lambda x: x * 3)
    jscell.bind_object("settings", {"n": 2})
    assert jscell.eval("triple(settings.n)") == 6
    other = []
    thread = threading.Thread(target=lambda: other.append(jscell.get_default_runtime()))
    thread.start()
    thread.join()
    assert other[0] is not first


async def test_the_default_runtime_is_per_asyncio_task():
    async def runtime_of_task():
        await jscell.eval_async("1")
        return jscell.get_default_runtime()

    first, second = await asyncio.gather(runtime_of_task(), runtime_of_task())
    assert first is not second
    await asyncio.sleep(0)
    assert first.is_closed() and second.is_closed()


def test_a_forked_child_gets_clear_errors_and_leaves_the_parents_runtime_alone(backend, runtime):
    runtime.eval("globalThis.x = 41")
    pid = os.fork()
    if pid == 0:
        # The child reports through its exit code (anything raised counts as failure); it must
        # never return into pytest.
        code = 1
        try:
            code = 0 if forked_child_behaves(backend, runtime) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert runtime.eval("x + 1") == 42


def forked_child_behaves(backend, inherited):
    """In a forked child: the inherited runtime refuses work and closes without touching the
    parent's engine; a new runtime is refused on native (V8 cannot run in a fork) and works on
    hardened."""
    with pytest.raises(jscell.RuntimeTerminated, match="forked") as caught:
        inherited.eval("1")
    assert caught.value.reason == "forked"
    inherited.close()
    if backend == "native":
        with pytest.raises(jscell.RuntimeTerminated, match="forked"):
            jscell.Runtime(jscell.RuntimeConfig(backend="native"))
        return True
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as fresh:
        return fresh.eval("1 + 1") == 2
