//! The engine alone, driven through its inbox on its own thread, with a recording host.

// A test: an unwrap that fails is a test that fails.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jscell_engine::{
    start_engine_thread, unwrapped, AsyncReply, ConsoleLevel, ConversionError, ConversionLimits, EngineConfig, EngineError,
    EngineHandle, Host, HostError, HostFunctionId, InboxWaiter, JsException, ModuleReply, Request, Response, TerminationReason,
    Value, Wait,
};

/// Doubles numbers synchronously (id 1), echoes asynchronously from another thread (id 2),
/// and serves modules from a map: `mem:NAME` answered at once, `slow:NAME` from a thread.
#[derive(Default, Clone)]
struct TestHost {
    console: Arc<Mutex<Vec<(ConsoleLevel, String)>>>,
    modules: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

impl TestHost {
    fn with_modules(modules: &[(&str, &str)]) -> Self {
        let host = TestHost::default();
        host.modules.lock().unwrap().extend(modules.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        host
    }
}

impl Host for TestHost {
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError> {
        match (function.0, args.as_slice()) {
            (1, [Value::Int(n)]) => Ok(Value::Int(n * 2)),
            _ => Err(HostError::type_error(format!("no such op {}", function.0))),
        }
    }

    fn call_async(&self, _function: HostFunctionId, args: Vec<Value>, reply: AsyncReply) {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            reply.resolve(Ok(Value::Array(args)));
        });
    }

    fn resolve_module(&self, specifier: &str, _referrer: &str) -> Result<String, HostError> {
        let name = specifier.trim_start_matches("./");
        if name.starts_with("slow:") || name.starts_with("mem:") {
            Ok(name.to_string())
        } else if self.modules.lock().unwrap().contains_key(name) {
            Ok(format!("mem:{name}"))
        } else {
            Err(HostError::type_error(format!("cannot resolve '{specifier}'")))
        }
    }

    fn load_module(&self, url: &str, reply: ModuleReply) {
        let (delay, name) = match url.split_once(':') {
            Some(("slow", name)) => (Some(Duration::from_millis(5 * (name.len() as u64 % 4))), name.to_string()),
            Some((_, name)) => (None, name.to_string()),
            None => (None, url.to_string()),
        };
        let source = self.modules.lock().unwrap().get(&name).cloned();
        let answer = move || reply.resolve(source.ok_or_else(|| HostError::error(format!("no module {name}"))));
        match delay {
            Some(delay) => drop(std::thread::spawn(move || {
                std::thread::sleep(delay);
                answer()
            })),
            None => answer(),
        }
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        self.console.lock().unwrap().push((level, message));
    }

    fn uncaught_exception(&self, _exception: JsException) {}

    fn release_grants(&self, _grants: Vec<HostFunctionId>) {}
}

fn start(config: EngineConfig, host: TestHost) -> EngineHandle {
    let (handle, _thread) = start_engine_thread("test-engine", config, Box::new(host), InboxWaiter, unwrapped).expect("engine starts");
    handle
}

fn request(handle: &EngineHandle, request: Request) -> Result<Response, EngineError> {
    let (tx, rx) = mpsc::channel();
    handle.send(request, Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap()
}

fn eval_with(handle: &EngineHandle, source: &str, timeout: Option<Duration>) -> Result<Value, EngineError> {
    match request(handle, Request::Eval { source: source.into(), timeout, wait: Wait::Blocking })? {
        Response::Value(v) => Ok(v.expand(ConversionLimits::default())?),
        other => panic!("unexpected {other:?}"),
    }
}

fn eval(handle: &EngineHandle, source: &str) -> Result<Value, EngineError> {
    eval_with(handle, source, None)
}

fn engine() -> EngineHandle {
    start(EngineConfig::default(), TestHost::default())
}

#[test]
fn evaluates_scripts_and_keeps_globals() {
    let e = engine();
    assert_eq!(eval(&e, "1 + 1").unwrap(), Value::Int(2));
    eval(&e, "globalThis.x = 'kept'").unwrap();
    assert_eq!(eval(&e, "x").unwrap(), Value::String("kept".into()));
    assert_eq!(eval(&e, "0.5").unwrap(), Value::Float(0.5));
    assert_eq!(
        eval(&e, "({b: 1, a: [true, null, undefined]})").unwrap(),
        Value::Object(vec![
            ("b".into(), Value::Int(1)),
            ("a".into(), Value::Array(vec![Value::Bool(true), Value::Null, Value::Undefined])),
        ])
    );
}

#[test]
fn awaits_promises_timers_and_async_host_calls() {
    let e = engine();
    assert_eq!(eval(&e, "Promise.resolve(7)").unwrap(), Value::Int(7));
    assert_eq!(eval(&e, "new Promise(r => setTimeout(() => r('late'), 20))").unwrap(), Value::String("late".into()));
    assert_eq!(eval(&e, "__host_op_async__(2, 'a').then(v => v[0] + '!')").unwrap(), Value::String("a!".into()));
    assert_eq!(eval(&e, "__host_op_sync__(1, 21)").unwrap(), Value::Int(42));
    let order = "(async () => { const seen = []; queueMicrotask(() => seen.push('micro')); \
                 await new Promise(r => setTimeout(r, 1)); seen.push('timer'); return seen.join(); })()";
    assert_eq!(eval(&e, order).unwrap(), Value::String("micro,timer".into()));
}

#[test]
fn intervals_repeat_until_cleared() {
    let e = engine();
    let source = "new Promise(r => { let n = 0; const id = setInterval(() => { if (++n === 3) { clearInterval(id); r(n); } }, 1); })";
    assert_eq!(eval(&e, source).unwrap(), Value::Int(3));
}

#[test]
fn a_promise_nothing_can_settle_fails_a_blocking_caller() {
    let e = engine();
    assert_eq!(eval(&e, "new Promise(() => {})").unwrap_err(), EngineError::Stalled);
}

#[test]
fn exceptions_carry_name_message_and_frames() {
    let e = engine();
    let EngineError::JavaScript(ex) = eval(&e, "function f() { throw new TypeError('bad') }\nf()").unwrap_err() else { panic!() };
    assert_eq!((ex.name.as_str(), ex.message.as_str()), ("TypeError", "bad"));
    assert!(ex.stack.unwrap().contains("at f"));
    assert_eq!(ex.frames[0].function_name.as_deref(), Some("f"));
    assert_eq!(ex.frames[0].line_number, Some(1));
    let EngineError::JavaScript(ex) = eval(&e, "throw 42").unwrap_err() else { panic!() };
    assert_eq!((ex.name.as_str(), ex.message.as_str()), ("Uncaught", "42"));
    let EngineError::JavaScript(ex) = eval(&e, "let = ;").unwrap_err() else { panic!() };
    assert_eq!(ex.name, "SyntaxError");
    assert_eq!(ex.frames[0].line_number, Some(1));
    let EngineError::JavaScript(ex) = eval(&e, "Promise.reject(new RangeError('r'))").unwrap_err() else { panic!() };
    assert_eq!(ex.name, "RangeError");
}

#[test]
fn timeouts_stop_the_script_and_the_runtime_keeps_working() {
    let e = engine();
    let err = eval_with(&e, "while (true) {}", Some(Duration::from_millis(50))).unwrap_err();
    assert!(matches!(err, EngineError::Timeout(_)), "{err:?}");
    let err = eval_with(&e, "new Promise(r => setTimeout(r, 10_000))", Some(Duration::from_millis(50))).unwrap_err();
    assert!(matches!(err, EngineError::Timeout(_)), "{err:?}");
    assert_eq!(eval(&e, "1 + 2").unwrap(), Value::Int(3));
}

#[test]
fn terminate_stops_running_code_and_refuses_more() {
    let e = engine();
    let killer = e.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        killer.terminate(TerminationReason::Requested);
    });
    let err = eval(&e, "for (;;) {}").unwrap_err();
    assert_eq!(err, EngineError::Terminated(TerminationReason::Requested));
    assert_eq!(eval(&e, "1").unwrap_err(), EngineError::Terminated(TerminationReason::Requested));
}

#[test]
fn the_heap_limit_terminates_the_runtime_not_the_process() {
    let config = EngineConfig { max_heap_size: Some(64 << 20), ..Default::default() };
    let bombs = [
        "const a = []; for (;;) a.push({n: Math.random(), s: 'x' + Math.random()})",
        "let s = 'x'; const k = []; for (;;) { s += s.length; k.push(s.slice(-100) + '!') }",
        "const a = []; for (;;) a.push(new Array(1000).fill(1.5))",
    ];
    for bomb in bombs {
        let e = start(config.clone(), TestHost::default());
        let err = eval(&e, bomb).unwrap_err();
        assert!(matches!(err, EngineError::Terminated(TerminationReason::HeapLimit { .. })), "{bomb}: {err:?}");
    }
    assert_eq!(eval(&engine(), "1").unwrap(), Value::Int(1));
}

#[test]
fn conversion_limits_name_the_limit() {
    let config = EngineConfig { limits: ConversionLimits { max_depth: 50, max_bytes: 10_000 }, ..Default::default() };
    let e = start(config, TestHost::default());
    let cycle = eval(&e, "const o = {}; o.self = o; o").unwrap_err();
    assert_eq!(cycle, EngineError::Conversion(ConversionError::Cycle));
    let shared = eval(&e, "const s = {v: 1}; [s, s]").unwrap();
    assert_eq!(shared, Value::Array(vec![Value::Object(vec![("v".into(), Value::Int(1))]); 2]));
    let deep = eval(&e, "let d = {}; for (let i = 0; i < 1e6; i++) d = {d}; d").unwrap_err();
    assert_eq!(deep, EngineError::Conversion(ConversionError::TooDeep { limit: 50 }));
    let large = eval(&e, "'x'.repeat(20000)").unwrap_err();
    assert_eq!(large, EngineError::Conversion(ConversionError::TooLarge { limit: 10_000 }));
    assert!(matches!(eval(&e, "Symbol('s')").unwrap_err(), EngineError::Conversion(ConversionError::Unsupported { .. })));
}

#[test]
fn stack_overflow_is_a_range_error() {
    let e = engine();
    let EngineError::JavaScript(ex) = eval(&e, "function r() { return r() + 1 } r()").unwrap_err() else { panic!() };
    assert_eq!(ex.name, "RangeError");
}

#[test]
fn functions_round_trip_as_handles() {
    let e = engine();
    let Value::Function(f) = eval(&e, "(a, b) => a * b").unwrap() else { panic!() };
    let call = Request::Call { function: f, args: vec![Value::Int(6), Value::Int(7)], timeout: None, wait: Wait::Blocking };
    assert_eq!(request(&e, call.clone()).unwrap(), Response::Value(Value::Int(42)));
    request(&e, Request::Release { functions: vec![f] }).unwrap();
    assert!(matches!(request(&e, call).unwrap_err(), EngineError::InvalidRequest(_)));
}

#[test]
fn console_is_opt_in() {
    let host = TestHost::default();
    let e = start(EngineConfig { enable_console: true, ..Default::default() }, host.clone());
    eval(&e, "console.warn('careful', {a: 1})").unwrap();
    assert_eq!(host.console.lock().unwrap()[0], (ConsoleLevel::Warn, "careful {\"a\":1}".into()));
    assert_eq!(eval(&engine(), "typeof console").unwrap(), Value::String("undefined".into()));
}

#[test]
fn optimized_allocating_loops_can_be_stopped() {
    let e = engine();
    for source in [
        "let x; for (;;) { x = new Array(1000) }",
        "function f() { let x; for (let i = 0; i < 1e4; i++) x = new Array(1000); return x } for (;;) f()",
    ] {
        let err = eval_with(&e, source, Some(Duration::from_millis(500))).unwrap_err();
        assert!(matches!(err, EngineError::Timeout(_)), "{source}: {err:?}");
    }
}

/// Plain data takes V8's serializer; the same data beside a function takes the handle walk.
/// Both must give the same value.
#[test]
fn the_serializer_fast_path_and_the_walk_agree() {
    let e = engine();
    let data = r#"(() => {
        const shared = {s: 1};
        const sparse = []; sparse[5] = 'five'; sparse.extra = 'ignored';
        const dense = [1, , 3]; dense.named = true;
        const buffer = new Uint8Array([1, 2, 3, 4, 5]);
        return {
            shared: [shared, shared, {inner: shared}],
            sparse, dense,
            numbers: [0, -1, 2147483647, -2147483648, 4294967295, 1.5, -0, Infinity, 2 ** 53, 2 ** 60],
            bigints: [0n, -1n, 2n ** 64n, -(2n ** 130n)],
            strings: ['', 'latin é', 'emoji 🦀', 'lone \ud800 surrogate'],
            keys: {b: 1, 2: 'two', a: 3, 1: 'one'},
            map: new Map([[1, 'a'], ['k', {v: [1]}]]),
            set: new Set(['x', 2]),
            date: new Date(86400000),
            view: buffer.subarray(1, 3),
            buffer: buffer.buffer,
            nested: {a: {b: {c: [[]]}}},
            nothing: [undefined, null, true, false],
        };
    })()"#;
    let fast = eval(&e, &format!("({data})")).unwrap();
    let Value::Object(mut walked) = eval(&e, &format!("Object.assign({data}, {{f: () => 1}})")).unwrap() else { panic!() };
    assert!(matches!(walked.pop(), Some((key, Value::Function(_))) if key == "f"));
    assert_eq!(fast, Value::Object(walked));
    let Value::Object(entries) = fast else { panic!() };
    let get = |k: &str| entries.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get("view"), Value::Bytes(vec![2, 3]));
    assert_eq!(get("buffer"), Value::Bytes(vec![1, 2, 3, 4, 5]));
    assert_eq!(
        get("sparse"),
        Value::Array(vec![Value::Undefined, Value::Undefined, Value::Undefined, Value::Undefined, Value::Undefined, Value::String("five".into())])
    );
    assert_eq!(get("keys"), Value::Object(vec![
        ("1".into(), Value::String("one".into())),
        ("2".into(), Value::String("two".into())),
        ("b".into(), Value::Int(1)),
        ("a".into(), Value::Int(3)),
    ]));
}

#[test]
fn limits_hold_the_same_on_both_paths() {
    let config = EngineConfig { limits: ConversionLimits { max_depth: 20, max_bytes: 4_000 }, ..Default::default() };
    let e = start(config, TestHost::default());
    for with_function in ["", ", f: () => 1"] {
        let cycle = eval(&e, &format!("(() => {{ const o = {{x: 1{with_function}}}; o.self = {{o}}; return o }})()")).unwrap_err();
        assert_eq!(cycle, EngineError::Conversion(ConversionError::Cycle), "{with_function}");
        let deep = eval(&e, &format!("(() => {{ let d = {{}}; for (let i = 0; i < 100; i++) d = {{d{with_function}}}; return d }})()")).unwrap_err();
        assert_eq!(deep, EngineError::Conversion(ConversionError::TooDeep { limit: 20 }), "{with_function}");
        let shared_deep = eval(&e, &format!("(() => {{ let s = {{}}; for (let i = 0; i < 15; i++) s = {{s}}; return {{a: s, b: {{c: {{d: {{e: {{f: {{g: s}}}}}}}}}}{with_function}}} }})()")).unwrap_err();
        assert_eq!(shared_deep, EngineError::Conversion(ConversionError::TooDeep { limit: 20 }), "{with_function}");
        let shared_large = eval(&e, &format!("(() => {{ const big = {{t: 'x'.repeat(1500)}}; return {{a: big, b: big, c: big{with_function}}} }})()")).unwrap_err();
        assert_eq!(shared_large, EngineError::Conversion(ConversionError::TooLarge { limit: 4_000 }), "{with_function}");
        let sparse = eval(&e, &format!("(() => {{ const a = []; a[100000] = 1; return {{a{with_function}}} }})()")).unwrap_err();
        assert_eq!(sparse, EngineError::Conversion(ConversionError::TooLarge { limit: 4_000 }), "{with_function}");
    }
}

#[test]
fn reading_results_and_errors_stays_under_the_timeout() {
    let e = engine();
    let short = Some(Duration::from_millis(200));
    for source in [
        "throw { get message() { for (;;) {} } }",
        "Promise.reject({ get message() { for (;;) {} } })",
        "new Promise(r => setTimeout(() => r({ get x() { for (;;) {} } }), 1))",
        "({ get x() { for (;;) {} } })",
    ] {
        let err = eval_with(&e, source, short).unwrap_err();
        assert!(matches!(err, EngineError::Timeout(_)), "{source}: {err:?}");
    }
    assert_eq!(eval(&e, "'still alive'").unwrap(), Value::String("still alive".into()));
}

fn eval_module(handle: &EngineHandle, specifier: &str) -> Result<Value, EngineError> {
    let module = Request::EvalModule { specifier: specifier.into(), timeout: Some(Duration::from_secs(5)), wait: Wait::Blocking };
    match request(handle, module)? {
        Response::Value(v) => Ok(v.expand(ConversionLimits::default())?),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn modules_load_once_with_cycles_json_meta_and_top_level_await() {
    let host = TestHost::with_modules(&[
        ("main", "import { a } from 'a'; import data from 'data' with { type: 'json' }; export const out = a() + data.n; export const url = import.meta.url;"),
        ("a", "import { b } from 'b'; globalThis.loads = (globalThis.loads ?? 0) + 1; export function a() { return b + 1 }"),
        ("b", "import { a } from 'a'; export const b = await Promise.resolve(40);"),
        ("data", "{\"n\": 1}"),
        ("dyn", "export default 'dynamic'"),
        ("slowroot", "import x from './slow:x1'; import y from './slow:y22'; export const sum = x + y;"),
        ("x1", "export default 1"),
        ("y22", "export default 2"),
        ("broken", "export const = ;"),
        ("missing", "import { nope } from 'b';"),
    ]);
    let e = start(EngineConfig::default(), host);
    assert_eq!(
        eval_module(&e, "main").unwrap(),
        Value::Object(vec![("out".into(), Value::Int(42)), ("url".into(), Value::String("mem:main".into()))])
    );
    eval_module(&e, "a").unwrap();
    assert_eq!(eval(&e, "loads").unwrap(), Value::Int(1));
    assert_eq!(eval(&e, "import('dyn').then(m => m.default)").unwrap(), Value::String("dynamic".into()));
    // Importing a module already loaded, from inside a promise reaction.
    assert_eq!(eval(&e, "import('dyn').then(() => import('dyn')).then(m => m.default)").unwrap(), Value::String("dynamic".into()));
    assert_eq!(eval_module(&e, "slowroot").unwrap(), Value::Object(vec![("sum".into(), Value::Int(3))]));
    let EngineError::JavaScript(syntax) = eval_module(&e, "broken").unwrap_err() else { panic!() };
    assert_eq!((syntax.name.as_str(), syntax.frames[0].file_name.as_deref()), ("SyntaxError", Some("mem:broken")));
    let EngineError::JavaScript(missing) = eval_module(&e, "missing").unwrap_err() else { panic!() };
    assert!(missing.message.contains("nope"), "{missing:?}");
    let EngineError::JavaScript(unresolved) = eval_module(&e, "nowhere").unwrap_err() else { panic!() };
    assert!(unresolved.message.contains("cannot resolve 'nowhere'"), "{unresolved:?}");
    let rejected = eval(&e, "import('nowhere').catch(e => e.constructor.name + ': ' + e.message)").unwrap();
    assert_eq!(rejected, Value::String("TypeError: cannot resolve 'nowhere'".into()));
}
