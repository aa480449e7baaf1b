//! What every fuzz target shares: the limits the decoders run under, and an allocator that
//! aborts (a crash, for AFL) when live memory ever exceeds what those limits allow. Built and run
//! by `cargo xtask fuzz` (under `cargo afl`, with `--cfg fuzzing`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::path::Path;

use jscell_host::engine::{
    AsyncCallId, ConsoleLevel, ConversionLimits, EngineError, FunctionHandle, HostFunctionId, JsException, ModuleKey,
    ModuleKind, Response, StackFrame, Value,
};
use jscell_host::wire::{encode_payload, StartReport, ToParent};

/// The runtime limits every target decodes under: small, so the limits are reached.
pub const LIMITS: ConversionLimits = ConversionLimits { max_depth: 64, max_bytes: 64 << 10 };
/// The largest input AFL is given (`-G`), and so the largest frame.
pub const MAX_INPUT: usize = 256 << 10;
/// Live memory a decode may hold: the input, what its values may decode to under `LIMITS`
/// (a few times `max_bytes`), and what bincode may reserve for a claim (16 times the input).
pub const MAX_LIVE: usize = 16 * MAX_INPUT + (8 << 20);

/// The system allocator, counting live bytes, aborting past `MAX_LIVE`.
pub struct Bounded;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is the system allocator's; only the count is added.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size() > MAX_LIVE {
            std::process::abort();
        }
        // SAFETY: the caller's contract for this call, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for this call, passed on unchanged.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        if size > layout.size() && LIVE.fetch_add(size - layout.size(), Ordering::Relaxed) + size - layout.size() > MAX_LIVE {
            std::process::abort();
        }
        if size < layout.size() {
            LIVE.fetch_sub(layout.size() - size, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for this call, passed on unchanged.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

/// V8 serialized data of the kinds honest engines send: an object, an array with a hole, a
/// shared object (a back-reference), strings in both widths, a BigInt, bytes.
pub fn serialized_samples() -> Vec<Vec<u8>> {
    vec![
        b"o\"\x01aI\x02\"\x01b\"\x02hi{\x02".to_vec(),
        b"A\x02\"\x01xo{\x00$\x00\x02".to_vec(),
        b"A\x02o\"\x01kT{\x01^\x01$\x00\x02".to_vec(),
        b"a\x03I\x04I\x04@\x01\x03".to_vec(),
        b"c\x04\xe9\x00\x01\x01".to_vec(),
        b"Z\x10\x01\x02\x03\x04\x05\x06\x07\x08".to_vec(),
        b"B\x03abcV\x00\x00\x03\x00".to_vec(),
        b";I\x02N\x00\x00\x00\x00\x00\x00\xf0?:\x02".to_vec(),
    ]
}

/// Frames an honest guest sends, encoded: one of each kind the parent decodes.
pub fn guest_frames() -> Vec<Vec<u8>> {
    let exception = JsException {
        name: "TypeError".into(),
        message: "x is not a function".into(),
        stack: Some("TypeError: x is not a function\n    at <eval>:1:1".into()),
        frames: vec![StackFrame { function_name: Some("f".into()), file_name: Some("<eval>".into()), line_number: Some(1), column_number: Some(2) }],
    };
    let tree = Value::Object(vec![
        ("list".into(), Value::Array(vec![Value::Int(1), Value::Float(0.5), Value::Null, Value::Undefined])),
        ("set".into(), Value::Set(vec![Value::String("s".into()), Value::Bool(true)])),
        ("map".into(), Value::Map(vec![(Value::Int(1), Value::Date(0.0))])),
        ("big".into(), Value::BigInt { negative: true, words: vec![1, 2] }),
        ("bytes".into(), Value::Bytes(vec![1, 2, 3])),
        ("f".into(), Value::Function(FunctionHandle(7))),
    ]);
    let mut frames = vec![
        ToParent::Reply { id: 1, result: Ok(Response::Value(tree.clone())) },
        ToParent::Reply { id: 2, result: Err(EngineError::JavaScript(exception.clone())) },
        ToParent::HostCall { call: 1, function: HostFunctionId(0), args: vec![tree, Value::String("é".into())] },
        ToParent::HostCallAsync { call: AsyncCallId(3), function: HostFunctionId(1), args: vec![Value::Int(4)] },
        ToParent::ResolveModule { call: 2, specifier: "./a.js".into(), referrer: "<eval>".into() },
        ToParent::LoadModule { key: ModuleKey { url: "file:///a.js".into(), kind: ModuleKind::Json } },
        ToParent::Console { level: ConsoleLevel::Warn, message: "careful".into() },
        ToParent::Uncaught { exception },
        ToParent::GrantsReleased { grants: vec![HostFunctionId(2), HostFunctionId(3)] },
    ];
    for serialized in serialized_samples() {
        frames.push(ToParent::Reply { id: 3, result: Ok(Response::Value(Value::Serialized(serialized))) });
    }
    let mut encoded: Vec<Vec<u8>> = frames.iter().map(|frame| encode_payload(frame).expect("encodable")).collect();
    encoded.push(encode_payload(&StartReport::Ready { layers: vec![("seccomp".into(), true)] }).expect("encodable"));
    encoded
}

/// `jscell-fuzz-target --seeds DIR` writes the target's starting inputs into DIR and exits;
/// anything else runs the target.
pub fn write_seeds_if_asked(seeds: impl FnOnce() -> Vec<Vec<u8>>) {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice() {
        if flag == "--seeds" {
            std::fs::create_dir_all(dir).expect("the seed directory");
            for (index, seed) in seeds().into_iter().enumerate() {
                std::fs::write(Path::new(dir).join(format!("seed-{index:02}")), seed).expect("a seed");
            }
            std::process::exit(0);
        }
    }
}
