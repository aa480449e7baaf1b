"""jscell side by side with jsrun, mini-racer and quickjs-rs, in one process.

Run it with `cargo xtask bench`, which builds jscell into .venv and installs the comparison
libraries from requirements-bench.txt. Each case is timed for each library in turn with
time.perf_counter: calls are repeated until one run lasts MIN_RUN seconds (those calibration runs
are the warm-up), then the median of REPEATS such runs is taken, as seconds per call.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import importlib.metadata
import json
import pathlib
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jscell
import jsrun
import quickjs_rs
from jscell._config import BACKENDS, Backend
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
    snapshots()


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


# Bundles from the npm registry, pinned: (package, version, file in its tarball, the tarball's
# dist.integrity as `npm view <package>@<version> dist.integrity` gives it). Downloaded once into
# BUNDLE_CACHE, checked against the integrity on every use.
BUNDLES = (
    (
        "lodash", "4.17.21", "package/lodash.min.js",
        "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==",
    ),
    (
        "marked", "15.0.12", "package/lib/marked.umd.js",
        "sha512-8dD6FusOQSrpv9Z1rdNMdlSgQOIP880DHqnohobOmYLElGEqAL/JvxvuxZO16r4HtjTlfPRDC1hbvxC9dPN2nA==",
    ),
)
BUNDLE_CACHE = pathlib.Path(__file__).resolve().parent.parent / "target" / "bench-js"
RENDER = 'marked.parse(_.template("# Hello <%= name %>\\n\\n* item")({name: "x"}))'
# Run once at build time too, so the code the render needs is compiled into the snapshot.
WARM_UP = [("warm-up.js", RENDER)]
RENDERED = "<h1>Hello x</h1>\n<ul>\n<li>item</li>\n</ul>\n"
SNAPSHOT_WARM = 2
SNAPSHOT_SPACED = 40


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def npm_file(package: str, version: str, member: str, expected: str) -> str:
    """One file of a pinned npm tarball, fetched into BUNDLE_CACHE unless it is there already."""
    BUNDLE_CACHE.mkdir(parents=True, exist_ok=True)
    tarball = BUNDLE_CACHE / f"{package}-{version}.tgz"
    if not tarball.exists() or integrity(tarball.read_bytes()) != expected:
        url = f"https://registry.npmjs.org/{package}/-/{package}-{version}.tgz"
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        if integrity(data) != expected:
            raise ValueError(f"{url}: {integrity(data)} is not npm's dist.integrity {expected}")
        partial = tarball.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(tarball)
    with tarfile.open(tarball) as archive:
        file = archive.extractfile(member)
        assert file is not None, f"{member} is not a file in {tarball}"
        return file.read().decode()


def render_in_new_runtime(new_runtime: Callable[[], Any], scripts: list[tuple[str, str]], created: list[float]) -> Callable[[], None]:
    """Create a runtime, evaluate ``scripts`` in it (none when it starts from a snapshot), run one
    render, check it, close; how long creating the runtime took goes to ``created``."""

    def op() -> None:
        start = time.perf_counter()
        runtime = new_runtime()
        created.append(time.perf_counter() - start)
        try:
            for _, source in scripts:
                runtime.eval(source)
            html = runtime.eval(RENDER)
        finally:
            runtime.close()
        if html != RENDERED:
            raise ValueError(f"rendered {html!r}, not {RENDERED!r}")

    return op


def measure_spaced(op: Callable[[], object]) -> Timing:
    """Median of SNAPSHOT_SPACED calls, one every WARM_SPACING (as requests arrive), so a warm
    pool refills in between; the first call, untimed, starts the pool."""
    op()
    time.sleep(0.2)
    timing, samples = Timing(), []
    for _ in range(SNAPSHOT_SPACED):
        time.sleep(WARM_SPACING)
        start = time.perf_counter()
        try:
            op()
        except Exception as error:  # noqa: BLE001 - reported under the table
            timing.errors.append(error)
        samples.append(time.perf_counter() - start)
    timing.calls, timing.seconds = len(samples), statistics.median(samples)
    return timing


def checked(op: Callable[[], object], spaced: bool) -> Timing:
    """One call first: a library whose path raises (or renders the wrong thing) fails the case
    with that reason rather than being timed."""
    try:
        op()
    except Exception as error:  # noqa: BLE001 - reported under the table
        return Timing(calls=1, errors=[error])
    return measure_spaced(op) if spaced else measure(op)


def bundle_scripts() -> list[tuple[str, str]]:
    """(file name, source) of each bundle, in the order they are evaluated."""
    return [(pathlib.PurePosixPath(bundle[2]).name, npm_file(*bundle)) for bundle in BUNDLES]


def build_snapshot(builder: Any, scripts: list[tuple[str, str]]) -> tuple[bytes | None, float, Exception | None]:
    start = time.perf_counter()
    try:
        for name, source in scripts:
            builder.execute_script(name, source)
        snapshot = builder.build()
    except Exception as error:  # noqa: BLE001 - reported under the table
        return None, 0.0, error
    return snapshot, time.perf_counter() - start, None


# jsrun 0.3.0 now and then aborts the whole process (libc++ hardening assertion, a vector index
# out of bounds in V8) as it starts a runtime from a custom snapshot, even a trivial one, in a
# process that has also made a few dozen plain runtimes. So jsrun's (a) and (b) each run in a
# process of their own, which ends in JSRUN_TIMEOUT at the latest.
JSRUN_TIMEOUT = 60


def jsrun_snapshot_case(case: str) -> None:
    """In a child process (see jsrun_case): time jsrun's (a) or (b), print the result as JSON."""
    scripts = bundle_scripts()
    snapshot, build, error = None, 0.0, None
    if case == "b":
        snapshot, build, error = build_snapshot(jsrun.SnapshotBuilder(), scripts + WARM_UP)
    created: list[float] = []
    if error is not None:
        timing = Timing(calls=1, errors=[error])
    else:
        new_runtime = lambda: jsrun.Runtime(jsrun.RuntimeConfig(snapshot=snapshot))  # noqa: E731
        timing = checked(render_in_new_runtime(new_runtime, scripts if case == "a" else [], created), spaced=False)
    result = {
        "seconds": timing.seconds,
        "calls": timing.calls,
        "errors": [[type(error).__name__, str(error)] for error in timing.errors[-1:]],
        "error_count": len(timing.errors),
        "created": statistics.median(created) if created else None,
        "size": len(snapshot) if snapshot else None,
        "build": build,
    }
    print(json.dumps(result))


def jsrun_case(case: str) -> tuple[Timing, dict[str, Any]]:
    """jsrun's (a) or (b) timed in a child process: a crash or a hang fails the case, with why."""
    bench_dir = str(pathlib.Path(__file__).resolve().parent)
    code = f"import sys; sys.path.insert(0, {bench_dir!r}); import bench; bench.jsrun_snapshot_case({case!r})"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=JSRUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Timing(calls=1, errors=[TimeoutError(f"no result after {JSRUN_TIMEOUT} s")]), {}
    if done.returncode != 0:
        died = f"was killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"exited with {done.returncode}"
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return Timing(calls=1, errors=[ChildProcessError(f"the process {died}: {last}")]), {}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    errors = [type(name, (Exception,), {})(message) for name, message in result["errors"]]
    errors = errors * result["error_count"] if errors else []
    return Timing(seconds=result["seconds"], calls=result["calls"], errors=errors), result


def snapshots() -> None:
    """Create a runtime with marked + lodash loaded and run one render: (a) evaluating the two
    bundles in each new runtime, (b) starting it from a snapshot that has them loaded. The UMD
    bundles need no shim in a plain script: with no module, exports or define, marked attaches
    to globalThis (its first choice) and lodash to Function('return this')(), on V8 and QuickJS
    alike, at build time and in a runtime."""
    try:
        scripts = bundle_scripts()
    except Exception as error:  # noqa: BLE001 - the rest of the bench has run; say why not this
        print(f"\nsnapshots: skipped, the bundles could not be fetched ({type(error).__name__}: {error})")
        return
    # One V8 snapshot for both V8 backends.
    v8, v8_build, v8_error = build_snapshot(jscell.SnapshotBuilder(backend="native"), scripts + WARM_UP)
    wasm, wasm_build, wasm_error = build_snapshot(jscell.SnapshotBuilder(backend="wasm"), scripts + WARM_UP)

    def config(backend: Backend, snapshot: bytes | None, warm: int = 0) -> Callable[[], Any]:
        return lambda: jscell.Runtime(jscell.RuntimeConfig(backend=backend, snapshot=snapshot, warm_guests=warm))

    warm_name = f"jscell hardened, warm_guests={SNAPSHOT_WARM}, one every {WARM_SPACING * 1000:.0f} ms"
    # (name, new runtime for (a), new runtime for (b) or why there is none, spaced)
    libraries = [
        ("jscell native", config("native", None), v8_error or config("native", v8), False),
        ("jscell hardened", config("hardened", None), v8_error or config("hardened", v8), False),
        (warm_name, config("hardened", None, SNAPSHOT_WARM), v8_error or config("hardened", v8, SNAPSHOT_WARM), True),
        ("jscell wasm", config("wasm", None), wasm_error or config("wasm", wasm), False),
    ]
    print(
        "\ncreate a runtime with marked + lodash loaded, run one render, close: (a) evaluating the"
        " bundles in each new runtime, (b) from a snapshot that has them loaded"
        f" ({', '.join(f'{package} {version} {pathlib.PurePosixPath(member).name}' for package, version, member, _ in BUNDLES)}):"
    )
    times: dict[str, tuple[Timing, Timing, Timing | None]] = {}
    for name, plain, from_snapshot, spaced in libraries:
        created: list[float] = []
        fresh = checked(render_in_new_runtime(plain, scripts, []), spaced)
        if isinstance(from_snapshot, Exception):
            restored = Timing(calls=1, errors=[from_snapshot])
        else:
            restored = checked(render_in_new_runtime(from_snapshot, [], created), spaced)
        creation = Timing(seconds=statistics.median(created), calls=len(created)) if created and not restored.failed else None
        times[name] = (fresh, restored, creation)
    (fresh, _), (restored, rival) = jsrun_case("a"), jsrun_case("b")
    creation = Timing(seconds=rival["created"], calls=1) if rival.get("created") is not None and not restored.failed else None
    times["jsrun (each case in its own process)"] = (fresh, restored, creation)

    sizes: list[tuple[str, int | None, float]] = [
        ("jscell V8", len(v8) if v8 else None, v8_build),
        ("jscell wasm", len(wasm) if wasm else None, wasm_build),
    ]
    sizes.append(("jsrun", rival.get("size"), rival.get("build", 0.0)))
    print(
        "snapshots: "
        + ", ".join(
            f"{name} {size / 1e6:.2f} MB (built in {build * 1000:.0f} ms)" if size else f"{name} failed"
            for name, size, build in sizes
        )
        + "; the V8 one, built with backend='native', serves native and hardened"
    )
    header = ["library", "(a) evaluate bundles", "(b) from snapshot", "(a) / (b)", "(b): Runtime() alone"]
    rows = [[name, duration(a), duration(b), ratio(a, b), duration(c)] for name, (a, b, c) in times.items()]
    print_table(header, rows)
    for name, (fresh, restored, _) in times.items():
        for case, timing in (("(a)", fresh), ("(b)", restored)):
            if timing.errors:
                error = timing.errors[-1]
                print(f"! {name} {case}: {len(timing.errors)} of {timing.calls} calls raised, e.g. {type(error).__name__}: {error}")
    native, warm = times["jscell native"], times[warm_name]
    print(
        f"targets: (b) at least 5× faster than (a) on native (now {ratio(native[0], native[1])});"
        f" a hardened runtime from a warm pool with a snapshot ready in under 5 ms (now {duration(warm[2])}"
        f" for Runtime(), {duration(warm[1])} with the render and close)"
    )


if __name__ == "__main__":
    main()
