"""Streams both ways: a Python async iterable read by JavaScript as a ReadableStream
(`Runtime.stream_from_async_iterable`), and a JavaScript ReadableStream read by Python as a
`JsStream`; backpressure, cancellation and errors in each direction, and the stream statistics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

import jscell


class Counted:
    """An endless async generator that counts what was pulled and whether its finally ran."""

    def __init__(self, chunk: object = b"chunk") -> None:
        self.chunk = chunk
        self.pulled = 0
        self.finalized = False

    async def __call__(self) -> AsyncIterator[object]:
        try:
            while True:
                self.pulled += 1
                yield self.chunk
        finally:
            self.finalized = True


async def chunks(*items: object) -> AsyncIterator[object]:
    for item in items:
        yield item


async def settle_loop(turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds: what happens next is asynchronous, on another thread."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


# Python → JavaScript


async def test_a_python_source_arrives_as_a_readable_stream(runtime: jscell.Runtime) -> None:
    source = runtime.stream_from_async_iterable(chunks("a", 1, {"k": [True, None]}, b"\x00\xff"))
    read_all = runtime.eval("""async (stream) => {
        const reader = stream.getReader();
        const seen = [stream instanceof ReadableStream];
        for (;;) {
            const { done, value } = await reader.read();
            if (done) return seen;
            seen.push(value instanceof Uint8Array ? Array.from(value) : value);
        }
    }""")
    assert await read_all.call_async(source) == [True, "a", 1, {"k": [True, None]}, [0, 255]]


async def test_a_python_source_supports_for_await_pipe_through_and_tee(runtime: jscell.Runtime) -> None:
    runtime.bind_function("source", lambda: runtime.stream_from_async_iterable(chunks("x", "y", "z")))
    result = await runtime.eval_async("""(async () => {
        const upper = source().pipeThrough(new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()) } }));
        const [left, right] = upper.tee();
        const seen = [];
        for await (const chunk of left) seen.push(chunk);
        const written = [];
        await right.pipeTo(new WritableStream({ write(chunk) { written.push(chunk) } }));
        return [seen, written];
    })()""")
    assert result == [["X", "Y", "Z"], ["X", "Y", "Z"]]


async def test_a_python_source_inside_an_object_and_a_bound_object(runtime: jscell.Runtime) -> None:
    count = runtime.eval("async ({ stream }) => { let n = 0; for await (const _ of stream) n++; return n }")
    assert await count.call_async({"stream": runtime.stream_from_async_iterable(chunks(1, 2, 3))}) == 3
    runtime.bind_object("holder", {"feed": runtime.stream_from_async_iterable(chunks("only"))})
    assert await runtime.eval_async("holder.feed.getReader().read().then(r => r.value)") == "only"


async def test_bytes_arrive_as_uint8arrays_byte_for_byte(runtime: jscell.Runtime) -> None:
    payload = bytes(range(256)) * 257
    source = runtime.stream_from_async_iterable(chunks(payload, b"", bytearray(b"ab"), memoryview(b"cd")))
    echo_back = runtime.eval("""async (stream) => {
        const parts = [];
        for await (const chunk of stream) parts.push(chunk instanceof Uint8Array ? chunk : 'not bytes');
        return parts;
    }""")
    assert await echo_back.call_async(source) == [payload, b"", b"ab", b"cd"]


async def test_javascript_pulls_only_as_it_reads(runtime: jscell.Runtime) -> None:
    endless = Counted()
    read_three = runtime.eval("async (s) => { const r = s.getReader(); for (let i = 0; i < 3; i++) await r.read(); }")
    await read_three.call_async(runtime.stream_from_async_iterable(endless()))
    await settle_loop()
    # Three reads, and one chunk ahead (the default high-water mark of 1).
    assert endless.pulled == 4


@pytest.mark.parametrize(("high_water_mark", "expected"), [(0, 3), (5, 8)])
async def test_the_high_water_mark_sets_how_far_ahead_javascript_pulls(
    runtime: jscell.Runtime, high_water_mark: int, expected: int
) -> None:
    endless = Counted()
    read_three = runtime.eval("async (s) => { const r = s.getReader(); for (let i = 0; i < 3; i++) await r.read(); }")
    await read_three.call_async(runtime.stream_from_async_iterable(endless(), high_water_mark=high_water_mark))
    await eventually(lambda: endless.pulled >= expected)
    await runtime.eval_async("new Promise(r => setTimeout(r, 20))")
    assert endless.pulled == expected


async def test_a_consumer_that_never_reads_pulls_no_more_than_the_high_water_mark(runtime: jscell.Runtime) -> None:
    endless = Counted(b"x" * 65536)
    runtime.bind_object("holder", {"ignored": runtime.stream_from_async_iterable(endless())})
    await runtime.eval_async("globalThis.reader = holder.ignored.getReader(); new Promise(r => setTimeout(r, 50))")
    await settle_loop(100)
    assert endless.pulled == 1
    assert runtime.get_stats().bytes_streamed_py_to_js == 65536


async def test_cancelling_in_javascript_closes_the_python_generator(runtime: jscell.Runtime) -> None:
    endless = Counted()
    cancel_after_one = runtime.eval("async (s) => { const r = s.getReader(); await r.read(); await r.cancel('done') }")
    await cancel_after_one.call_async(runtime.stream_from_async_iterable(endless()))
    await settle_loop()
    assert endless.finalized
    assert runtime.get_stats().active_py_streams == 0


async def test_cancelling_while_a_pull_waits_closes_the_generator(runtime: jscell.Runtime) -> None:
    closed = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        try:
            await asyncio.sleep(3600)
            yield b"never"
        finally:
            closed.set()

    source = runtime.stream_from_async_iterable(slow())
    cancel_soon = runtime.eval("""async (s) => {
        const reader = s.getReader();
        const pending = reader.read();
        await new Promise(r => setTimeout(r, 20));
        await reader.cancel('no more');
        return (await pending).done;
    }""")
    assert await cancel_soon.call_async(source) is True
    await asyncio.wait_for(closed.wait(), 5)


async def test_an_exception_in_the_python_iterator_errors_the_javascript_stream(runtime: jscell.Runtime) -> None:
    async def failing() -> AsyncIterator[str]:
        yield "first"
        raise ValueError("the feed broke")

    read_all = runtime.eval("""async (s) => {
        const seen = [];
        try { for await (const chunk of s) seen.push(chunk) } catch (e) { seen.push(String(e.message)) }
        return seen;
    }""")
    first, message = await read_all.call_async(runtime.stream_from_async_iterable(failing()))
    assert first == "first"
    assert "the feed broke" in message


async def test_chunks_pulled_ahead_before_an_error_are_delivered_first(runtime: jscell.Runtime) -> None:
    async def two_then_failure() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ValueError("after two")

    read_all = runtime.eval("""async (s) => {
        const seen = [];
        try { for await (const chunk of s) seen.push(chunk) } catch (e) { seen.push(String(e.message)) }
        return seen;
    }""")
    one, two, message = await read_all.call_async(runtime.stream_from_async_iterable(two_then_failure(), high_water_mark=8))
    assert (one, two) == (1, 2)
    assert "after two" in message


async def test_a_source_is_read_by_one_stream_and_belongs_to_its_runtime(make_runtime) -> None:
    rt = make_runtime()
    other = make_runtime()
    source = rt.stream_from_async_iterable(chunks(1))
    identity = rt.eval("x => 0")
    await identity.call_async(source)
    with pytest.raises(RuntimeError, match="already passed to JavaScript"):
        await identity.call_async(source)
    with pytest.raises(ValueError, match="only be passed to the runtime"):
        await other.eval("x => 0").call_async(other_source := rt.stream_from_async_iterable(chunks(1)))
    assert repr(other_source).startswith("<jscell.PyStreamSource")


def test_bad_arguments_are_refused_clearly(runtime: jscell.Runtime) -> None:
    with pytest.raises(TypeError, match="async iterable"):
        runtime.stream_from_async_iterable([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="high_water_mark must be an int"):
        runtime.stream_from_async_iterable(chunks(), high_water_mark=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="high_water_mark"):
        runtime.stream_from_async_iterable(chunks(), high_water_mark=-1)
    runtime.close()
    with pytest.raises(jscell.RuntimeTerminated):
        runtime.stream_from_async_iterable(chunks())


# JavaScript → Python


async def test_a_javascript_stream_arrives_as_an_async_iterator(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("""ReadableStream.from(['a', 2, new Uint8Array([1, 2, 3]), { n: null }])""")
    assert isinstance(stream, jscell.JsStream)
    assert [chunk async for chunk in stream] == ["a", 2, b"\x01\x02\x03", {"n": None}]
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_javascript_streams_arrive_from_calls_and_bound_function_arguments(runtime: jscell.Runtime) -> None:
    received: list[jscell.JsStream] = []
    runtime.bind_function("give", received.append)
    runtime.eval("give(new ReadableStream({ start(c) { c.enqueue('from an argument'); c.close() } }))")
    make = runtime.eval("(text) => new ReadableStream({ start(c) { c.enqueue(text); c.close() } })")
    from_call = await make.call_async("from a call")
    assert [c async for c in received[0]] == ["from an argument"]
    assert [c async for c in from_call] == ["from a call"]


async def test_python_reads_only_as_it_iterates(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("""globalThis.pulls = 0;
        new ReadableStream({ pull(c) { c.enqueue(++globalThis.pulls) } }, { highWaterMark: 0 })""")
    got = [await stream.__anext__() for _ in range(3)]
    await settle_loop()
    assert got == [1, 2, 3]
    assert runtime.eval("pulls") == 3
    await stream.close()


async def test_close_cancels_the_javascript_source_with_the_reason(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("new ReadableStream({ pull(c) { c.enqueue(1) }, cancel(r) { globalThis.why = r } })")
    assert await stream.__anext__() == 1
    await stream.close("Python is done")
    assert runtime.eval("why") == "Python is done"
    await stream.close()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_breaking_out_of_async_for_cancels_the_javascript_source(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("""globalThis.cancelled = false;
        new ReadableStream({ pull(c) { c.enqueue('x') }, cancel() { globalThis.cancelled = true } })""")
    async for _ in stream:
        break
    await eventually(lambda: runtime.get_stats().active_js_streams == 0)
    assert runtime.eval("cancelled") is True


async def test_a_stream_is_an_async_context_manager(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("""new ReadableStream({ pull(c) { c.enqueue(7) }, cancel(r) { globalThis.why = String(r) } })""")
    async with stream as reading:
        assert await reading.__anext__() == 7
    assert runtime.eval("why") == "undefined"


async def test_an_error_in_the_javascript_stream_raises_from_the_read(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("""let n = 0;
        new ReadableStream({ pull(c) { if (n++) throw new RangeError('out of data'); c.enqueue('ok') } })""")
    assert await stream.__anext__() == "ok"
    with pytest.raises(jscell.JavaScriptError, match="out of data") as caught:
        await stream.__anext__()
    assert caught.value.name == "RangeError"
    assert runtime.get_stats().active_js_streams == 0


async def test_a_javascript_stream_passed_back_is_the_same_stream(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("globalThis.original = new ReadableStream(); original")
    same = runtime.eval("x => x === original")
    assert await same.call_async(stream) is True


async def test_a_locked_stream_raises_on_its_first_read(runtime: jscell.Runtime) -> None:
    stream = await runtime.eval_async("const s = new ReadableStream(); s.getReader(); s")
    with pytest.raises(jscell.JavaScriptError) as caught:
        await stream.__anext__()
    assert caught.value.name == "TypeError"


# Both directions


async def test_ten_thousand_small_chunks_each_way(runtime: jscell.Runtime) -> None:
    count = 10_000
    source = runtime.stream_from_async_iterable(chunks(*range(count)))
    total = runtime.eval("async (s) => { let sum = 0, n = 0; for await (const i of s) { sum += i; n++ } return [n, sum] }")
    assert await total.call_async(source) == [count, count * (count - 1) // 2]
    stream = await runtime.eval_async(f"ReadableStream.from(Array.from({{ length: {count} }}, (_, i) => i))")
    assert [chunk async for chunk in stream] == list(range(count))


async def test_a_python_source_piped_through_javascript_back_to_python(runtime: jscell.Runtime) -> None:
    source = runtime.stream_from_async_iterable(chunks(b"abc", b"def"))
    reverse = runtime.eval("""(s) => s.pipeThrough(new TransformStream({
        transform(chunk, c) { c.enqueue(chunk.slice().reverse()) } }))""")
    stream = await reverse.call_async(source)
    assert [chunk async for chunk in stream] == [b"cba", b"fed"]


async def test_the_statistics_count_streams_and_bytes_both_ways(runtime: jscell.Runtime) -> None:
    before = runtime.get_stats()
    assert (before.total_py_streams, before.total_js_streams) == (0, 0)
    source = runtime.stream_from_async_iterable(chunks(b"12345", b"678"))
    drain = runtime.eval("async (s) => { for await (const _ of s); }")
    await drain.call_async(source)
    stream = await runtime.eval_async("ReadableStream.from([new Uint8Array(10), 'text'])")
    assert runtime.get_stats().active_js_streams == 1
    [chunk async for chunk in stream]
    stats = runtime.get_stats()
    assert (stats.total_py_streams, stats.active_py_streams, stats.bytes_streamed_py_to_js) == (1, 0, 8)
    assert (stats.total_js_streams, stats.active_js_streams, stats.bytes_streamed_js_to_py) == (1, 0, 10)


async def test_closing_the_runtime_ends_its_streams_without_hanging(make_runtime) -> None:
    rt = make_runtime()
    endless = Counted()
    rt.bind_object("holder", {"feed": rt.stream_from_async_iterable(endless())})
    await rt.eval_async("globalThis.r = holder.feed.getReader(); r.read()")
    stream = await rt.eval_async("new ReadableStream({ pull() { return new Promise(() => {}) } })")
    pending = asyncio.ensure_future(stream.__anext__())
    await settle_loop()
    rt.close()
    with pytest.raises(jscell.RuntimeTerminated):
        await asyncio.wait_for(pending, 10)
    await settle_loop()
    assert endless.finalized
    await stream.close()  # a no-op once the runtime is gone


def test_the_web_stream_globals_are_present(runtime: jscell.Runtime) -> None:
    names = [
        "ReadableStream", "WritableStream", "TransformStream", "ReadableStreamDefaultReader",
        "ReadableStreamBYOBReader", "ReadableByteStreamController", "ByteLengthQueuingStrategy",
        "CountQueuingStrategy", "AbortController", "AbortSignal", "TextEncoder", "TextDecoder",
        "TextEncoderStream", "TextDecoderStream", "DOMException", "EventTarget", "Event",
    ]
    kinds = runtime.eval(f"{names}.map(name => typeof globalThis[name])")
    assert kinds == ["function"] * len(names)
    # Like web interfaces: present, but not enumerable on the global.
    assert runtime.eval("Object.keys(globalThis).filter(k => k.includes('Stream'))") == []
    assert runtime.eval("new TextDecoder().decode(new TextEncoder().encode('h€llo 😀'))") == "h€llo 😀"
    assert runtime.eval("typeof ReadableStream.from") == "function"


def test_a_web_global_can_be_replaced_before_it_is_used(runtime: jscell.Runtime) -> None:
    assert runtime.eval("TextEncoder = 'mine'; TextEncoder") == "mine"
    assert runtime.eval("typeof TextDecoder") == "function"
