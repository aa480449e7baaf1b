"""Streams between Python and JavaScript.

``PyStreamSource`` wraps a Python async iterable; passed into JavaScript it arrives as a
``ReadableStream`` that pulls from the iterable only as JavaScript reads. A ``ReadableStream``
returned to Python arrives as a ``JsStream``, read with ``async for``. Both directions are
pull-based: one chunk crosses per read, so neither side buffers more than the stream's
high-water mark for the other.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any

from ._errors import RuntimeTerminated
from ._values import undefined

if TYPE_CHECKING:
    from ._jscell import JsFunction

_BYTES_LIKE = (bytes, bytearray, memoryview)
# One pull answers at most this many chunks, and stops adding once they hold this many bytes:
# a batch must stay well inside the runtime's value limit.
_MAX_BATCH = 64
_BATCH_BYTES = 1 << 20


def _size(chunk: object) -> int:
    """Bytes a chunk counts for in the stream statistics: bytes-like chunks count their length."""
    if isinstance(chunk, memoryview):
        return chunk.nbytes
    return len(chunk) if isinstance(chunk, _BYTES_LIKE) else 0


class StreamCounters:
    """One runtime's stream statistics, and the Python sources still open in it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "active_js_streams",
                "active_py_streams",
                "total_js_streams",
                "total_py_streams",
                "bytes_streamed_js_to_py",
                "bytes_streamed_py_to_js",
            ),
            0,
        )
        self._sources: weakref.WeakSet[PyStreamSource] = weakref.WeakSet()

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def track(self, source: PyStreamSource) -> None:
        self._sources.add(source)

    def close_all(self) -> None:
        """The runtime closed: every Python source it was reading is closed too."""
        for source in list(self._sources):
            source._close_soon()


class PyStreamSource:
    """A Python async iterable that JavaScript reads as a ``ReadableStream``.

    Made by :meth:`Runtime.stream_from_async_iterable`; pass it into JavaScript once (as a
    function argument, a bound function's return value, a global, or inside an object). The
    iterable is pulled only as JavaScript reads: ``high_water_mark`` chunks ahead at most.
    Cancelling the stream in JavaScript closes the iterator (an async generator's ``finally``
    runs); an exception from the iterator errors the stream with its message.
    """

    def __init__(self, iterable: AsyncIterable[Any], counters: StreamCounters, high_water_mark: int) -> None:
        if not hasattr(type(iterable), "__aiter__"):
            raise TypeError(f"iterable must be an async iterable (with __aiter__), not {type(iterable).__name__}")
        if isinstance(high_water_mark, bool) or not isinstance(high_water_mark, int):
            raise TypeError(f"high_water_mark must be an int, not {type(high_water_mark).__name__}")
        if not 0 <= high_water_mark <= 0xFFFF_FFFF:
            raise ValueError(f"high_water_mark must be between 0 and 2**32 - 1, got {high_water_mark}")
        self._iterable = iterable
        self._counters = counters
        self.high_water_mark = high_water_mark
        self._iterator: AsyncIterator[Any] | None = None
        self._claimed = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pull: asyncio.Task[Any] | None = None
        # An error the iterator raised after chunks of the same pull: the next pull raises it.
        self._failure: Exception | None = None
        self._pulling: asyncio.Lock | None = None

    def _claim(self) -> Any:
        """The async host function that serves this source's stream (called by conversion)."""
        if self._claimed:
            raise RuntimeError("this PyStreamSource was already passed to JavaScript; a stream is read by one reader")
        if self._closed:
            raise RuntimeError("this PyStreamSource is closed")
        self._claimed = True
        self._counters.add(active_py_streams=1, total_py_streams=1)
        self._counters.track(self)
        return self._serve

    async def _serve(self, cancel: bool = False, wanted: object = 1) -> Any:
        """One pull of the stream: up to ``wanted`` chunks (what its queue has room for, never
        more than the high-water mark), so that a stream allowed to run ahead crosses the
        boundary once per batch rather than once per chunk."""
        if cancel:
            await self._close()
            return None
        count = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) else 1
        count = max(1, min(count, self.high_water_mark, _MAX_BATCH))
        if self._pulling is None:
            self._pulling = asyncio.Lock()
        # A ReadableStream never pulls twice at once; a compromised guest might, and an
        # async generator cannot be advanced twice at once: such pulls wait their turn.
        async with self._pulling:
            chunks: list[Any] = []
            done = await self._pull_into(chunks, count)
        return {"chunks": chunks, "done": done}

    async def _pull_into(self, chunks: list[Any], count: int) -> bool:
        """Pull up to ``count`` chunks (fewer past ``_BATCH_BYTES``) into ``chunks``; whether the
        iterator has ended."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self._closed:
            return True
        self._loop = asyncio.get_running_loop()
        self._pull = asyncio.current_task()
        batched = 0
        try:
            if self._iterator is None:
                self._iterator = aiter(self._iterable)
            while len(chunks) < count and batched < _BATCH_BYTES:
                chunk = await anext(self._iterator)
                size = _size(chunk)
                batched += size
                self._counters.add(bytes_streamed_py_to_js=size)
                chunks.append(chunk)
        except StopAsyncIteration:
            self._mark_closed()
            return True
        except Exception as error:
            self._mark_closed()
            if chunks:
                # What was pulled before the error is delivered; the error ends the next pull.
                self._failure = error
                return False
            raise
        except BaseException:  # cancelled: closing, nothing more to deliver
            self._mark_closed()
            raise
        finally:
            self._pull = None
        return False

    def _mark_closed(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        if self._claimed:
            self._counters.add(active_py_streams=-1)
        return True

    async def _close(self) -> None:
        if not self._mark_closed():
            return
        pull = self._pull
        if pull is not None and not pull.done():
            # The pull waiting in the iterator: cancelling it runs the generator's finally.
            pull.cancel()
            await asyncio.wait([pull])
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    def _close_soon(self) -> None:
        """Close from any thread, on the loop that was reading (the runtime is closing)."""
        event_loop = self._loop
        if event_loop is None or event_loop.is_closed():
            self._mark_closed()
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), event_loop)
        except RuntimeError:
            self._mark_closed()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "passed to JavaScript" if self._claimed else "unused"
        return f"<jscell.PyStreamSource {state} high_water_mark={self.high_water_mark}>"

    def __reduce__(self) -> Any:
        raise TypeError("a PyStreamSource belongs to its runtime and cannot be pickled")


class JsStream:
    """A JavaScript ``ReadableStream``, read from Python.

    ``async for chunk in stream`` reads it to the end; leaving the loop early (``break``, an
    exception) cancels the JavaScript stream. ``await stream.__anext__()`` reads one chunk.
    ``await stream.close(reason)`` cancels it with ``reason`` (visible to its ``cancel()``
    callback); ``async with stream:`` closes it on exit. An error in JavaScript while streaming
    raises :class:`JavaScriptError` from the read. One chunk crosses per read, so JavaScript
    produces only as fast as Python consumes.
    """

    def __init__(self, read: JsFunction, counters: StreamCounters) -> None:
        self._read = read
        self._counters = counters
        self._done = False
        self._released = False
        counters.add(active_js_streams=1, total_js_streams=1)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        try:
            while True:
                try:
                    chunk = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            await self.close()

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        try:
            step = await self._read.call_async()
        except BaseException:
            self._release()
            raise
        if step["done"]:
            self._release()
            raise StopAsyncIteration
        chunk = step["value"]
        self._counters.add(bytes_streamed_js_to_py=_size(chunk))
        return chunk

    async def close(self, reason: Any = undefined) -> None:
        """Cancel the JavaScript stream: its source's ``cancel(reason)`` runs. Idempotent; on a
        stream that has ended, or in a runtime that has closed, it does nothing."""
        if self._done:
            return
        self._done = True
        try:
            await self._read.call_async(True, reason)
        except RuntimeTerminated:
            pass  # the runtime, and the stream with it, is gone
        finally:
            self._release()

    def _release(self) -> None:
        """The stream ended, failed or was cancelled: free its reader in the runtime."""
        self._done = True
        if not self._released:
            self._released = True
            self._counters.add(active_js_streams=-1)
            self._read.close()

    async def __aenter__(self) -> JsStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<jscell.JsStream {'closed' if self._done else 'open'}>"

    def __reduce__(self) -> Any:
        raise TypeError("a JsStream belongs to its runtime and cannot be pickled")
