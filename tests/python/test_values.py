"""Values crossing between Python and JavaScript: every row of the Values table in docs/api.md,
both ways, plus a property-based round trip.

Python → JS is checked inside JavaScript (a ``JsFunction`` receives the value as an argument);
JS → Python is checked on the value ``eval`` returns.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import pickle
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jscell

MAX_SAFE_INTEGER = 2**53 - 1
UTC = datetime.timezone.utc


def js_check(runtime, body):
    """A JsFunction ``x => body``: evaluate a JS expression over a value passed from Python."""
    return runtime.eval(f"x => {body}")


# --- None and undefined -------------------------------------------------------------------------


def test_js_null_becomes_none(runtime):
    assert runtime.eval("null") is None


def test_none_becomes_js_null(runtime):
    assert js_check(runtime, "x === null")(None) is True


def test_js_undefined_becomes_the_undefined_singleton(runtime):
    assert runtime.eval("undefined") is jscell.undefined
    assert runtime.eval("void 0") is jscell.undefined


def test_a_function_without_return_value_returns_undefined(runtime):
    assert runtime.eval("(() => {})()") is jscell.undefined


def test_undefined_singleton_becomes_js_undefined(runtime):
    assert js_check(runtime, "x === undefined")(jscell.undefined) is True


def test_undefined_and_null_stay_distinct_inside_containers(runtime):
    assert runtime.eval("[undefined, null]") == [jscell.undefined, None]
    assert runtime.eval("({a: undefined, b: null})") == {"a": jscell.undefined, "b": None}


def test_undefined_is_falsy():
    assert not jscell.undefined
    assert bool(jscell.undefined) is False


def test_undefined_is_distinct_from_none():
    assert jscell.undefined is not None
    assert jscell.undefined != None  # noqa: E711 - the point of the test


def test_undefined_is_a_singleton():
    assert jscell.UndefinedType() is jscell.undefined
    assert type(jscell.undefined) is jscell.UndefinedType


def test_undefined_survives_pickling_as_the_singleton():
    assert pickle.loads(pickle.dumps(jscell.undefined)) is jscell.undefined


def test_undefined_repr():
    assert repr(jscell.undefined) == "undefined"


# --- booleans -----------------------------------------------------------------------------------


def test_js_booleans_become_python_bools(runtime):
    assert runtime.eval("true") is True
    assert runtime.eval("false") is False


def test_python_bools_become_js_booleans(runtime):
    check = js_check(runtime, "[typeof x, x]")
    assert check(True) == ["boolean", True]
    assert check(False) == ["boolean", False]


# --- integers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("42", 42), ("3.0", 3), ("2n ** 64n", 2**64), ("5n", 5)],
    ids=["integral number", "integral number written as a float", "bigint", "small bigint"],
)
def test_js_integral_numbers_and_bigints_become_python_ints(runtime, source, expected):
    result = runtime.eval(source)
    assert result == expected
    assert type(result) is int


def test_negative_js_integers_become_negative_ints(runtime):
    assert runtime.eval("-17") == -17


@pytest.mark.parametrize("value", [0, 1, -1, 42, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER], ids=repr)
def test_ints_within_the_safe_range_become_js_numbers(runtime, value):
    assert js_check(runtime, "[typeof x, String(x)]")(value) == ["number", str(value)]


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER + 1, -(MAX_SAFE_INTEGER + 1), 2**64, -(2**64), 10**40], ids=repr)
def test_ints_beyond_the_safe_range_become_js_bigints(runtime, value):
    assert js_check(runtime, "[typeof x, x.toString()]")(value) == ["bigint", str(value)]


def test_negative_js_bigint_becomes_negative_python_int(runtime):
    assert runtime.eval("-(2n ** 100n) - 1n") == -(2**100) - 1


def test_zero_bigint_becomes_zero(runtime):
    assert runtime.eval("0n") == 0


def test_huge_ints_round_trip_exactly(echo):
    value = 3**500
    assert echo(value) == value
    assert echo(-value) == -value


def test_int_arithmetic_in_js_uses_the_exact_value(runtime):
    assert js_check(runtime, "x + 1n")(2**70) == 2**70 + 1


# --- floats -------------------------------------------------------------------------------------


def test_js_fractional_number_becomes_python_float(runtime):
    result = runtime.eval("1.5")
    assert result == 1.5
    assert type(result) is float


def test_js_float_arithmetic_is_preserved_exactly(runtime):
    assert runtime.eval("0.1 + 0.2") == 0.1 + 0.2


def test_python_float_becomes_js_number(runtime):
    assert js_check(runtime, "[typeof x, x === 2.5]")(2.5) == ["number", True]


def test_integral_python_float_comes_back_as_int(echo):
    result = echo(3.0)
    assert result == 3
    assert type(result) is int


def test_js_nan_becomes_python_nan(runtime):
    result = runtime.eval("NaN")
    assert type(result) is float
    assert math.isnan(result)


def test_js_infinities_become_python_infinities(runtime):
    assert runtime.eval("Infinity") == math.inf
    assert runtime.eval("-Infinity") == -math.inf


def test_python_nan_becomes_js_nan(runtime):
    assert js_check(runtime, "Number.isNaN(x)")(math.nan) is True


def test_python_infinities_become_js_infinities(runtime):
    check = js_check(runtime, "[x === Infinity, x === -Infinity]")
    assert check(math.inf) == [True, False]
    assert check(-math.inf) == [False, True]


def test_tiny_and_huge_floats_round_trip_exactly(echo):
    for value in (5e-324, 1.7976931348623157e308 / 3, -2.2250738585072014e-308):
        assert echo(value) == value


# --- strings ------------------------------------------------------------------------------------


def test_js_string_becomes_python_str(runtime):
    assert runtime.eval("'héllo wörld'") == "héllo wörld"


def test_python_str_becomes_js_string(runtime):
    assert js_check(runtime, "[typeof x, x.length, x]")("héllo") == ["string", 5, "héllo"]


def test_emoji_from_js_arrive_intact(runtime):
    assert runtime.eval("'\\ud83d\\ude00 and \\u{1F680}'") == "\U0001f600 and \U0001f680"


def test_emoji_from_python_arrive_as_surrogate_pairs(runtime):
    # JS strings are UTF-16: one astral character is two code units.
    assert js_check(runtime, "[x.length, x.codePointAt(0)]")("\U0001f600") == [2, 0x1F600]


def test_strings_with_nul_characters_round_trip(echo):
    assert echo("a\x00b\x00") == "a\x00b\x00"


def test_empty_string_round_trips(echo):
    assert echo("") == ""


def test_long_string_round_trips(echo):
    text = "jscell " * 200_000
    assert echo(text) == text


def test_lone_surrogate_from_js_becomes_replacement_character(runtime):
    assert runtime.eval("'a\\ud800b'") == "a\ufffdb"
    assert runtime.eval("'\\udfff'") == "\ufffd"


def test_lone_surrogate_inside_a_js_container_becomes_replacement_character(runtime):
    assert runtime.eval("({key: ['x\\udc00y']})") == {"key": ["x\ufffdy"]}


def test_lone_surrogate_from_python_does_not_crash(runtime, echo):
    # Either the lone surrogate is replaced by one U+FFFD, or the call fails with a clear error.
    try:
        result = echo("a\ud800b")
    except (ValueError, UnicodeError) as error:
        assert "surrogate" in str(error).lower()
    else:
        assert result == "a\ufffdb"
    assert runtime.eval("'still alive'") == "still alive"


# --- bytes and typed arrays ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"\x00\x01\xff", bytearray(b"\x00\x01\xff"), memoryview(b"\x00\x01\xff")],
    ids=["bytes", "bytearray", "memoryview"],
)
def test_binary_python_values_become_uint8_arrays(runtime, value):
    check = js_check(runtime, "[x instanceof Uint8Array, Array.from(x)]")
    assert check(value) == [True, [0, 1, 255]]


def test_memoryview_slice_passes_only_its_bytes(runtime):
    assert js_check(runtime, "Array.from(x)")(memoryview(b"abcdef")[1:4]) == [98, 99, 100]


def test_empty_bytes_become_an_empty_uint8_array(runtime):
    assert js_check(runtime, "[x instanceof Uint8Array, x.length]")(b"") == [True, 0]


def test_js_uint8_array_becomes_bytes(runtime):
    result = runtime.eval("new Uint8Array([1, 2, 255])")
    assert result == b"\x01\x02\xff"
    assert type(result) is bytes


def test_binary_values_round_trip_as_bytes(echo):
    for value in (b"abc", bytearray(b"abc"), memoryview(b"abc")):
        result = echo(value)
        assert result == b"abc"
        assert type(result) is bytes


def test_js_array_buffer_becomes_bytes(runtime):
    assert runtime.eval("new Uint8Array([7, 8, 9]).buffer") == b"\x07\x08\x09"


def test_js_uint16_array_becomes_its_bytes_in_little_endian(runtime):
    assert runtime.eval("new Uint16Array([1, 0x0102])") == b"\x01\x00\x02\x01"


def test_js_int8_array_becomes_bytes(runtime):
    assert runtime.eval("new Int8Array([-1, 1])") == b"\xff\x01"


def test_js_float64_array_becomes_bytes(runtime):
    assert runtime.eval("new Float64Array([1.5, -2])") == struct.pack("<2d", 1.5, -2.0)


def test_js_typed_array_view_becomes_only_its_bytes(runtime):
    assert runtime.eval("new Uint8Array([1, 2, 3, 4]).subarray(1, 3)") == b"\x02\x03"


def test_large_binary_values_round_trip(echo):
    data = bytes(range(256)) * 4096
    assert echo(data) == data


# --- arrays -------------------------------------------------------------------------------------


def test_js_array_becomes_list(runtime):
    result = runtime.eval("[1, 'two', [3]]")
    assert result == [1, "two", [3]]
    assert type(result) is list


def test_python_list_becomes_js_array(runtime):
    assert js_check(runtime, "[Array.isArray(x), x.length, x[1]]")([10, 20, 30]) == [True, 3, 20]


def test_python_tuple_becomes_js_array(runtime):
    assert js_check(runtime, "[Array.isArray(x), x.length, x[0]]")((10, 20)) == [True, 2, 10]


def test_tuples_come_back_as_lists(echo):
    result = echo((1, (2, 3)))
    assert result == [1, [2, 3]]
    assert type(result) is list


def test_empty_containers_round_trip(echo):
    assert echo([]) == []
    assert echo({}) == {}


# --- objects ------------------------------------------------------------------------------------


def test_js_object_becomes_dict(runtime):
    result = runtime.eval("({name: 'jscell', nested: {ok: true}})")
    assert result == {"name": "jscell", "nested": {"ok": True}}
    assert type(result) is dict


def test_js_object_key_order_is_kept(runtime):
    assert list(runtime.eval("({z: 1, a: 2, m: 3})")) == ["z", "a", "m"]


def test_python_dict_becomes_plain_js_object(runtime):
    check = js_check(runtime, "[Object.getPrototypeOf(x) === Object.prototype, x.a, x['key with spaces']]")
    assert check({"a": 1, "key with spaces": 2}) == [True, 1, 2]


def test_python_dict_key_order_is_kept(runtime):
    assert js_check(runtime, "Object.keys(x)")({"b": 1, "a": 2, "c": 3}) == ["b", "a", "c"]


def test_dict_round_trip_keeps_key_order(echo):
    assert list(echo({"b": 1, "a": 2, "c": 3})) == ["b", "a", "c"]


def test_js_class_instance_becomes_dict_of_own_properties(runtime):
    code = "class Point { constructor() { this.x = 1; this.y = 2 } get norm() { return 5 } }; new Point()"
    assert runtime.eval(code) == {"x": 1, "y": 2}


# --- sets and maps ------------------------------------------------------------------------------


def test_js_set_becomes_python_set(runtime):
    result = runtime.eval("new Set([1, 2, 3])")
    assert result == {1, 2, 3}
    assert type(result) is set


@pytest.mark.parametrize("value", [{1, 2, 3}, frozenset({1, 2, 3})], ids=["set", "frozenset"])
def test_python_sets_become_js_sets(runtime, value):
    check = js_check(runtime, "[x instanceof Set, x.size, x.has(1), x.has(2), x.has(3)]")
    assert check(value) == [True, 3, True, True, True]


def test_sets_round_trip_as_sets(echo):
    assert echo({"a", "b"}) == {"a", "b"}
    assert echo(frozenset({1, 2})) == {1, 2}


def test_js_map_becomes_dict(runtime):
    result = runtime.eval("new Map([['a', 1], [2, 'b']])")
    assert result == {"a": 1, 2: "b"}
    assert type(result) is dict


def test_js_map_keeps_insertion_order(runtime):
    assert list(runtime.eval("new Map([['z', 1], ['a', 2], ['m', 3]])")) == ["z", "a", "m"]


# --- dates --------------------------------------------------------------------------------------


def test_js_date_becomes_aware_utc_datetime(runtime):
    result = runtime.eval("new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))")
    assert result == datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert result.utcoffset() == datetime.timedelta(0)


def test_js_epoch_becomes_1970(runtime):
    assert runtime.eval("new Date(0)") == datetime.datetime(1970, 1, 1, tzinfo=UTC)


def test_js_date_before_the_epoch_becomes_datetime(runtime):
    assert runtime.eval("new Date(Date.UTC(1900, 0, 1))") == datetime.datetime(1900, 1, 1, tzinfo=UTC)


def test_aware_utc_datetime_becomes_js_date(runtime):
    check = js_check(runtime, "[x instanceof Date, x.toISOString()]")
    value = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert check(value) == [True, "2024-01-02T03:04:05.678Z"]


def test_naive_datetime_is_taken_as_utc(runtime):
    check = js_check(runtime, "x.toISOString()")
    assert check(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05.000Z"


def test_aware_datetime_in_another_zone_is_converted_to_utc(runtime):
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    check = js_check(runtime, "x.toISOString()")
    assert check(datetime.datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus_two)) == "2024-01-02T03:04:05.000Z"


def test_datetime_round_trip_gives_the_same_instant(echo):
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    value = datetime.datetime(2030, 6, 7, 8, 9, 10, 123000, tzinfo=plus_two)
    result = echo(value)
    assert result == value
    assert result.utcoffset() == datetime.timedelta(0)


# --- JS functions in Python ---------------------------------------------------------------------


def test_js_function_becomes_js_function_object(runtime):
    assert isinstance(runtime.eval("(a, b) => a + b"), jscell.JsFunction)


def test_js_function_is_callable_with_arguments(runtime):
    add = runtime.eval("(a, b) => a + b")
    assert add(2, 3) == 5
    assert add("a", "b") == "ab"


def test_js_function_called_with_missing_arguments_sees_undefined(runtime):
    assert runtime.eval("(a, b) => [a, typeof b]")(1) == [1, "undefined"]


def test_js_function_keeps_its_closure(runtime):
    counter = runtime.eval("(() => { let n = 0; return () => ++n })()")
    assert [counter(), counter(), counter()] == [1, 2, 3]


def test_js_function_inside_a_returned_object_is_callable(runtime):
    api = runtime.eval("({inc: x => x + 1, name: 'api'})")
    assert api["name"] == "api"
    assert api["inc"](1) == 2


def test_js_function_call_awaits_a_returned_promise(runtime):
    assert runtime.eval("async x => x * 2")(21) == 42


def test_js_function_call_timeout_stops_an_infinite_loop(runtime):
    spin = runtime.eval("() => { while (true) {} }")
    with pytest.raises(jscell.ExecutionTimeout):
        spin(timeout=0.2)
    assert runtime.eval("1 + 1") == 2


def test_js_function_call_timeout_as_timedelta(runtime):
    spin = runtime.eval("() => { while (true) {} }")
    with pytest.raises(jscell.ExecutionTimeout):
        spin(timeout=datetime.timedelta(milliseconds=200))


def test_js_function_call_uses_the_config_timeout(make_runtime):
    rt = make_runtime(timeout=0.2)
    spin = rt.eval("() => { while (true) {} }")
    with pytest.raises(jscell.ExecutionTimeout):
        spin()


def test_js_function_call_rejects_an_invalid_timeout(runtime):
    f = runtime.eval("() => 1")
    with pytest.raises(ValueError):
        f(timeout=-1)
    with pytest.raises(TypeError):
        f(timeout="1")


def test_js_function_that_throws_raises_javascript_error(runtime):
    fail = runtime.eval("() => { throw new TypeError('bad call') }")
    with pytest.raises(jscell.JavaScriptError) as info:
        fail()
    assert info.value.name == "TypeError"
    assert info.value.message == "bad call"


async def test_js_function_call_async(runtime):
    add = runtime.eval("(a, b) => a + b")
    assert await add.call_async(2, 3) == 5


async def test_js_function_call_async_awaits_a_returned_promise(runtime):
    later = runtime.eval("x => new Promise(resolve => setTimeout(() => resolve(x * 2), 10))")
    assert await later.call_async(21) == 42


async def test_js_function_call_async_timeout(runtime):
    spin = runtime.eval("() => { while (true) {} }")
    with pytest.raises(jscell.ExecutionTimeout):
        await spin.call_async(timeout=0.2)
    assert await runtime.eval_async("'ok'") == "ok"


async def test_js_function_call_async_runs_concurrently(runtime):
    later = runtime.eval("(x, ms) => new Promise(resolve => setTimeout(() => resolve(x), ms))")
    results = await asyncio.gather(later.call_async("a", 30), later.call_async("b", 10), later.call_async("c", 0))
    assert results == ["a", "b", "c"]


def test_closed_js_function_cannot_be_called(runtime):
    f = runtime.eval("() => 1")
    assert f() == 1
    f.close()
    with pytest.raises(RuntimeError):
        f()


async def test_closed_js_function_cannot_be_called_async(runtime):
    f = runtime.eval("() => 1")
    f.close()
    with pytest.raises(RuntimeError):
        await f.call_async()


def test_closing_a_js_function_twice_is_harmless(runtime):
    f = runtime.eval("() => 1")
    f.close()
    f.close()
    assert runtime.eval("2") == 2


def test_js_function_cannot_be_called_after_its_runtime_closes(make_runtime):
    rt = make_runtime()
    f = rt.eval("() => 1")
    rt.close()
    with pytest.raises(jscell.RuntimeTerminated):
        f()


def test_js_function_passed_back_into_js_is_the_same_function(runtime):
    original = runtime.eval("globalThis.original = x => x * 2; original")
    assert runtime.eval("f => f === original")(original) is True


def test_js_function_passed_back_into_js_is_callable_there(runtime):
    apply = runtime.eval("(f, x) => f(x)")
    double = runtime.eval("x => x * 2")
    assert apply(double, 21) == 42


# --- Python callables in JS ---------------------------------------------------------------------


def test_python_callable_argument_becomes_js_function(runtime):
    assert js_check(runtime, "typeof x")(lambda: None) == "function"


def test_python_callable_argument_is_callable_from_js(runtime):
    apply = runtime.eval("(f, x) => f(x)")
    assert apply(lambda x: x + 1, 41) == 42


def test_python_callable_argument_receives_converted_values(runtime):
    received = []
    runtime.eval("f => f(1, 'two', [3], {four: 4}, null)")(lambda *args: received.append(args))
    assert received == [(1, "two", [3], {"four": 4}, None)]


async def test_async_python_callable_argument_returns_a_promise(runtime):
    async def double(x):
        await asyncio.sleep(0.01)
        return x * 2

    apply = runtime.eval("async f => { const p = f(21); return [p instanceof Promise, await p] }")
    assert await apply.call_async(double) == [True, 42]


# --- property-based round trip ------------------------------------------------------------------

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
big_ints = st.integers(min_value=MAX_SAFE_INTEGER + 1, max_value=2**256) | st.integers(
    min_value=-(2**256), max_value=-(MAX_SAFE_INTEGER + 1)
)
fractional_floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())

scalars = st.none() | st.booleans() | safe_ints | big_ints | fractional_floats | st.text() | st.binary()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


def assert_same(actual, expected):
    """Equal, and of the same type all the way down (``True == 1`` must not pass)."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same(a, e)
    elif isinstance(expected, dict):
        assert set(actual) == set(expected)
        for key in expected:
            assert_same(actual[key], expected[key])
    else:
        assert actual == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_values_round_trip_through_js_unchanged(echo, value):
    assert_same(echo(value), value)


json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | fractional_floats | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_json_like_values_arrive_in_js_with_the_same_structure(runtime, value):
    # Checked from the JS side: JSON.stringify in JS, parsed back in Python, is the same value.
    text = runtime.eval("x => JSON.stringify(x)")(value)
    assert json.loads(text) == value
