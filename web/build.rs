//! Assembles the one script every engine runs to install the web globals: `js/dom_exception.js`,
//! then the pinned `web-streams-polyfill` (prepared by `cargo xtask setup` in `JSCELL_GUEST_TOOLS`)
//! wrapped as a CommonJS module, then the other `js/*.js` in order, all inside one function of
//! `global`. The polyfill looks up `globalThis.DOMException` as it loads; it is handed a
//! `globalThis` holding ours, so that it never reads the real global while that is being set up.
//! `js/global_names.txt` is written into the script (`GLOBAL_NAMES`) and into Rust.

use std::fs;
use std::path::PathBuf;

/// Each file is declarations in the shared scope; later files use earlier ones (and `streams`).
const PARTS: [&str; 6] = ["events", "abort", "encoding", "polyfill_fixes", "stream_bridge", "install"];

fn main() {
    let tools = PathBuf::from(std::env::var("JSCELL_GUEST_TOOLS").expect("JSCELL_GUEST_TOOLS is set in .cargo/config.toml"));
    let ponyfill = tools.join("web-streams-polyfill").join("ponyfill.js");
    println!("cargo:rerun-if-changed=js");
    println!("cargo:rerun-if-changed={}", ponyfill.display());
    let streams = fs::read_to_string(&ponyfill).unwrap_or_else(|e| {
        panic!("{} is missing ({e}): run `cargo xtask setup` (every cargo xtask task runs it)", ponyfill.display())
    });
    let part = |name: &str| {
        let file = if name.contains('.') { name.to_string() } else { format!("{name}.js") };
        let path = PathBuf::from("js").join(file);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let names: Vec<String> = part("global_names.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|name| format!("{name:?}"))
        .collect();
    let mut script = String::from("(function (global) {\n\"use strict\";\n");
    script.push_str(&format!("const GLOBAL_NAMES = Object.freeze([{}]);\n", names.join(", ")));
    script.push_str(&part("dom_exception"));
    script.push_str("\nconst streams = (function (globalThis) { const module = { exports: {} }; const exports = module.exports;\n");
    script.push_str(&streams);
    script.push_str("\n;return module.exports; })({ DOMException });\n");
    for name in PARTS {
        script.push_str(&part(name));
        script.push('\n');
    }
    script.push_str("})");
    if !script.is_ascii() {
        panic!("the web globals script must be ASCII: V8 takes it as a static one-byte string");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let write = |file: &str, text: String| {
        let path = out.join(file);
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    };
    write("web_globals.js", script);
    write("global_names.rs", format!("[{}]", names.join(", ")));
}
