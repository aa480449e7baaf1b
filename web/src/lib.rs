//! The web platform globals every engine installs, as one script: WHATWG streams (the pinned
//! `web-streams-polyfill`, descended from the reference implementation), `TextEncoder`/
//! `TextDecoder` and their stream forms, `AbortController`/`AbortSignal`, `EventTarget`/`Event` and
//! `DOMException`, and the bridge that turns host streams into `ReadableStream`s and back.
//!
//! `SCRIPT` evaluates to a function of the global object. Calling it defines every name in
//! `GLOBAL_NAMES` on the global (writable, configurable, not enumerable, as web interfaces are)
//! and returns the bridge, which the engine keeps out of JavaScript's reach:
//!
//! - `fromHost(source, highWaterMark)`: a `ReadableStream` pulling chunks from `source`, an async
//!   host function: `source(false, wanted)` answers `{chunks, done}` with at most `wanted`
//!   chunks, `source(true)` cancels;
//! - `toHost(stream)`: a function reading `stream` (`() => reader.read()`, `(true, reason)` cancels);
//! - `streamOf(read)`: the stream behind a function `toHost` made;
//! - `readablePrototype`: `ReadableStream.prototype`, for the engine's brand check.

/// The install script (see the crate documentation).
pub const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/web_globals.js"));

/// Every global `SCRIPT` defines (`js/global_names.txt`). Engines that install lazily define
/// these names up front.
pub const GLOBAL_NAMES: &[&str] = &include!(concat!(env!("OUT_DIR"), "/global_names.rs"));

/// The script's name in stack traces.
pub const SCRIPT_NAME: &str = "jscell:web";
