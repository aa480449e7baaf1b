//! Every attack the evil guest knows, by name. The runtime's `bootstrap` names the attack; the
//! guest answers the handshake (or attacks it), waits for the request the attack is about,
//! then does its damage. What the parent must make of each attack is the Python suite's table
//! (`tests/python/test_evil_guest.py`); `jscell-evil-guest --list` prints these names so the
//! two lists are checked against each other.
//!
//! The parent side grants ops in this order: 0 `echo` (sync, returns its arguments), 1 `wait`
//! (async, sleeps a minute), 2 `big` (async, returns 3 MiB at once).

use std::time::{Duration, Instant};

use jscell_host::engine::{
    AsyncCallId, CallMode, ConsoleLevel, EngineError, FunctionHandle, HostFunctionId, JsException, ModuleKey, ModuleKind,
    Request, Response, TerminationReason, Value,
};
use jscell_host::wire::{encode, encode_payload, Start, StartReport, ToGuest, ToParent};

use crate::craft::*;
use crate::guest::{hang, Carrier, Guest};

pub struct Attack {
    pub name: &'static str,
    pub run: fn(&Guest),
}

const ECHO: u32 = 0;
const WAIT: u32 = 1;
const BIG: u32 = 2;

macro_rules! attacks {
    ($($name:ident),* $(,)?) => {
        pub const ATTACKS: &[Attack] = &[$(Attack { name: stringify!($name), run: $name }),*];
    };
}

attacks![
    claim_serialized_array_2e40,
    claim_serialized_array_2e61,
    claim_serialized_array_2e61_async,
    claim_serialized_sparse_array,
    claim_serialized_string,
    claim_serialized_two_byte_string,
    claim_serialized_bigint,
    claim_serialized_buffer,
    claim_serialized_view,
    claim_serialized_back_reference,
    claim_serialized_varint,
    claim_serialized_in_host_call,
    claim_wire_string,
    claim_wire_bytes,
    claim_wire_array,
    claim_wire_bigint,
    claim_frame_prefix,
    claim_lane_total,
    amplify_null_array,
    amplify_null_array_async,
    amplify_null_args,
    amplify_stack_frames,
    amplify_serialized_dag,
    amplify_dags_in_args,
    amplify_nested_serialized,
    amplify_ignored_property_dag,
    amplify_deep_tree,
    amplify_deep_serialized,
    amplify_empty_keys,
    amplify_map_entries,
    amplify_layers,
    amplify_uncaught_frames,
    amplify_one_node_over,
    amplify_at_the_limit,
    amplify_large_error_message,
    amplify_max_functions,
    flood_sync_calls_unread,
    flood_sync_calls_read,
    flood_sync_calls_lane,
    flood_async_calls,
    flood_async_call_bytes,
    flood_async_duplicate_ids,
    flood_async_completions_unread,
    flood_module_loads_repeated,
    flood_module_loads_window,
    flood_resolutions,
    flood_releases_unread,
    flood_replies_unknown,
    flood_console_socket,
    flood_console_lane,
    flood_uncaught_socket,
    flood_function_handles_in_args,
    flood_stream_chunks,
    amplify_stream_chunk,
    stall_handshake_trickle,
    stall_handshake_silent,
    stall_frame_trickle_socket,
    stall_frame_trickle_lane,
    stall_bind,
    stall_stats,
    stall_lane_turn_kept,
    stall_lane_ack,
    stall_lane_ack_until_terminated,
    stall_lane_second_chunk,
    stall_socket_unread,
    stall_reply_late,
    hash_colliding_keys_tree,
    hash_colliding_keys_serialized,
    bypass_load_secret,
    bypass_load_http_on_lane,
    bypass_load_static_unresolved,
    bypass_load_near_url,
    bypass_load_other_kind,
    bypass_host_function_value,
    bypass_unknown_op,
    bypass_mode_mismatch,
    bypass_forged_termination,
    bypass_forged_heap_limit,
    bypass_release_an_op,
    bypass_release_twice,
    amplify_grant_releases,
    protocol_parent_frame,
    protocol_ready_again,
    protocol_reply_twice,
    protocol_lane_reply_on_socket,
    protocol_garbage,
    protocol_truncated_then_closed,
    protocol_invalid_utf8,
    protocol_unknown_frame_tag,
    protocol_unknown_value_tag,
    protocol_trailing_bytes,
    protocol_console_disabled,
    protocol_lane_out_of_turn,
    protocol_lane_empty_chunk,
    protocol_lane_chunk_over_capacity,
    protocol_lane_total_over_limit,
    protocol_exit,
    protocol_close_socket,
];

/// Answer the next run request with the raw value bytes, then serve honestly.
fn reply_value(g: &Guest, value: &[u8]) {
    g.ready();
    let run = g.next_run();
    g.payload_on(run.carrier, &reply_with_value(run.id, value));
    g.serve()
}

fn reply_serialized(g: &Guest, v8_bytes: &[u8]) {
    reply_value(g, &serialized(v8_bytes))
}

/// V8 data: `prefix`, then a length claiming `claim`, then `rest` (the bytes that are there).
fn v8_claim(prefix: &[u8], claim: u64, rest: &[u8]) -> Vec<u8> {
    [prefix, &v8_varint(claim), rest].concat()
}

fn claim_serialized_array_2e40(g: &Guest) {
    reply_serialized(g, &v8_claim(b"A", 1 << 40, &[]))
}

fn claim_serialized_array_2e61(g: &Guest) {
    reply_serialized(g, &v8_claim(b"A", 1 << 61, &[]))
}

/// The same, for an `eval_async` (its reply crosses the socket).
fn claim_serialized_array_2e61_async(g: &Guest) {
    reply_serialized(g, &v8_claim(b"A", 1 << 61, &[]))
}

fn claim_serialized_sparse_array(g: &Guest) {
    reply_serialized(g, &v8_claim(b"a", 1 << 40, &[]))
}

fn claim_serialized_string(g: &Guest) {
    reply_serialized(g, &v8_claim(b"\"", 1 << 40, b"x"))
}

fn claim_serialized_two_byte_string(g: &Guest) {
    reply_serialized(g, &v8_claim(b"c", 1 << 40, &[]))
}

/// A BigInt's length is its bitfield shifted by one (the low bit is the sign).
fn claim_serialized_bigint(g: &Guest) {
    reply_serialized(g, &v8_claim(b"Z", 1 << 41, &[]))
}

fn claim_serialized_buffer(g: &Guest) {
    reply_serialized(g, &v8_claim(b"B", 1 << 40, &[]))
}

/// A view of four bytes claiming a length of 2^40 from offset 0.
fn claim_serialized_view(g: &Guest) {
    reply_serialized(g, &v8_claim(&[b'B', 4, 1, 2, 3, 4, b'V', b'B', 0], 1 << 40, &[0]))
}

fn claim_serialized_back_reference(g: &Guest) {
    reply_serialized(g, &v8_claim(&[b'A', 1, b'^'], 1 << 30, &[]))
}

/// A length of eleven continuation bytes: more than any 64-bit number has.
fn claim_serialized_varint(g: &Guest) {
    reply_serialized(g, &[&[b'A'][..], &[0xff; 11]].concat())
}

/// A sync host call whose argument claims 2^61 elements.
fn claim_serialized_in_host_call(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let mut args = varint(1);
    args.extend(serialized(&v8_claim(b"A", 1 << 61, &[])));
    g.payload_on(run.carrier, &host_call_with_args(1, ECHO, &args));
    if run.carrier == Carrier::Lane {
        g.lane_answer();
    }
    g.reply(&run, Ok(Response::Value(Value::Int(1))));
    g.serve()
}

/// A wire value: `prefix`, then a length claiming `claim`, then `rest`.
fn wire_claim(prefix: &[u8], claim: u64, rest: &[u8]) -> Vec<u8> {
    [prefix, &varint(claim), rest].concat()
}

fn claim_wire_string(g: &Guest) {
    reply_value(g, &wire_claim(&[tag(&Value::String(String::new()))], 1 << 29, b"x"))
}

fn claim_wire_bytes(g: &Guest) {
    reply_value(g, &wire_claim(&[tag(&Value::Bytes(Vec::new()))], 1 << 40, &[]))
}

fn claim_wire_array(g: &Guest) {
    reply_value(g, &wire_claim(&[tag(&Value::Array(Vec::new()))], 1 << 40, &[]))
}

/// A BigInt's sign, then its words' length.
fn claim_wire_bigint(g: &Guest) {
    reply_value(g, &wire_claim(&[tag(&Value::BigInt { negative: false, words: Vec::new() }), 0], 1 << 40, &[]))
}

/// A socket frame whose prefix claims the largest frame the parent accepts, then a trickle.
fn claim_frame_prefix(g: &Guest) {
    g.ready();
    g.next_run();
    g.send_raw(&(g.frame_limit() as u32).to_le_bytes());
    g.send_raw(&[9; 16]);
    hang()
}

/// A lane frame claiming the largest total the parent accepts; one chunk, then silence.
fn claim_lane_total(g: &Guest) {
    g.ready();
    let run = g.next_run();
    assert_eq!(run.carrier, Carrier::Lane);
    let raw = g.raw_lane();
    raw.write_buffer(&[9; 16]);
    raw.set_lengths(g.frame_limit() as u64, 16);
    raw.hand_to(0);
    hang()
}

/// Nulls filling the largest frame: one byte each on the wire.
fn null_array(g: &Guest) -> Vec<u8> {
    repeated(tag(&Value::Null), g.frame_limit() - 64)
}

fn amplify_null_array(g: &Guest) {
    reply_value(g, &null_array(g))
}

fn amplify_null_array_async(g: &Guest) {
    reply_value(g, &null_array(g))
}

/// A sync host call whose one argument is the largest frame of nulls.
fn amplify_null_args(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let mut args = varint(1);
    args.extend(null_array(g));
    g.payload_on(run.carrier, &host_call_with_args(1, ECHO, &args));
    if run.carrier == Carrier::Lane {
        g.lane_answer();
    }
    g.reply(&run, Ok(Response::Value(Value::Int(1))));
    g.serve()
}

/// An error with empty stack frames filling the frame: four bytes each on the wire.
fn amplify_stack_frames(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let exception = JsException { name: "Error".into(), message: String::new(), stack: None, frames: Vec::new() };
    let mut payload =
        encode_payload(&ToParent::Reply { id: run.id, result: Err(EngineError::JavaScript(exception)) }).expect("encodable");
    payload.pop();
    let count = (g.frame_limit() - 64) / 4;
    payload.extend(varint(count as u64));
    payload.resize(payload.len() + count * 4, 0);
    g.payload_on(run.carrier, &payload);
    g.serve()
}

fn amplify_serialized_dag(g: &Guest) {
    reply_serialized(g, &v8_dag(48))
}

/// Many arguments of one host call, each a DAG within the limit on its own, far beyond it
/// together.
fn amplify_dags_in_args(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let count = 256u64;
    let mut args = varint(count);
    for _ in 0..count {
        args.extend(serialized(&v8_dag(14)));
    }
    g.payload_on(run.carrier, &host_call_with_args(1, ECHO, &args));
    if run.carrier == Carrier::Lane {
        g.lane_answer();
    }
    g.reply(&run, Ok(Response::Value(Value::Int(1))));
    g.serve()
}

/// Serialized data nested inside a tree: honest guests only send it as a whole value.
fn amplify_nested_serialized(g: &Guest) {
    let mut bytes = vec![tag(&Value::Array(Vec::new()))];
    let count = 64u64;
    bytes.extend(varint(count));
    for _ in 0..count {
        bytes.extend(serialized(&v8_dag(14)));
    }
    reply_value(g, &bytes)
}

fn amplify_ignored_property_dag(g: &Guest) {
    reply_serialized(g, &v8_array_with_dag_property(48))
}

fn amplify_deep_tree(g: &Guest) {
    let array = tag(&Value::Array(Vec::new()));
    let mut bytes = Vec::new();
    for _ in 0..1_000_000 {
        bytes.extend([array, 1]);
    }
    bytes.push(tag(&Value::Null));
    reply_value(g, &bytes)
}

fn amplify_deep_serialized(g: &Guest) {
    let depth = 100_000;
    let mut bytes = Vec::new();
    for _ in 0..depth {
        bytes.extend([b'A', 1]);
    }
    bytes.push(b'0');
    for _ in 0..depth {
        bytes.extend([b'$', 0, 1]);
    }
    reply_serialized(g, &bytes)
}

/// An object of empty keys and nulls: two bytes an entry on the wire.
fn amplify_empty_keys(g: &Guest) {
    let count = (g.frame_limit() - 64) / 2;
    let mut bytes = vec![tag(&Value::Object(Vec::new()))];
    bytes.extend(varint(count as u64));
    for _ in 0..count {
        bytes.extend([0, tag(&Value::Null)]);
    }
    reply_value(g, &bytes)
}

fn amplify_map_entries(g: &Guest) {
    let count = (g.frame_limit() - 64) / 2;
    let null = tag(&Value::Null);
    let mut bytes = vec![tag(&Value::Map(Vec::new()))];
    bytes.extend(varint(count as u64));
    bytes.resize(bytes.len() + count * 2, null);
    reply_value(g, &bytes)
}

/// A handshake reporting millions of sandbox layers.
fn amplify_layers(g: &Guest) {
    let mut payload = encode_payload(&StartReport::Ready { layers: Vec::new() }).expect("encodable");
    payload.pop();
    let count = (g.frame_limit() - 64) / 2;
    payload.extend(varint(count as u64));
    payload.resize(payload.len() + count * 2, 0);
    g.send_payload(&payload);
    g.serve()
}

/// An uncaught-exception notice whose stack frames fill the frame.
fn amplify_uncaught_frames(g: &Guest) {
    g.ready();
    g.next_run();
    let exception = JsException { name: "Error".into(), message: String::new(), stack: None, frames: Vec::new() };
    let mut payload = encode_payload(&ToParent::Uncaught { exception }).expect("encodable");
    payload.pop();
    let count = (g.frame_limit() - 64) / 4;
    payload.extend(varint(count as u64));
    payload.resize(payload.len() + count * 4, 0);
    g.send_payload(&payload);
    hang()
}

/// An array of nulls one node over `max_serialization_bytes`, counted as the engine counts:
/// eight bytes a node, the array included.
fn amplify_one_node_over(g: &Guest) {
    let nulls = g.max_bytes() / 8;
    reply_value(g, &repeated(tag(&Value::Null), nulls))
}

/// The largest array of nulls the engine would let through: the parent lets it through too.
fn amplify_at_the_limit(g: &Guest) {
    let nulls = g.max_bytes() / 8 - 1;
    reply_value(g, &repeated(tag(&Value::Null), nulls))
}

fn amplify_large_error_message(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let exception = JsException { name: "Error".into(), message: "x".repeat(g.max_bytes()), stack: None, frames: Vec::new() };
    g.reply(&run, Err(EngineError::JavaScript(exception)));
    g.serve()
}

/// As many function handles as the limit allows: each becomes a `JsFunction`.
fn max_functions(g: &Guest) -> Value {
    let count = g.max_bytes() / 8 - 1;
    Value::Array((1..=count as u64).map(|id| Value::Function(FunctionHandle(id))).collect())
}

fn amplify_max_functions(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(max_functions(g))));
    g.serve()
}

fn host_call(call: u64, function: u32) -> ToParent {
    ToParent::HostCall { call, function: HostFunctionId(function), args: Vec::new() }
}

/// Sync host calls on the socket, never reading the replies.
fn flood_sync_calls_unread(g: &Guest) {
    g.ready();
    g.next_run();
    g.stop_reading();
    for call in 1.. {
        g.send(&host_call(call, ECHO));
    }
}

/// Sync host calls on the socket as fast as the parent answers them, forever.
fn flood_sync_calls_read(g: &Guest) {
    g.ready();
    g.next_run();
    for call in 1.. {
        g.call_on(Carrier::Socket, &host_call(call, ECHO));
    }
}

fn flood_sync_calls_lane(g: &Guest) {
    g.ready();
    let run = g.next_run();
    for call in 1.. {
        g.call_on(run.carrier, &host_call(call, ECHO));
    }
}

fn async_call(call: u64, function: u32, args: Vec<Value>) -> ToParent {
    ToParent::HostCallAsync { call: AsyncCallId(call), function: HostFunctionId(function), args }
}

/// Async host calls to a handler that takes a minute, without end.
fn flood_async_calls(g: &Guest) {
    g.ready();
    let run = g.next_run();
    for call in 1.. {
        g.send_on(run.carrier, &async_call(call, WAIT, Vec::new()));
        if run.carrier == Carrier::Lane {
            g.lane_answer();
        }
    }
}

/// Few async calls, each with arguments of half the value limit.
fn flood_async_call_bytes(g: &Guest) {
    g.ready();
    g.next_run();
    for call in 1..=64 {
        g.send(&async_call(call, WAIT, vec![Value::String("x".repeat(g.max_bytes() / 2))]));
    }
    hang()
}

fn flood_async_duplicate_ids(g: &Guest) {
    g.ready();
    g.next_run();
    g.send(&async_call(5, WAIT, Vec::new()));
    g.send(&async_call(5, WAIT, Vec::new()));
    hang()
}

/// Async calls whose large results come back at once, while the guest stops reading.
fn flood_async_completions_unread(g: &Guest) {
    g.ready();
    g.next_run();
    g.stop_reading();
    for call in 1..=64 {
        g.send(&async_call(call, BIG, Vec::new()));
    }
    hang()
}

fn resolve(g: &Guest, carrier: Carrier, call: u64, specifier: &str) -> Result<String, ()> {
    let frame = ToParent::ResolveModule { call, specifier: specifier.into(), referrer: "<eval>".into() };
    match g.call_on(carrier, &frame) {
        ToGuest::Resolved { result, .. } => result.map_err(drop),
        _ => Err(()),
    }
}

fn load(g: &Guest, carrier: Carrier, url: &str, kind: ModuleKind) {
    g.send_on(carrier, &ToParent::LoadModule { key: ModuleKey { url: url.into(), kind } });
    if carrier == Carrier::Lane {
        g.lane_answer();
    }
}

/// One resolved URL whose loader takes a minute, loaded twice at once.
fn flood_module_loads_repeated(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let url = resolve(g, run.carrier, 1, "slow:a").unwrap_or_default();
    load(g, run.carrier, &url, ModuleKind::JavaScript);
    load(g, run.carrier, &url, ModuleKind::JavaScript);
    hang()
}

/// Thousands of resolved URLs whose loader takes a minute, all loaded at once.
fn flood_module_loads_window(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let urls: Vec<String> = (0..4096).filter_map(|i| resolve(g, run.carrier, i + 1, &format!("slow:{i}")).ok()).collect();
    for url in &urls {
        load(g, run.carrier, url, ModuleKind::JavaScript);
    }
    hang()
}

/// Distinct long specifiers, each resolved once: the table of resolved URLs must stay bounded.
/// Answers with how many resolved.
fn flood_resolutions(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let stem = "s".repeat(64 << 10);
    let resolved = (0..2048u64).filter(|i| resolve(g, run.carrier, i + 1, &format!("{stem}{i}")).is_ok()).count();
    g.reply(&run, Ok(Response::Value(Value::Int(resolved as i64))));
    g.serve()
}

/// Hand out the most function handles a value may hold, then stop reading: the releases that
/// follow must not wedge the parent.
fn flood_releases_unread(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(max_functions(g))));
    g.stop_reading();
    g.serve()
}

fn flood_replies_unknown(g: &Guest) {
    g.ready();
    g.next_run();
    for id in 1_000_000.. {
        g.send(&ToParent::Reply { id, result: Ok(Response::Done) });
    }
}

fn console(text: &str) -> ToParent {
    ToParent::Console { level: ConsoleLevel::Debug, message: text.into() }
}

fn flood_console_socket(g: &Guest) {
    g.ready();
    g.next_run();
    loop {
        g.send(&console("flood"));
    }
}

fn flood_console_lane(g: &Guest) {
    g.ready();
    let run = g.next_run();
    loop {
        g.send_on(run.carrier, &console("flood"));
        g.lane_answer();
    }
}

fn flood_uncaught_socket(g: &Guest) {
    g.ready();
    g.next_run();
    let exception = JsException { name: "Error".into(), message: "flood".into(), stack: None, frames: Vec::new() };
    loop {
        g.send(&ToParent::Uncaught { exception: exception.clone() });
    }
}

/// A sync host call whose argument holds the most function handles a value may.
fn flood_function_handles_in_args(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let call = ToParent::HostCall { call: 1, function: HostFunctionId(ECHO), args: vec![max_functions(g)] };
    g.call_on(run.carrier, &call);
    g.reply(&run, Ok(Response::Value(Value::Int(1))));
    g.serve()
}

/// The handshake's answer one byte at a time, far slower than any deadline.
fn stall_handshake_trickle(g: &Guest) {
    let ready = encode(&StartReport::Ready { layers: vec![("x".repeat(10_000), true)] }).expect("encodable");
    for byte in ready {
        g.send_raw(&[byte]);
        std::thread::sleep(Duration::from_millis(20));
    }
    g.serve()
}

fn stall_handshake_silent(_g: &Guest) {
    hang()
}

/// A reply one byte every few milliseconds.
fn stall_frame_trickle_socket(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let reply = encode(&ToParent::Reply { id: run.id, result: Ok(Response::Value(Value::String("x".repeat(100_000)))) })
        .expect("encodable");
    for byte in reply {
        g.send_raw(&[byte]);
        std::thread::sleep(Duration::from_millis(5));
    }
    g.serve()
}

/// A reply of several chunks on the lane, with long pauses between the chunks.
fn stall_frame_trickle_lane(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let payload = encode_payload(&ToParent::Reply {
        id: run.id,
        result: Ok(Response::Value(Value::String("x".repeat(3 * g.lane.capacity())))),
    })
    .expect("encodable");
    let raw = g.raw_lane();
    for chunk in payload.chunks(g.lane.capacity()) {
        raw.write_buffer(chunk);
        raw.set_lengths(payload.len() as u64, chunk.len() as u64);
        raw.hand_to(0);
        while !g.lane.holds(jscell_host::lane::Side::Guest) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(800));
    }
    hang()
}

/// Take the request of a call without a timeout and never answer it.
fn stall_request(g: &Guest, wanted: fn(&Request) -> bool) {
    g.ready();
    loop {
        let incoming = g.next_request();
        if wanted(&incoming.request) {
            hang()
        }
        g.answer_honestly(&incoming);
    }
}

fn stall_bind(g: &Guest) {
    stall_request(g, |request| matches!(request, Request::SetGlobal { .. }))
}

fn stall_stats(g: &Guest) {
    stall_request(g, |request| matches!(request, Request::Stats))
}

/// Take a lane request and keep the turn.
fn stall_lane_turn_kept(g: &Guest) {
    g.ready();
    g.next_run();
    hang()
}

/// Take the first chunk of a large lane request and never acknowledge it.
fn stall_lane_ack(g: &Guest) {
    g.ready();
    while !g.lane.holds(jscell_host::lane::Side::Guest) {
        std::thread::sleep(Duration::from_millis(1));
    }
    hang()
}

/// The same, for a call without a timeout: only `terminate()` ends it, and cleanly.
fn stall_lane_ack_until_terminated(g: &Guest) {
    stall_lane_ack(g)
}

/// Take the first chunk of a large lane request, then never the second: a transfer that began
/// must go on, timeout or not.
fn stall_lane_second_chunk(g: &Guest) {
    g.ready();
    let taken = || {
        while !g.lane.holds(jscell_host::lane::Side::Guest) {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    taken();
    g.raw_lane().hand_to(0);
    std::thread::sleep(Duration::from_millis(10));
    taken();
    hang()
}

/// Never read the socket, where the parent writes a large request.
fn stall_socket_unread(g: &Guest) {
    g.send(&StartReport::Ready { layers: Vec::new() });
    hang()
}

/// Answer, but only long after the call's deadline.
fn stall_reply_late(g: &Guest) {
    g.ready();
    let run = g.next_run();
    std::thread::sleep(Duration::from_secs(4));
    g.answer_honestly(&run);
    g.serve()
}

/// As many keys as the limit allows, all with one FxHash.
fn colliding_keys(g: &Guest) -> Vec<String> {
    fx_colliding_keys(g.max_bytes() / (32 + 8 + 8) - 1)
}

fn hash_colliding_keys_tree(g: &Guest) {
    let entries = colliding_keys(g).into_iter().map(|key| (key, Value::Null)).collect();
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(Value::Object(entries))));
    g.serve()
}

fn hash_colliding_keys_serialized(g: &Guest) {
    let keys = colliding_keys(g);
    let mut bytes = vec![b'o'];
    for key in &keys {
        bytes.extend(v8_string(key));
        bytes.push(b'0');
    }
    bytes.push(b'{');
    bytes.extend(v8_varint(keys.len() as u64));
    reply_serialized(g, &bytes)
}

/// Ask the parent to load a URL nothing resolved, then wait for the verdict.
fn load_unresolved(g: &Guest, url: &str) {
    g.ready();
    let run = g.next_run();
    load(g, run.carrier, url, ModuleKind::JavaScript);
    hang()
}

fn bypass_load_secret(g: &Guest) {
    load_unresolved(g, "secret:/etc/shadow")
}

fn bypass_load_http_on_lane(g: &Guest) {
    load_unresolved(g, "http://internal/admin")
}

fn bypass_load_static_unresolved(g: &Guest) {
    load_unresolved(g, "static:util")
}

/// Resolve one URL, load another that differs from it by a space.
fn bypass_load_near_url(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let url = resolve(g, run.carrier, 1, "a").unwrap_or_default();
    load(g, run.carrier, &format!("{url} "), ModuleKind::JavaScript);
    hang()
}

/// A resolved URL may be loaded as JSON too: that is the engine's choice, not the resolver's.
fn bypass_load_other_kind(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let url = resolve(g, run.carrier, 1, "data").unwrap_or_default();
    load(g, run.carrier, &url, ModuleKind::Json);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(ToGuest::ModuleSource { result, .. }) = g.socket_frame(Duration::from_millis(50)) {
            let answer = Value::String(result.unwrap_or_else(|error| error.message));
            g.reply(&run, Ok(Response::Value(answer)));
            g.serve()
        }
    }
    hang()
}

/// A value holding a parent grant the guest was never given as a value.
fn bypass_host_function_value(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(Value::HostFunction { id: HostFunctionId(ECHO), mode: CallMode::Sync })));
    g.serve()
}

/// Answer the run with what a host call told the guest.
fn call_and_report(g: &Guest, function: u32) {
    g.ready();
    let run = g.next_run();
    let answer = match g.call_on(run.carrier, &host_call(1, function)) {
        ToGuest::HostReply { result: Err(error), .. } => Value::String(error.message),
        _ => Value::Null,
    };
    g.reply(&run, Ok(Response::Value(answer)));
    g.serve()
}

fn bypass_unknown_op(g: &Guest) {
    call_and_report(g, 4000)
}

fn bypass_mode_mismatch(g: &Guest) {
    call_and_report(g, WAIT)
}

/// Claim the user called `terminate()`.
fn bypass_forged_termination(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Err(EngineError::Terminated(TerminationReason::Requested)));
    g.serve()
}

/// Claim a heap limit the runtime was not given.
fn bypass_forged_heap_limit(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Err(EngineError::Terminated(TerminationReason::HeapLimit { limit_bytes: 1 })));
    g.serve()
}

fn release(g: &Guest, carrier: Carrier, grants: Vec<u32>) {
    let grants = grants.into_iter().map(HostFunctionId).collect();
    g.send_on(carrier, &ToParent::GrantsReleased { grants });
    if carrier == Carrier::Lane {
        g.lane_answer();
    }
}

/// Release an op: ops are granted for the runtime's life, not as values JS may drop.
fn bypass_release_an_op(g: &Guest) {
    g.ready();
    let run = g.next_run();
    release(g, run.carrier, vec![ECHO]);
    g.answer_honestly(&run);
    g.serve()
}

/// Hand out a function, and when it is called with a callable, release that grant twice.
fn bypass_release_twice(g: &Guest) {
    g.ready();
    let eval = g.next_run();
    g.reply(&eval, Ok(Response::Value(Value::Function(FunctionHandle(1)))));
    let run = g.next_run();
    let Request::Call { args, .. } = &run.request else { hang() };
    let Some(Value::HostFunction { id, .. }) = args.first() else { hang() };
    release(g, run.carrier, vec![id.0]);
    release(g, run.carrier, vec![id.0]);
    g.answer_honestly(&run);
    g.serve()
}

/// A release notice listing more grants than any notice may.
fn amplify_grant_releases(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let mut payload = encode_payload(&ToParent::GrantsReleased { grants: Vec::new() }).expect("encodable");
    payload.pop();
    let count = g.frame_limit() - 64;
    payload.extend(varint(count as u64));
    payload.resize(payload.len() + count, 1);
    g.payload_on(run.carrier, &payload);
    g.serve()
}

fn protocol_parent_frame(g: &Guest) {
    g.ready();
    g.next_run();
    g.send(&Start { config: g.config.clone() });
    hang()
}

fn protocol_ready_again(g: &Guest) {
    g.ready();
    g.next_run();
    g.ready();
    hang()
}

/// The call gets its answer; the second answer to it ends the runtime.
fn protocol_reply_twice(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.answer_honestly(&run);
    g.answer_honestly(&run);
    g.serve()
}

/// Answer a lane request on the socket.
fn protocol_lane_reply_on_socket(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.send(&ToParent::Reply { id: run.id, result: Ok(Response::Value(Value::Int(1))) });
    hang()
}

fn protocol_garbage(g: &Guest) {
    g.ready();
    g.next_run();
    g.send_raw(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]);
    hang()
}

/// Half a frame, then the guest closes its end of the wire but stays alive.
fn protocol_truncated_then_closed(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let reply = encode(&ToParent::Reply { id: run.id, result: Ok(Response::Value(Value::String("x".repeat(100)))) })
        .expect("encodable");
    g.send_raw(&reply[..reply.len() / 2]);
    g.shut_socket();
    hang()
}

fn protocol_invalid_utf8(g: &Guest) {
    let mut bytes = vec![tag(&Value::String(String::new()))];
    bytes.extend(varint(2));
    bytes.extend([0xff, 0xfe]);
    reply_value(g, &bytes)
}

fn protocol_unknown_frame_tag(g: &Guest) {
    g.ready();
    g.next_run();
    g.send_payload(&[200]);
    hang()
}

fn protocol_unknown_value_tag(g: &Guest) {
    reply_value(g, &[200])
}

fn protocol_trailing_bytes(g: &Guest) {
    g.ready();
    let run = g.next_run();
    let mut payload = encode_payload(&ToParent::Reply { id: run.id, result: Ok(Response::Value(Value::Int(1))) }).expect("encodable");
    payload.push(0);
    g.payload_on(run.carrier, &payload);
    hang()
}

/// Console output from a runtime whose console is off.
fn protocol_console_disabled(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.send_on(run.carrier, &console("unasked"));
    if run.carrier == Carrier::Lane {
        g.lane_answer();
    }
    g.answer_honestly(&run);
    g.serve()
}

/// Take the lane's turn while it is the parent's (before the handshake, so before any request).
fn protocol_lane_out_of_turn(g: &Guest) {
    g.raw_lane().hand_to(1);
    g.ready();
    g.serve()
}

/// On a lane request, hand over raw lengths.
fn lane_lengths(g: &Guest, total: u64, chunk: u64) {
    g.ready();
    let run = g.next_run();
    assert_eq!(run.carrier, Carrier::Lane);
    g.raw_lane().set_lengths(total, chunk);
    g.raw_lane().hand_to(0);
    hang()
}

fn protocol_lane_empty_chunk(g: &Guest) {
    lane_lengths(g, 100, 0)
}

fn protocol_lane_chunk_over_capacity(g: &Guest) {
    lane_lengths(g, g.frame_limit() as u64, g.lane.capacity() as u64 + 1)
}

fn protocol_lane_total_over_limit(g: &Guest) {
    lane_lengths(g, g.frame_limit() as u64 + 1, 16)
}

fn protocol_exit(g: &Guest) {
    g.ready();
    g.next_run();
    std::process::exit(7)
}

fn protocol_close_socket(g: &Guest) {
    g.ready();
    g.next_run();
    g.shut_socket();
    hang()
}

/// A stream read answered as an honest guest would: the next chunk, `bytes` long.
fn stream_step(bytes: usize) -> Value {
    Value::Object(vec![("done".into(), Value::Bool(false)), ("value".into(), Value::Bytes(vec![7; bytes]))])
}

/// Return a stream, answer its first read, then push chunks the parent never asked for: a
/// guest gets one chunk per read (the parent's credit), and a reply to no read is a violation.
fn flood_stream_chunks(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(Value::Stream(FunctionHandle(1)))));
    let read = g.next_run();
    let chunk = stream_step(64 << 10);
    g.reply(&read, Ok(Response::Value(chunk.clone())));
    for id in (1u64 << 40).. {
        g.send_on(read.carrier, &ToParent::Reply { id, result: Ok(Response::Value(chunk.clone())) });
    }
}

/// Answer a stream read with a chunk over the runtime's value limit.
fn amplify_stream_chunk(g: &Guest) {
    g.ready();
    let run = g.next_run();
    g.reply(&run, Ok(Response::Value(Value::Stream(FunctionHandle(1)))));
    let read = g.next_run();
    g.reply(&read, Ok(Response::Value(stream_step(g.max_bytes() + 1))));
    g.serve()
}
