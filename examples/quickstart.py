"""A quick tour of jscell: V8 JavaScript from Python. Run it with `cargo xtask demo`."""

import asyncio

import jscell


def basics() -> None:
    # The simplest call: a default runtime, made on first use.
    print("jscell.eval:", jscell.eval("1 + 1"))

    with jscell.Runtime() as rt:
        # JavaScript values come back as Python values: arrays as lists, objects as dicts, ...
        print("eval:", rt.eval("[1, 2, 3].map(x => x * 2)"))
        print("eval:", rt.eval("({ name: 'jscell', born: new Date(0), tags: new Set(['v8']) })"))

        # A Python function, callable from JavaScript like any other function.
        rt.bind_function("greet", lambda name: f"Hello, {name}!")
        print("bound function:", rt.eval("greet('JavaScript')"))

        # A JavaScript function comes back as a JsFunction: call it from Python.
        add = rt.eval("(a, b) => a + b")
        print("JsFunction:", add(2, 3))


async def async_calls() -> None:
    async def fetch_price(item: str) -> float:
        await asyncio.sleep(0.1)  # stands in for real I/O
        return {"apple": 1.25, "pear": 2.5}[item]

    with jscell.Runtime() as rt:
        # An async Python function becomes a Promise-returning JS function; eval_async awaits
        # the returned promise without blocking the event loop. Both fetches run concurrently.
        rt.bind_function("fetchPrice", fetch_price)
        total = await rt.eval_async("Promise.all([fetchPrice('apple'), fetchPrice('pear')]).then(([a, b]) => a + b)")
        print("eval_async:", total)


def limits() -> None:
    with jscell.Runtime() as rt:
        # A runaway script is stopped at its timeout; the runtime stays usable.
        try:
            rt.eval("while (true) {}", timeout=0.5)
        except jscell.ExecutionTimeout:
            print("timeout: caught jscell.ExecutionTimeout;", rt.eval("'the runtime still works'"))

    with jscell.Runtime(jscell.RuntimeConfig(max_serialization_depth=50)) as rt:
        # Values crossing into Python are bounded: too deep is a clear error, never a crash.
        try:
            rt.eval("let v = []; for (let i = 0; i < 100; i++) v = [v]; v")
        except jscell.SerializationError as error:
            print("depth limit:", error)

    with jscell.Runtime(jscell.RuntimeConfig(max_heap_size=64 << 20)) as rt:
        # Past its heap limit a runtime is terminated; the Python process carries on.
        try:
            rt.eval("const hog = []; while (true) hog.push(new Array(1e6).fill(1))")
        except jscell.RuntimeTerminated as error:
            print("heap limit:", error)


def hardened() -> None:
    # The same API, with V8 in a sandboxed child process: whatever the script does to its
    # process, this one carries on.
    with jscell.Runtime(jscell.RuntimeConfig(backend="hardened")) as rt:
        rt.add_static_module("greeting", "export const hello = name => `hello from the guest, ${name}`")
        print("hardened:", rt.eval_module("greeting")["hello"]("Python"))
        layers = rt.get_stats().sandbox_layers or {}
        print("sandbox layers active:", ", ".join(name for name, active in layers.items() if active))
    # A fresh runtime per untrusted job: warm guests (started ahead, already sandboxed) make
    # creating one cheaper.
    per_job = jscell.RuntimeConfig(backend="hardened", warm_guests=1)
    for job in ("6 * 7", "'ok'.toUpperCase()"):
        with jscell.Runtime(per_job) as rt:
            print("job:", rt.eval(job))


if __name__ == "__main__":
    basics()
    asyncio.run(async_calls())
    limits()
    hardened()
