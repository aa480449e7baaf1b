//! `cargo xtask <task>`: the commands the README names, written in Rust so that a fresh machine
//! needs nothing but cargo to run them.

mod cmd;
mod fuzz;
mod guest_tools;
mod setup;
mod tasks;
mod venv;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup   install what builds need (lld, python3-venv, curl), the project venv .venv and the
          wasm guest's toolchain (target/guest-tools)
  build   setup, then build the Python extension into .venv (maturin develop --release)
  demo    build, then run examples/quickstart.py
  test    build, then the Rust tests and the pytest suite over every backend
  bench   build, then benchmark jscell against jsrun and mini-racer (bench/bench.py)
  fuzz    fuzz every decoder the parent runs on guest bytes (AFL++), 60 s each;
          `fuzz --executions N` runs each target for N executions instead";

/// The workspace root: every path xtask touches is relative to it, wherever cargo was run from.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits inside the workspace")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["setup"] => setup::setup(),
        ["build"] => tasks::build(),
        ["demo"] => tasks::demo(),
        ["test"] => tasks::test(),
        ["bench"] => tasks::bench(),
        ["fuzz"] => fuzz::fuzz(fuzz::Budget::Seconds(60)),
        ["fuzz", "--executions", count] => match count.parse() {
            Ok(count) => fuzz::fuzz(fuzz::Budget::Executions(count)),
            Err(_) => Err(format!("--executions takes a count, not {count:?}")),
        },
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error}");
            ExitCode::FAILURE
        }
    }
}
