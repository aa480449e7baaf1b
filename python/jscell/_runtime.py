"""``Runtime``: one V8 isolate with its own thread, driven from the thread that created it."""

from __future__ import annotations

import atexit
import inspect
import weakref
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, Literal, get_args

from . import _jscell
from ._config import RuntimeConfig, Timeout, seconds
from ._streams import PyStreamSource, StreamCounters
from ._values import RuntimeStats

OpMode = Literal["sync", "async"]
"""How JS calls a registered op: ``__host_op_sync__`` returns its value, ``__host_op_async__`` a Promise."""

_OP_MODES: tuple[OpMode, ...] = get_args(OpMode)

_open_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()


@atexit.register
def _close_open_runtimes() -> None:
    # Engine threads must be gone before the interpreter finalizes: they call into Python.
    for runtime in list(_open_runtimes):
        runtime.close()


def _source(code: object) -> str:
    if not isinstance(code, str):
        raise TypeError(f"code must be a str of JavaScript source, not {type(code).__name__}")
    return code


def _specifier(specifier: object) -> str:
    if not isinstance(specifier, str):
        raise TypeError(f"specifier must be a str, not {type(specifier).__name__}")
    return specifier


def _global_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty")
    return name


def _callable(handler: object) -> Callable[..., Any]:
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {type(handler).__name__}")
    return handler


def is_async_callable(handler: object) -> bool:
    """Whether calling ``handler`` produces an awaitable (coroutine functions, async __call__)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))


class Runtime:
    """JavaScript runtime: a V8 isolate on a dedicated OS thread.

    Runtime objects are not thread-safe: call them from the thread that created them (``terminate``
    excepted, which any thread may call). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        if config is None:
            config = RuntimeConfig()
        elif not isinstance(config, RuntimeConfig):
            raise TypeError(f"config must be a RuntimeConfig or None, not {type(config).__name__}")
        self._config = config
        self._streams = StreamCounters()
        self._core = _jscell.RuntimeCore(config, self._streams)
        self._op_names: dict[str, int] = {}
        _open_runtimes.add(self)

    @property
    def config(self) -> RuntimeConfig:
        return self._config

    def eval(self, code: str, *, timeout: Timeout = None) -> Any:
        """Evaluate JavaScript and return its value; a returned promise is awaited (blocking)."""
        return self._core.eval(_source(code), seconds(timeout))

    async def eval_async(self, code: str, *, timeout: Timeout = None) -> Any:
        """Evaluate JavaScript without blocking the event loop; promises are awaited."""
        return await self._core.eval_async(_source(code), seconds(timeout))

    def eval_module(self, specifier: str, *, timeout: Timeout = None) -> Any:
        """Load, instantiate and evaluate the module ``specifier`` (blocking, top-level await
        included); returns its namespace as a dict."""
        return self._core.eval_module(_specifier(specifier), seconds(timeout))

    async def eval_module_async(self, specifier: str, *, timeout: Timeout = None) -> Any:
        """Like :meth:`eval_module` without blocking the event loop (async loaders allowed)."""
        return await self._core.eval_module_async(_specifier(specifier), seconds(timeout))

    def add_static_module(self, name: str, source: str) -> None:
        """Register a module importable as ``static:<name>`` and as the bare ``<name>``."""
        self._core.add_static_module(_global_name(name), _source(source))

    def set_module_resolver(self, resolver: Callable[[str, str], str | None]) -> None:
        """Resolve imports: ``resolver(specifier, referrer)`` returns the module's URL, or None
        to fall back to static modules, ``module_root`` files and the loader."""
        self._core.set_module_resolver(_callable(resolver))

    def set_module_loader(self, loader: Callable[[str], Any]) -> None:
        """Load sources: ``loader(specifier)`` returns the source str, or an awaitable of it
        (awaited on the loop of the current async call)."""
        self._core.set_module_loader(_callable(loader))

    def register_op(self, name: str, handler: Callable[..., Any], mode: OpMode = "sync") -> int:
        """Make ``handler`` callable from JS as ``__host_op_sync__(id, ...)`` (``mode="sync"``) or
        ``__host_op_async__(id, ...)`` returning a Promise (``mode="async"``). Returns the op id."""
        name = _global_name(name)
        handler = _callable(handler)
        if mode not in _OP_MODES:
            raise ValueError(f"mode must be 'sync' or 'async', got {mode!r}")
        if name in self._op_names:
            raise RuntimeError(f"an op named {name!r} is already registered (id {self._op_names[name]})")
        op_id = self._core.register_op(name, handler, mode == "async")
        self._op_names[name] = op_id
        return op_id

    def bind_function(self, name: str, handler: Callable[..., Any]) -> None:
        """Install ``globalThis[name]`` calling ``handler``; async handlers return Promises."""
        self._core.bind(_global_name(name), _callable(handler))

    def bind_object(self, name: str, obj: Mapping[str, Any]) -> None:
        """Install ``globalThis[name]`` as an object of ``obj``'s items; callables become functions."""
        if not isinstance(obj, Mapping):
            raise TypeError(f"obj must be a mapping, not {type(obj).__name__}")
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"bind_object keys must be str, got {type(key).__name__}")
        self._core.bind(_global_name(name), dict(obj))

    def stream_from_async_iterable(self, iterable: AsyncIterable[Any], *, high_water_mark: int = 1) -> PyStreamSource:
        """Wrap a Python async iterable for JavaScript, where it arrives as a ``ReadableStream``.

        Pass the returned :class:`PyStreamSource` into JavaScript once (a function argument, a
        bound function's result, a global, a value inside an object). The iterable is pulled only
        as JavaScript reads, at most ``high_water_mark`` chunks ahead (0: only while a read
        waits). Chunks are converted like any value (``bytes`` become ``Uint8Array``). Reading
        needs the runtime driven from an event loop (``eval_async``, ``call_async``). May be
        called from a bound function, to return the source to JavaScript.
        """
        if self._core.is_closed():
            self._core.check_open()  # raises the closed runtime's RuntimeTerminated
        return PyStreamSource(iterable, self._streams, high_water_mark)

    def get_stats(self) -> RuntimeStats:
        """Resource use and execution counters of this runtime."""
        return RuntimeStats._from_native({**self._core.stats(), **self._streams.snapshot()})

    def inspector_endpoints(self) -> None:
        """DevTools endpoints; ``None`` since this build has no inspector."""
        self._core.check_open()
        return None

    def is_closed(self) -> bool:
        return self._core.is_closed()

    def terminate(self) -> None:
        """Stop running JavaScript now; every later call raises ``RuntimeTerminated``."""
        self._core.terminate()

    def close(self) -> None:
        """Stop the runtime and free its isolate and thread; the Python sources of its streams
        are closed too. Idempotent."""
        self._core.close()
        self._streams.close_all()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed() else "open"
        return f"<jscell.Runtime backend={self._config.backend!r} {state}>"
