"""jscell side by side with jsrun, mini-racer and quickjs-rs, in one process.

Run it with `cargo xtask bench`, which builds jscell into .venv and installs the comparison
libraries from requirements-bench.txt. Each case is timed for each library in turn with
time.perf_counter: calls are repeated until one run lasts MIN_RUN seconds (those calibration runs
are the warm-up), then the median of REPEATS such runs is taken, as seconds per call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import json
import pathlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import jscell
import jsrun
import quickjs_rs
from jscell._config import BACKENDS
from py_mini_racer import MiniRacer

REPEATS = 7
MIN_RUN = 0.2

FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }"
ITEMS = (
    "Array.from({length: 20000}, (_, i) =>"
    " ({id: i, name: 'item' + i, value: i * 1.5, tags: ['a', 'b'], active: i % 2 == 0}))"
)
BOUND_LOOP = "(() => { let sum = 0; for (let i = 0; i < 5000; i++) sum += inc(i); return sum; })()"


class RuntimeLibrary:
    """jscell (one backend) or jsrun: both implement the same Runtime API."""

    def __init__(self, name: str, new_runtime: Callable[[], object]) -> None:
        self.name = name
        self._new_runtime = new_runtime
        self._runtime = new_runtime()
        self._runtime.eval(FIB)
        self._runtime.bind_function("inc", lambda x: x + 1)

    def eval(self, code: str) -> object:
        return self._runtime.eval(code)

    def bound_calls(self) -> object:
        return self._runtime.eval(BOUND_LOOP)

    def items(self) -> object:
        return self._runtime.eval(ITEMS)

    def create_eval_close(self) -> None:
        runtime = self._new_runtime()
        runtime.eval("1")
        runtime.close()

    def close(self) -> None:
        self._runtime.close()


class MiniRacerLibrary:
    """mini-racer: ``eval`` returns arrays and objects as live JS proxies; ``execute`` is its way
    to get plain Python data (JSON.stringify in JS, json.loads in Python)."""

    name = "mini-racer"

    # Python functions reach JS only as async functions (wrap_py_function), so a synchronous
    # call from a JS loop does not exist: n/a.
    bound_calls = None

    def __init__(self) -> None:
        self._racer = MiniRacer()
        self._racer.eval(FIB)

    def eval(self, code: str) -> object:
        return self._racer.eval(code)

    def items(self) -> object:
        return self._racer.execute(ITEMS)

    def create_eval_close(self) -> None:
        racer = MiniRacer()
        racer.eval("1")
        racer.close()

    def close(self) -> None:
        self._racer.close()


class QuickJsRsLibrary:
    """quickjs-rs: QuickJS (rquickjs) in wasmtime, the nearest rival of the wasm backend. Each
    runtime holds contexts; one context is what the other libraries call a runtime."""

    name = "quickjs-rs"

    def __init__(self) -> None:
        self._runtime, self._context = self._open()
        self._context.eval(FIB)
        self._context.register("inc", lambda x: x + 1)

    @staticmethod
    def _open() -> tuple[object, object]:
        runtime = quickjs_rs.Runtime(memory_limit=None)
        return runtime, runtime.new_context(timeout=60)

    def eval(self, code: str) -> object:
        return self._context.eval(code)

    def bound_calls(self) -> object:
        return self._context.eval(BOUND_LOOP)

    def items(self) -> object:
        return self._context.eval(ITEMS)

    def create_eval_close(self) -> None:
        runtime, context = self._open()
        context.eval("1")
        context.close()
        runtime.close()

    def close(self) -> None:
        self._context.close()
        self._runtime.close()


ITEMS_CASE = "20,000 objects returned to Python"

# Each case makes, from a library, the operation to time, or None where the library lacks it.
CASES: list[tuple[str, Callable[[object], Callable[[], object] | None]]] = [
    ('eval("1+1")', lambda lib: lambda: lib.eval("1+1")),
    ("bound Python fn, 5,000 calls in one JS loop", lambda lib: lib.bound_calls),
    (ITEMS_CASE, lambda lib: lib.items),
    ('create + eval("1") + close', lambda lib: lib.create_eval_close),
    ("fib(25)", lambda lib: lambda: lib.eval("fib(25)")),
]


@dataclasses.dataclass
class Timing:
    """Median seconds per call, and what any calls raised. A library that fails now and then
    (jsrun's cycle check misfires on large arrays) is timed all the same, failed calls included,
    and its failures are listed under the table."""

    seconds: float = 0.0
    calls: int = 0
    errors: list[Exception] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return len(self.errors) == self.calls


def measure(op: Callable[[], object]) -> Timing:
    timing = Timing()

    def run(number: int) -> float:
        """Seconds per call over ``number`` calls."""
        start = time.perf_counter()
        for _ in range(number):
            try:
                op()
            except Exception as error:  # noqa: BLE001 - reported under the table
                timing.errors.append(error)
        timing.calls += number
        return (time.perf_counter() - start) / number

    number = 1
    while run(number) * number < MIN_RUN:
        number *= 2
    timing.seconds = statistics.median(run(number) for _ in range(REPEATS))
    return timing


def duration(timing: Timing | None) -> str:
    """A cell of the table: n/a where the library lacks the feature, ! where some calls raised."""
    if timing is None:
        return "n/a"
    if timing.failed:
        return "failed"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if timing.seconds >= scale or unit == "ns":
            return f"{timing.seconds / scale:.3g} {unit}" + ("!" if timing.errors else "")


def ratio(numerator: Timing | None, denominator: Timing | None) -> str:
    if numerator is None or denominator is None or numerator.failed or denominator.failed:
        return "n/a"
    return f"{numerator.seconds / denominator.seconds:.2f}×"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * width for width in widths], *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        print("  ".join(cells))


def main() -> None:
    makers: list[Callable[[], RuntimeLibrary | MiniRacerLibrary | QuickJsRsLibrary]] = [
        lambda backend=backend: RuntimeLibrary(
            f"jscell {backend}", lambda: jscell.Runtime(jscell.RuntimeConfig(backend=backend))
        )
        for backend in BACKENDS
    ]
    makers += [lambda: RuntimeLibrary("jsrun", jsrun.Runtime), MiniRacerLibrary, QuickJsRsLibrary]
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}" for dist in ("jscell", "jsrun", "mini-racer", "quickjs-rs")
    )
    print(f"{versions}; time per op, median of {REPEATS} runs of >= {MIN_RUN}s each\n")

    # One library at a time: only its runtime is alive while it is timed. (An idle jsrun
    # runtime keeps a core busy, which would slow whatever else runs beside it.)
    libraries = []
    times: dict[str, dict[str, Timing | None]] = {case: {} for case, _ in CASES}
    json_text = None
    for make in makers:
        library = make()
        libraries.append(library)
        for case, make_op in CASES:
            op = make_op(library)
            times[case][library.name] = None if op is None else measure(op)
        if json_text is None:
            json_text = library.eval(f"JSON.stringify({ITEMS})")
        library.close()
    jscells = libraries[: len(BACKENDS)]
    rivals = libraries[len(BACKENDS) :]

    # The practical floor for returning data to Python: parsing the same data from JSON text.
    json_floor = measure(lambda: json.loads(json_text))

    # Each backend against each rival, and every backend against the first (native): the
    # price of the process boundary.
    pairs = [(mine, rival) for mine in jscells for rival in rivals]
    pairs += [(other, jscells[0]) for other in jscells[1:]]
    header = ["case", *(library.name for library in libraries)]
    header += [f"{mine.name} / {base.name}" for mine, base in pairs]
    rows = []
    for case, _ in CASES:
        row = [case, *(duration(times[case][library.name]) for library in libraries)]
        row += [ratio(times[case][mine.name], times[case][base.name]) for mine, base in pairs]
        rows.append(row)
    print_table(header, rows)
    for case, _ in CASES:
        for name, timing in times[case].items():
            if timing is not None and timing.errors:
                error = timing.errors[-1]
                print(f"! {name}: {len(timing.errors)} of {timing.calls} calls of {case!r} raised, e.g. {type(error).__name__}: {error}")
    print(f"\njson.loads of the same 20,000 objects: {duration(json_floor)}")
    for mine in jscells:
        print(f"{mine.name}, 20,000 objects vs json.loads: {ratio(times[ITEMS_CASE][mine.name], json_floor)}")
    warm_pool()
    module_graph()
    streaming()


WARM_SPACING = 0.02


def warm_pool() -> None:
    """Hardened create + eval + close with and without a warm guest pool, each creation
    WARM_SPACING apart (as requests arrive), so the pool can refill in between."""
    print(f"\nhardened create + eval('1') + close, one every {WARM_SPACING * 1000:.0f} ms (median of 40):")
    for warm in (0, 1):
        config = jscell.RuntimeConfig(backend="hardened", warm_guests=warm)
        jscell.Runtime(config).close()
        samples = []
        for _ in range(40):
            time.sleep(WARM_SPACING)
            start = time.perf_counter()
            runtime = jscell.Runtime(config)
            runtime.eval("1")
            runtime.close()
            samples.append(time.perf_counter() - start)
        print(f"  warm_guests={warm}: {statistics.median(samples) * 1000:.2f} ms")


MODULES = 200


def write_module_graph(root: pathlib.Path) -> str:
    """A 200-file graph (a chain of `export *` re-exports, each module also importing its
    predecessor, so the graph has a cycle) and the same code as one script."""
    script = []
    for i in range(MODULES):
        body = f"const n{i} = {i} * 2; const f{i} = x => x + n{i};"
        exports = f"export {{ n{i}, f{i} }};"
        reexport = f"export * from './m{i + 1}.js';" if i + 1 < MODULES else ""
        cycle = f"import * as prev{i} from './m{(i - 1) % MODULES}.js';"
        (root / f"m{i}.js").write_text("\n".join([cycle, body, exports, reexport]))
        script.append(body)
    total = f"Array.from({{length: {MODULES}}}, (_, i) => all['f' + i](1)).reduce((a, b) => a + b, 0)"
    (root / "main.js").write_text(f"import * as all from './m0.js'; export const total = {total};")
    script.append("const all = {" + ", ".join(f"f{i}" for i in range(MODULES)) + "};")
    script.append(total)
    return "\n".join(script)


def module_graph() -> None:
    """Loading a 200-module graph from module_root vs evaluating the same code as one script,
    each on a fresh runtime (modules are cached per runtime)."""
    print(f"\n{MODULES}-module graph from module_root vs the same code as one script (fresh runtime each):")
    with tempfile.TemporaryDirectory() as directory:
        root = pathlib.Path(directory)
        script = write_module_graph(root)
        for backend in BACKENDS:
            def load_graph() -> object:
                with jscell.Runtime(jscell.RuntimeConfig(backend=backend, module_root=root)) as runtime:
                    return runtime.eval_module("./main.js")["total"]

            def one_script() -> object:
                with jscell.Runtime(jscell.RuntimeConfig(backend=backend)) as runtime:
                    return runtime.eval(script)

            assert load_graph() == one_script()
            modules, single = measure(load_graph), measure(one_script)
            print(f"  jscell {backend}: modules {duration(modules)}, one script {duration(single)}, ratio {ratio(modules, single)}")


STREAM_CHUNK = 64 * 1024
STREAM_CHUNKS = 1024
STREAM_BYTES = STREAM_CHUNK * STREAM_CHUNKS
STREAM_REPEATS = 5
# Per run; a run takes well under a second, so this only catches a stream that stalls.
STREAM_TIMEOUT = 15.0
# jscell only: a source allowed to run STREAM_AHEAD chunks ahead is pulled in batches.
STREAM_AHEAD = 16
STREAM_DIRECTIONS = ("Python → JS", "JS → Python", f"Python → JS, high_water_mark={STREAM_AHEAD}")
STREAM_READ = """async (stream) => {
  const reader = stream.getReader();
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return total;
    total += value.length;
  }
}"""
STREAM_MAKE = f"""() => {{
  const chunk = new Uint8Array({STREAM_CHUNK});
  let left = {STREAM_CHUNKS};
  return new ReadableStream({{
    pull(controller) {{ if (left-- > 0) controller.enqueue(chunk); else controller.close(); }},
  }});
}}"""


async def stream_chunks() -> AsyncIterator[bytes]:
    chunk = bytes(STREAM_CHUNK)
    for _ in range(STREAM_CHUNKS):
        yield chunk


async def python_to_js(runtime: object, read: object, **options: int) -> int:
    # The source stays referenced until JS has read it all: jsrun unregisters a source as soon
    # as its Python handle is collected ("Unknown Python stream id" for a temporary argument).
    # call_async, not read(source): jsrun's synchronous call holds the GIL until the function
    # returns or goes idle, and a read in its first turn needs the event loop that call blocks.
    source = runtime.stream_from_async_iterable(stream_chunks(), **options)
    return await read.call_async(source)


async def js_to_python(make: object) -> int:
    total = 0
    async for chunk in await make.call_async():
        total += len(chunk)
    return total


async def measure_stream(transfer: Callable[[], Awaitable[int]]) -> Timing:
    """Seconds per transfer of STREAM_BYTES: one warm-up run, then the median of STREAM_REPEATS.
    The first failure (an error, a wrong total, STREAM_TIMEOUT passing) ends the runs and fails
    the case."""
    samples = []
    for _ in range(1 + STREAM_REPEATS):
        start = time.perf_counter()
        try:
            total = await asyncio.wait_for(transfer(), STREAM_TIMEOUT)
            if total != STREAM_BYTES:
                raise ValueError(f"{total} bytes arrived, not {STREAM_BYTES}")
        except TimeoutError:
            return Timing(calls=1, errors=[TimeoutError(f"no end of stream after {STREAM_TIMEOUT:.0f} s")])
        except Exception as error:  # noqa: BLE001 - reported under the table
            return Timing(calls=1, errors=[error])
        samples.append(time.perf_counter() - start)
    return Timing(seconds=statistics.median(samples[1:]), calls=len(samples))


async def stream_library(new_runtime: Callable[[], object]) -> dict[str, Timing]:
    runtime = new_runtime()
    try:
        read, make = runtime.eval(STREAM_READ), runtime.eval(STREAM_MAKE)
        times = {
            STREAM_DIRECTIONS[0]: await measure_stream(lambda: python_to_js(runtime, read)),
            STREAM_DIRECTIONS[1]: await measure_stream(lambda: js_to_python(make)),
        }
        if isinstance(runtime, jscell.Runtime):
            ahead = lambda: python_to_js(runtime, read, high_water_mark=STREAM_AHEAD)  # noqa: E731
            times[STREAM_DIRECTIONS[2]] = await measure_stream(ahead)
        return times
    finally:
        runtime.close()


def throughput(timing: Timing | None) -> str:
    if timing is None:
        return "n/a"
    return "failed" if timing.failed else f"{STREAM_BYTES / timing.seconds / 1e6:.0f} MB/s"


def streaming() -> None:
    """64 MiB as 1024 chunks of 64 KiB, each way: Python → JS, an async generator of bytes
    (stream_from_async_iterable) read to the end by a JS reader; JS → Python, a ReadableStream
    enqueuing one preallocated Uint8Array per pull, read with async for. jscell/jsrun ratios are
    of throughput: above 1× jscell is faster."""
    libraries = [
        (f"jscell {backend}", lambda backend=backend: jscell.Runtime(jscell.RuntimeConfig(backend=backend)))
        for backend in BACKENDS
    ]
    libraries.append(("jsrun", jsrun.Runtime))
    print(
        f"\nstreaming {STREAM_BYTES >> 20} MiB as {STREAM_CHUNKS} chunks of {STREAM_CHUNK >> 10} KiB"
        f" (MB = 10^6 bytes; median of {STREAM_REPEATS} runs after a warm-up):"
    )
    # One library at a time, each on its own event loop.
    times = {name: asyncio.run(stream_library(new_runtime)) for name, new_runtime in libraries}
    jscells = [name for name, _ in libraries[:-1]]
    header = ["direction", *times, *(f"{name} / jsrun" for name in jscells)]
    rows = []
    for direction in STREAM_DIRECTIONS:
        row = [direction, *(throughput(times[name].get(direction)) for name in times)]
        row += [ratio(times["jsrun"].get(direction), times[name].get(direction)) for name in jscells]
        rows.append(row)
    print_table(header, rows)
    for name, by_direction in times.items():
        for direction, timing in by_direction.items():
            if timing.failed:
                error = timing.errors[-1]
                print(f"! {name}, {direction}: {type(error).__name__}: {error}")
    print("targets: jscell native >= 2× jsrun, jscell hardened >= 1× jsrun")


if __name__ == "__main__":
    main()
