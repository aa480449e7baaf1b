"""Startup snapshots: `SnapshotBuilder` runs scripts once, `RuntimeConfig(snapshot=...)` starts
runtimes from the heap they left, on every backend; bytes that are not a sound snapshot for the
runtime's engine are refused before any engine sees them."""

from __future__ import annotations

import pickle

import pytest

import jscell
from conftest import engine_differs

LIBRARY = """
const counter = (() => { let count = 0; return () => ++count; })();
globalThis.library = { counter, greet: (name) => `hello ${name}`, data: { list: [1, 2, 3] } };
"""


def build(backend: str, *scripts: str, **options: object) -> bytes:
    builder = jscell.SnapshotBuilder(backend=backend, **options)  # type: ignore[arg-type]
    for index, script in enumerate(scripts):
        builder.execute_script(f"build{index}.js", script)
    return builder.build()


@pytest.fixture(scope="module")
def snapshots() -> dict[str, bytes]:
    """One library snapshot per engine: V8's serves native and hardened."""
    v8 = build("native", LIBRARY)
    return {"native": v8, "hardened": v8, "wasm": build("wasm", LIBRARY)}


def test_globals_functions_and_closures_survive(make_runtime, backend: str, snapshots: dict[str, bytes]) -> None:
    rt = make_runtime(snapshot=snapshots[backend])
    assert rt.eval("[library.counter(), library.counter(), library.greet('you'), library.data.list]") == [
        1,
        2,
        "hello you",
        [1, 2, 3],
    ]


def test_each_runtime_starts_from_the_snapshot_not_from_another_runtime(make_runtime, backend: str, snapshots: dict[str, bytes]) -> None:
    first = make_runtime(snapshot=snapshots[backend])
    first.eval("library.counter(); library.data.list.push(4); globalThis.leaked = true")
    second = make_runtime(snapshot=snapshots[backend])
    assert second.eval("[library.counter(), library.data.list.length, typeof leaked]") == [1, 3, "undefined"]


def test_bootstrap_host_functions_and_streams_come_after_the_snapshot(make_runtime, backend: str, snapshots: dict[str, bytes]) -> None:
    rt = make_runtime(snapshot=snapshots[backend], bootstrap="globalThis.seen = library.greet('bootstrap')")
    rt.bind_function("twice", lambda x: x * 2)
    assert rt.eval("[seen, twice(21), typeof setTimeout, typeof ReadableStream]") == ["hello bootstrap", 42, "function", "function"]
    assert rt.eval("new TextDecoder().decode(new TextEncoder().encode('ü'))") == "ü"


async def test_streams_work_in_a_runtime_from_a_snapshot(make_runtime, backend: str, snapshots: dict[str, bytes]) -> None:
    rt = make_runtime(snapshot=snapshots[backend])

    async def chunks():
        yield b"ab"
        yield b"c"

    count = rt.eval("async (s) => { let n = 0; for await (const c of s) n += c.length; return n }")
    assert await count.call_async(rt.stream_from_async_iterable(chunks())) == 3
    stream = await rt.eval_async("ReadableStream.from([library.greet('stream')])")
    assert [chunk async for chunk in stream] == ["hello stream"]


def test_web_globals_made_at_build_time_are_the_runtimes_own(make_runtime, backend: str) -> None:
    snapshot = build(backend, "globalThis.made = new ReadableStream({ start(c) { c.enqueue(1); c.close() } })")
    rt = make_runtime(snapshot=snapshot)
    assert rt.eval("made instanceof ReadableStream") is True


def test_what_belongs_to_a_runtime_is_not_there_at_build_time(backend: str) -> None:
    for script in ("setTimeout(() => {}, 1)", "__host_op_sync__(0)", "queueMicrotask(() => {})"):
        with pytest.raises(jscell.JavaScriptError) as caught:
            build(backend, script)
        assert caught.value.name == "ReferenceError"
        if not engine_differs(backend, "error wording"):
            assert "is not defined" in str(caught.value)


def test_a_build_script_that_throws_or_runs_away_fails_the_build(backend: str) -> None:
    with pytest.raises(jscell.JavaScriptError, match="broken library"):
        build(backend, "throw new Error('broken library')")
    with pytest.raises(jscell.ExecutionTimeout):
        build(backend, "for (;;) {}", timeout=0.2)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s[: len(s) // 2], "truncated or corrupted"),
        (lambda s: s[:-1], "truncated or corrupted"),
        (lambda s: s[:40] + bytes([s[40] ^ 1]) + s[41:], "truncated or corrupted"),
        (lambda s: s[:-10] + bytes(b ^ 0xFF for b in s[-10:]), "truncated or corrupted"),
        (lambda s: b"definitely not a snapshot", "not a jscell snapshot"),
        (lambda s: b"", "not a jscell snapshot"),
    ],
)
def test_damaged_bytes_are_refused_before_the_engine_sees_them(backend: str, snapshots: dict[str, bytes], damage, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jscell.RuntimeConfig(backend=backend, snapshot=damage(snapshots[backend]))


def test_a_snapshot_for_the_other_engine_is_refused_naming_both(backend: str, snapshots: dict[str, bytes]) -> None:
    other = snapshots["wasm"] if backend != "wasm" else snapshots["native"]
    with pytest.raises(ValueError, match="built for .*; this runtime is ") as caught:
        jscell.RuntimeConfig(backend=backend, snapshot=other)
    assert "V8" in str(caught.value) and "QuickJS" in str(caught.value)


def test_a_snapshot_larger_than_the_runtimes_heap_is_refused(make_runtime, backend: str) -> None:
    big = build(backend, "globalThis.blob = Array.from({ length: 3e6 }, (_, i) => i)", max_heap_size=512 << 20)
    with pytest.raises(ValueError, match="does not fit this runtime's max_heap_size"):
        jscell.RuntimeConfig(backend=backend, snapshot=big, max_heap_size=8 << 20)
    # Built with a large limit, small enough for a small one: the runtime's own limit holds.
    small = build(backend, LIBRARY, max_heap_size=512 << 20)
    rt = make_runtime(snapshot=small, max_heap_size=16 << 20)
    assert rt.eval("library.counter()") == 1


def test_snapshots_are_plain_bytes(make_runtime, backend: str, snapshots: dict[str, bytes]) -> None:
    snapshot = snapshots[backend]
    assert isinstance(snapshot, bytes)
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot
    rt = make_runtime(snapshot=memoryview(bytearray(snapshot)))
    assert rt.eval("library.greet('copy')") == "hello copy"
    with pytest.raises(TypeError, match="snapshot must be bytes"):
        jscell.RuntimeConfig(backend=backend, snapshot="not bytes")  # type: ignore[arg-type]


def test_bad_builder_arguments_are_refused(backend: str) -> None:
    builder = jscell.SnapshotBuilder(backend=backend)
    with pytest.raises(TypeError, match="code must be a str"):
        builder.execute_script("x.js", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a str"):
        builder.execute_script(None, "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        jscell.SnapshotBuilder(backend="nonsense")  # type: ignore[arg-type]


def test_warm_guests_start_from_the_snapshot_too(snapshots: dict[str, bytes]) -> None:
    """The snapshot travels with the engine's configuration, so a warm guest takes it too."""
    for _ in range(3):
        with jscell.Runtime(jscell.RuntimeConfig(backend="hardened", snapshot=snapshots["hardened"], warm_guests=1)) as rt:
            assert rt.eval("library.counter()") == 1


def test_a_jitless_guest_refuses_a_snapshot_made_with_the_jit(snapshots: dict[str, bytes]) -> None:
    with pytest.raises(ValueError, match=r"\(JIT\); this runtime is .*\(jitless\)"):
        jscell.RuntimeConfig(backend="hardened", snapshot=snapshots["hardened"], jitless=True)
