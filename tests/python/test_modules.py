"""ES modules: every import is granted by the host (static modules, a resolver, a loader, files
under module_root), on every backend."""

from __future__ import annotations

import asyncio
import os

import pytest

import jscell
from conftest import engine_differs
from jscell import bounds


@pytest.fixture
def tree(tmp_path):
    """A module root with a few files, and a secret file beside it (outside the root)."""
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "main.js").write_text("import { twice } from './lib/math.js'; export const answer = twice(21);")
    (root / "lib" / "math.js").write_text("export const twice = x => x * 2; export { twice as double };")
    (root / "data.json").write_text('{"items": [1, 2, 3]}')
    (root / "meta.js").write_text("export const url = import.meta.url;")
    (tmp_path / "secret.js").write_text("export const secret = 'TOP SECRET';")
    os.symlink(tmp_path / "secret.js", root / "link.js")
    return root


def test_eval_module_returns_the_namespace_with_functions_as_jsfunctions(runtime):
    runtime.add_static_module("lib", "export const n = 1; export function inc(x) { return x + 1 }")
    namespace = runtime.eval_module("lib")
    assert namespace["n"] == 1
    assert isinstance(namespace["inc"], jscell.JsFunction) and namespace["inc"](41) == 42


def test_static_modules_import_by_bare_name_and_static_prefix(runtime):
    runtime.add_static_module("util", "export const name = 'util'")
    runtime.add_static_module("app", "import { name } from 'util'; import * as u from 'static:util'; export const both = name + u.name;")
    assert runtime.eval_module("static:app") == {"both": "utilutil"}


async def test_eval_module_async_returns_the_namespace(runtime):
    runtime.add_static_module("lib", "export default 7")
    assert await runtime.eval_module_async("lib") == {"default": 7}


def test_dynamic_import_from_a_script_and_from_a_module(runtime):
    runtime.add_static_module("leaf", "export const value = 'leaf'")
    runtime.add_static_module("branch", "export const load = () => import('leaf').then(m => m.value)")
    assert runtime.eval("import('leaf').then(m => m.value)") == "leaf"
    assert runtime.eval("import('branch').then(m => m.load())") == "leaf"


def test_top_level_await(runtime):
    runtime.add_static_module("slow", "export const v = await new Promise(r => setTimeout(() => r('waited'), 10));")
    assert runtime.eval_module("slow") == {"v": "waited"}


def test_each_module_is_evaluated_once_per_runtime(runtime):
    runtime.add_static_module("counted", "globalThis.evaluations = (globalThis.evaluations ?? 0) + 1; export const x = 1;")
    runtime.add_static_module("a", "import 'counted'; export const a = 1;")
    runtime.add_static_module("b", "import 'counted'; import 'a'; export const b = 1;")
    runtime.eval_module("a")
    runtime.eval_module("b")
    runtime.eval_module("counted")
    runtime.eval("import('counted')")
    assert runtime.eval("evaluations") == 1


def test_cyclic_modules_evaluate_per_spec(runtime):
    runtime.add_static_module("even", "import { odd } from 'odd'; export const even = n => n === 0 || odd(n - 1);")
    runtime.add_static_module("odd", "import { even } from 'even'; export const odd = n => n !== 0 && even(n - 1);")
    assert runtime.eval_module("even")["even"](10) is True
    assert runtime.eval("import('odd').then(m => m.odd(7))") is True


def test_files_load_from_module_root_with_relative_and_absolute_specifiers(make_runtime, tree):
    runtime = make_runtime(module_root=tree)
    assert runtime.eval_module("./main.js") == {"answer": 42}
    assert runtime.eval_module("/lib/math.js")["double"](4) == 8


def test_import_meta_url_names_the_module_inside_the_root(make_runtime, tree):
    runtime = make_runtime(module_root=tree)
    assert runtime.eval_module("./meta.js") == {"url": "file:///meta.js"}


def test_json_modules_via_import_attributes(make_runtime, tree):
    runtime = make_runtime(module_root=tree)
    assert runtime.eval("import('./data.json', { with: { type: 'json' } }).then(m => m.default.items)") == [1, 2, 3]
    runtime.add_static_module("reader", "import data from './data.json' with { type: 'json' }; export const n = data.items.length;")
    assert runtime.eval_module("reader") == {"n": 3}


@pytest.mark.parametrize(
    "specifier",
    ["../secret.js", "/etc/passwd", "./link.js", "%2e%2e/secret.js", "./a\x00b.js", "file:///../secret.js", "/../secret.js"],
)
def test_nothing_outside_module_root_is_reachable(make_runtime, tree, specifier):
    runtime = make_runtime(module_root=tree)
    with pytest.raises(jscell.JavaScriptError) as caught:
        runtime.eval_module(specifier)
    assert "TOP SECRET" not in str(caught.value)
    assert "secret" in str(caught.value) or "passwd" in str(caught.value) or "link" in str(caught.value) or "NUL" in str(caught.value)


def test_a_dynamic_import_escape_is_a_catchable_error(make_runtime, tree):
    runtime = make_runtime(module_root=tree)
    assert runtime.eval("import('../secret.js').then(() => 'loaded', e => e.name)") == "TypeError"


def test_a_missing_export_is_a_syntax_error_naming_it(runtime):
    runtime.add_static_module("lib", "export const present = 1;")
    runtime.add_static_module("app", "import { absent } from 'lib';")
    with pytest.raises(jscell.JavaScriptError, match="absent"):
        runtime.eval_module("app")


def test_with_nothing_configured_every_import_fails_clearly(runtime):
    with pytest.raises(jscell.JavaScriptError, match="cannot resolve module 'anything'"):
        runtime.eval_module("anything")
    assert runtime.eval("import('anything').then(() => 'loaded', e => e.message)").startswith("cannot resolve module")


def test_a_resolver_maps_specifiers_and_falls_back_on_none(runtime):
    runtime.add_static_module("real", "export const v = 'real'")
    runtime.set_module_resolver(lambda specifier, referrer: "static:real" if specifier == "alias" else None)
    assert runtime.eval_module("alias") == {"v": "real"}
    assert runtime.eval_module("real") == {"v": "real"}


def test_a_resolver_sees_the_referrer(runtime):
    seen = []

    def resolver(specifier, referrer):
        seen.append((specifier, referrer))
        return None

    runtime.add_static_module("inner", "export const x = 1")
    runtime.add_static_module("outer", "import 'inner';")
    runtime.set_module_resolver(resolver)
    runtime.eval_module("outer")
    assert ("inner", "static:outer") in seen


def test_a_raising_resolver_or_loader_surfaces_its_python_error(runtime):
    runtime.set_module_resolver(lambda specifier, referrer: 1 / 0)
    with pytest.raises(jscell.JavaScriptError, match="ZeroDivisionError: division by zero"):
        runtime.eval_module("x")
    runtime.set_module_resolver(lambda specifier, referrer: None)

    def loader(specifier):
        raise FileNotFoundError(f"no {specifier}")

    runtime.set_module_loader(loader)
    with pytest.raises(jscell.JavaScriptError, match="FileNotFoundError: no y"):
        runtime.eval_module("y")


def test_a_loader_must_return_source_text(runtime):
    runtime.set_module_loader(lambda specifier: 42)
    with pytest.raises(jscell.JavaScriptError, match="must return the module source as a str, not int"):
        runtime.eval_module("numbers")


def test_a_resolver_must_return_a_url_or_none(runtime):
    runtime.set_module_resolver(lambda specifier, referrer: ["not", "a", "url"])
    with pytest.raises(jscell.JavaScriptError, match="str or None, not list"):
        runtime.eval_module("x")


def test_a_sync_loader_serves_any_specifier(runtime):
    sources = {"config": "export default {debug: true}", "main": "import c from 'config'; export const debug = c.debug;"}
    runtime.set_module_loader(lambda specifier: sources[specifier])
    assert runtime.eval_module("main") == {"debug": True}


async def test_async_loaders_resolving_out_of_order_give_the_right_graph(runtime, backend):
    finished = []
    delays = {"a": 0.06, "b": 0.01, "c": 0.03}

    async def loader(specifier):
        if specifier == "root":
            return "import { a } from 'a'; import { b } from 'b'; import { c } from 'c'; export const all = a + b + c;"
        await asyncio.sleep(delays[specifier])
        finished.append(specifier)
        return f"export const {specifier} = '{specifier}';"

    runtime.set_module_loader(loader)
    assert await runtime.eval_module_async("root", timeout=10) == {"all": "abc"}
    if not engine_differs(backend, "module fetch order"):
        assert finished == ["b", "c", "a"]


def test_an_async_loader_needs_an_async_call(runtime):
    async def loader(specifier):
        return "export default 1"

    runtime.set_module_loader(loader)
    with pytest.raises(jscell.JavaScriptError, match="event loop"):
        runtime.eval_module("x")


def make_graph(root, size=200):
    """A module graph: each module re-exports the next (export *), imports its neighbours in a
    cycle, and contributes its number; main sums them. Returns the expected sum."""
    for i in range(size):
        lines = [f"export const n{i} = {i};"]
        if i + 1 < size:
            lines.append(f"export * from './m{i + 1}.js';")
        lines.append(f"import * as previous from './m{(i - 1) % size}.js';")
        lines.append(f"export const previousName = () => Object.keys(previous).length;")
        (root / f"m{i}.js").write_text("\n".join(lines))
    (root / "main.js").write_text(
        "import * as all from './m0.js';\n"
        f"export const total = Array.from({{length: {size}}}, (_, i) => all['n' + i]).reduce((a, b) => a + b, 0);"
    )
    return sum(range(size))


def test_a_two_hundred_module_graph_with_cycles_and_reexports_loads_from_the_root(make_runtime, tmp_path):
    expected = make_graph(tmp_path)
    runtime = make_runtime(module_root=tmp_path)
    assert runtime.eval_module("./main.js", timeout=60) == {"total": expected}


def test_a_module_importing_more_modules_than_are_fetched_at_once_loads(runtime):
    """At most bounds.MAX_MODULE_LOADS fetches are in flight; the rest wait their turn."""
    count = bounds.MAX_MODULE_LOADS + 44
    for i in range(count):
        runtime.add_static_module(f"m{i}", f"export default {i}")
    imports = "".join(f"import m{i} from 'm{i}';" for i in range(count))
    runtime.add_static_module("main", imports + f"export const total = {' + '.join(f'm{i}' for i in range(count))};")
    assert runtime.eval_module("main")["total"] == sum(range(count))


def test_the_module_urls_a_runtime_resolves_are_bounded_by_its_value_limit(make_runtime):
    runtime = make_runtime(max_serialization_bytes=64 << 10)
    loaded = []
    runtime.set_module_loader(lambda url: loaded.append(url) or "export default 1")
    source = """
        (async () => {
            const stem = 'm'.repeat(4096);
            for (let i = 0; ; i++) {
                try { await import(stem + i) } catch (e) { return [i, `${e.name}: ${e.message}`] }
            }
        })()
    """
    resolved, error = runtime.eval(source, timeout=30)
    # Each URL is charged its length and bounds.MODULE_URL_OVERHEAD against the limit.
    assert resolved == (64 << 10) // (4096 + 2 + bounds.MODULE_URL_OVERHEAD)
    assert error.startswith("RangeError: cannot resolve module") and "distinct module URLs" in error
    assert len(loaded) == resolved
