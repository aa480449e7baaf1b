"""JavaScript errors reach Python whole, and Python errors reach JavaScript catchable."""

from __future__ import annotations

import pytest

import jscell
from conftest import engine_differs


def test_a_js_error_carries_name_message_stack_and_frames(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("function inner() { throw new TypeError('bad input') }\nfunction outer() { inner() }\nouter()")
    error = caught.value
    assert (error.name, error.message) == ("TypeError", "bad input")
    assert str(error) == "TypeError: bad input"
    assert "at inner" in error.stack and "at outer" in error.stack
    assert [frame["function_name"] for frame in error.frames[:2]] == ["inner", "outer"]
    assert error.frames[0]["line_number"] == 1
    assert error.frames[1]["line_number"] == 2
    assert set(error.frames[0]) == {"function_name", "file_name", "line_number", "column_number"}


def test_a_syntax_error_names_its_line_and_column(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("let ok = 1;\nlet = ;")
    assert caught.value.name == "SyntaxError"
    assert caught.value.frames[0]["line_number"] == 2
    assert caught.value.frames[0]["column_number"] >= 1


def test_a_rejected_promise_is_a_javascript_error(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("Promise.reject(new RangeError('nope'))")
    assert (caught.value.name, caught.value.message) == ("RangeError", "nope")


async def test_a_rejected_promise_is_a_javascript_error_under_eval_async(runtime):
    with pytest.raises(jscell.JavaScriptError, match="late"):
        await runtime.eval_async("new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 5))")


def test_custom_error_classes_keep_their_name(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("class Oops extends Error { constructor(m) { super(m); this.name = 'Oops' } } throw new Oops('x')")
    assert (caught.value.name, caught.value.message) == ("Oops", "x")


def test_a_python_exception_in_a_handler_is_catchable_in_js(runtime):
    def fails():
        raise ValueError("bad value")

    runtime.bind_function("fails", fails)
    assert runtime.eval("try { fails(); 'no' } catch (e) { e instanceof Error && e.message }") == "ValueError: bad value"


def test_an_uncaught_python_exception_reaches_python_as_a_javascript_error(runtime):
    def fails():
        raise KeyError("missing")

    runtime.bind_function("fails", fails)
    with pytest.raises(jscell.JavaScriptError, match="KeyError") as caught:
        runtime.eval("fails()")
    assert "missing" in caught.value.message


async def test_an_async_handler_exception_rejects_the_js_promise(runtime):
    async def fails():
        raise LookupError("gone")

    runtime.bind_function("fails", fails)
    assert await runtime.eval_async("fails().catch(e => e.message)") == "LookupError: gone"


def test_errors_are_exception_subclasses_a_caller_can_catch_broadly(runtime):
    assert issubclass(jscell.RuntimeTerminated, RuntimeError)
    assert issubclass(jscell.ExecutionTimeout, RuntimeError) and issubclass(jscell.ExecutionTimeout, TimeoutError)
    assert issubclass(jscell.SerializationError, ValueError)
    assert issubclass(jscell.JavaScriptError, Exception)


def test_why_a_runtime_ended_is_data_on_the_exception(make_runtime):
    closed = make_runtime()
    closed.close()
    with pytest.raises(jscell.RuntimeTerminated) as caught:
        closed.eval("1")
    assert (caught.value.reason, caught.value.signal, caught.value.exit_code) == ("closed", None, None)
    stopped = make_runtime()
    stopped.terminate()
    with pytest.raises(jscell.RuntimeTerminated, match="terminate") as caught:
        stopped.eval("1")
    assert caught.value.reason == "requested"


def test_a_timeout_carries_the_seconds_it_allowed(runtime):
    with pytest.raises(jscell.ExecutionTimeout) as caught:
        runtime.eval("for (;;) {}", timeout=0.25)
    assert caught.value.timeout == 0.25


def test_stack_frames_have_the_documented_fields_and_types(runtime):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("function inner() { throw new Error('x') }\ninner()")
    frames = caught.value.frames
    assert set(frames[0]) == set(jscell.StackFrame.__annotations__)
    assert (frames[0]["function_name"], frames[0]["file_name"], frames[0]["line_number"]) == ("inner", "<eval>", 1)
    assert isinstance(frames[0]["column_number"], int)


def test_a_syntax_error_in_a_module_names_the_module_and_position(runtime):
    runtime.add_static_module("bad", "export const x = ;")
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval_module("bad")
    assert caught.value.name == "SyntaxError"
    assert caught.value.message.endswith("at static:bad:1:18")
    assert "static:bad:1:18" in caught.value.stack
    frame = caught.value.frames[0]
    assert (frame["file_name"], frame["line_number"], frame["column_number"]) == ("static:bad", 1, 18)
    # The same through import(), where the error is rethrown in JS.
    assert runtime.eval("import('bad').catch(e => e.message)").endswith("at static:bad:1:18")


def test_a_syntax_error_in_a_script_names_the_position(runtime, backend):
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval("let ok = 1;\nlet broken = ;")
    assert caught.value.message.endswith(" at <eval>:2:14")
    if not engine_differs(backend, "error wording"):
        assert caught.value.message == "Unexpected token ';' at <eval>:2:14"
    assert caught.value.stack.endswith("at <eval>:2:14")
