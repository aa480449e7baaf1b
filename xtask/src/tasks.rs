//! The tasks beyond setup, each a few steps on top of the one before: build < demo, test, bench.

use std::ffi::OsString;
use std::process::Command;

use crate::fuzz::{self, Budget};
use crate::{cmd, root, setup, venv};

/// pytest's exit code for "no tests were collected": an empty run must not pass as green.
const PYTEST_NO_TESTS: i32 = 5;
/// How long `cargo xtask test` fuzzes each target (they run side by side).
const SHORT_FUZZ_SECONDS: u32 = 20;

/// Builds the `jscell` extension in release and installs it into .venv. `RUSTY_V8_ARCHIVE` passes
/// through untouched: cargo set it from .cargo/config.toml when it started xtask, and any other
/// value would make the v8 crate rebuild.
pub fn build() -> Result<(), String> {
    setup::setup()?;
    // The hardened backend's guest ships inside the Python package, beside the extension.
    cmd::run(
        Command::new(cargo())
            .args(["build", "--release", "--package", "jscell-guest"])
            .current_dir(root()),
    )?;
    let guest = root().join("target/release/jscell-guest");
    let packaged = root().join("python/jscell/jscell-guest");
    std::fs::copy(&guest, &packaged)
        .map_err(|e| format!("copying {} to {}: {e}", guest.display(), packaged.display()))?;
    cmd::run(
        Command::new(venv::bin("maturin"))
            .args(["develop", "--release"])
            .current_dir(root().join("python"))
            .env("VIRTUAL_ENV", venv::dir()),
    )
}

pub fn demo() -> Result<(), String> {
    build()?;
    cmd::run(
        Command::new(venv::bin("python"))
            .arg("examples/quickstart.py")
            .current_dir(root()),
    )
}

/// Runs both suites even when the first fails, so one run shows every failure.
pub fn test() -> Result<(), String> {
    build()?;
    // jscell-python is a pyo3 cdylib: it cannot link into a test binary; pytest covers it.
    let rust = cmd::run(
        Command::new(cargo())
            .args([
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "jscell-python",
                "--exclude",
                "jscell-fuzz",
            ])
            .current_dir(root()),
    );
    // The workspace's lints (Cargo.toml) with warnings denied. The fuzz targets build only under
    // `cargo afl`, which the fuzz run below does.
    let lints = cmd::run(
        Command::new(cargo())
            .args(["clippy", "--release", "--workspace", "--exclude", "jscell-fuzz", "--all-targets", "--", "-D", "warnings"])
            .current_dir(root()),
    );
    // The hardened tests attack the sandbox from inside a guest built with a fault hook, and
    // the parent from a guest that speaks the protocols as a compromised one would.
    let faulty = cmd::run(
        Command::new(cargo())
            .args(["build", "--release", "--package", "jscell-guest", "--features", "fault-injection"])
            .args(["--bin", "jscell-guest-faulty"])
            .current_dir(root()),
    )
    .and_then(|()| cmd::run(Command::new(cargo()).args(["build", "--release", "--package", "jscell-evil-guest"]).current_dir(root())));
    // A short run of every fuzz target; `cargo xtask fuzz` runs them as long as asked.
    let fuzzing = fuzz::fuzz(Budget::Seconds(SHORT_FUZZ_SECONDS));
    // One pytest run covers every backend: the suite's `backend` fixture parametrizes itself.
    let python = cmd::status(
        Command::new(venv::bin("python"))
            .args(["-m", "pytest", "tests/python", "-q"])
            .current_dir(root()),
    )
    .and_then(|status| match status.code() {
        Some(0) => Ok(()),
        Some(PYTEST_NO_TESTS) => Err("pytest collected no tests".to_string()),
        _ => Err(format!("pytest failed ({status})")),
    });
    // The hand-written stubs must match the native module, and the package must type-check.
    let types = cmd::run(
        Command::new(venv::bin("python"))
            .args(["-m", "mypy.stubtest", "jscell._jscell"])
            .current_dir(root().join("python")),
    )
    .and_then(|()| {
        cmd::run(
            Command::new(venv::bin("python"))
                .args(["-m", "mypy", "--strict", "jscell"])
                .current_dir(root().join("python")),
        )
    });
    match (rust, lints, faulty, fuzzing, python, types) {
        (Ok(()), Ok(()), Ok(()), Ok(()), Ok(()), Ok(())) => Ok(()),
        (rust, lints, faulty, fuzzing, python, types) => Err([rust.err(), lints.err(), faulty.err(), fuzzing.err(), python.err(), types.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

pub fn bench() -> Result<(), String> {
    build()?;
    venv::install("requirements-bench.txt")?;
    cmd::run(
        Command::new(venv::bin("python"))
            .arg("bench/bench.py")
            .current_dir(root()),
    )
}

/// The cargo that started xtask, so nested builds use the same toolchain.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
