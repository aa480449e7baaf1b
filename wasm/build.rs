//! Builds the guest: QuickJS-ng and `guest/*.c` compiled to a WASI reactor module with the
//! pinned toolchain `cargo xtask setup` prepares in `JSCELL_GUEST_TOOLS` (zig's clang and
//! wasi-libc, and the QuickJS-ng source checked against its published checksum).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest's own files, and the engine's (`engine_access.c` includes quickjs.c itself).
const GUEST_SOURCES: [&str; 9] =
    ["engine_access", "codec", "memory", "functions", "host_calls", "timers", "console", "modules", "web_globals"];
const ENGINE_SOURCES: [&str; 3] = ["libregexp", "libunicode", "dtoa"];
/// The guest's C stack, in linear memory; `runtime.c`'s STACK_BUDGET stays below it.
const STACK_BYTES: u32 = 8 << 20;

fn main() {
    let tools = PathBuf::from(std::env::var("JSCELL_GUEST_TOOLS").expect("JSCELL_GUEST_TOOLS is set in .cargo/config.toml"));
    let zig = tools.join("zig");
    let quickjs = tools.join("quickjs-ng");
    if !zig.exists() || !quickjs.join("quickjs.c").exists() {
        panic!(
            "the wasm guest's toolchain is missing from {}: run `cargo xtask setup` (every cargo xtask task runs it)",
            tools.display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guest = Path::new("guest");
    println!("cargo:rerun-if-changed=guest");
    println!("cargo:rerun-if-changed={}", quickjs.display());

    let mut units: Vec<(PathBuf, PathBuf)> = GUEST_SOURCES
        .iter()
        .chain(["runtime"].iter())
        .map(|name| (guest.join(format!("{name}.c")), out.join(format!("{name}.o"))))
        .collect();
    units.extend(ENGINE_SOURCES.iter().map(|name| (quickjs.join(format!("{name}.c")), out.join(format!("{name}.o")))));
    let compile = |(source, object): &(PathBuf, PathBuf)| {
        run(zig_cc(&zig, &tools)
            .args(["--target=wasm32-wasi", "-O2", "-D_GNU_SOURCE", "-Wno-deprecated", "-c"])
            .arg("-I")
            .arg(&quickjs)
            .arg(source)
            .arg("-o")
            .arg(object));
    };
    // Two at a time: these machines have two cores, and quickjs.c takes most of the time.
    std::thread::scope(|scope| {
        let (first, second) = units.split_at(1);
        let engine = scope.spawn(|| first.iter().for_each(compile));
        second.iter().for_each(compile);
        engine.join().expect("compiling the engine");
    });
    run(zig_cc(&zig, &tools)
        .args(["--target=wasm32-wasi", "-O2", "-s", "-mexec-model=reactor"])
        .arg(format!("-Wl,-z,stack-size={STACK_BYTES}"))
        .args(units.iter().map(|(_, object)| object))
        .arg("-o")
        .arg(out.join("jscell-guest.wasm")));
    // The compromised guest the unit tests attack the host with (src/evil_guest_tests.rs).
    println!("cargo:rerun-if-changed=tests");
    run(zig_cc(&zig, &tools)
        .args(["--target=wasm32-wasi", "-O2", "-s", "-mexec-model=reactor", "-Wno-unused-parameter"])
        .arg("tests/evil_guest.c")
        .arg("-o")
        .arg(out.join("jscell-evil-guest.wasm")));
}

fn zig_cc(zig: &Path, tools: &Path) -> Command {
    let mut command = Command::new(zig);
    command.arg("cc").env("ZIG_GLOBAL_CACHE_DIR", tools.join("zig-cache")).env("ZIG_LOCAL_CACHE_DIR", tools.join("zig-cache"));
    command
}

fn run(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed with {status}");
}
