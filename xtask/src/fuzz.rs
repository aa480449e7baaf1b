//! `cargo xtask fuzz`: the coverage-guided fuzz targets of `tests/fuzz` (every decoder the
//! parent runs on guest bytes) under AFL++, through `cargo afl`, which works on stable Rust.
//! The targets build in `target/fuzz`, apart from the release build, so neither rebuilds the
//! other. Each run starts from the seeds the targets write from the real encoders; a crash
//! (a panic, or live memory past the targets' bound) or a hang fails the task, naming the
//! input that caused it.

use std::path::PathBuf;
use std::process::Command;

use crate::tasks::cargo;
use crate::{cmd, root};

/// Every target, by its binary's name.
const TARGETS: [&str; 3] = ["wire_frame", "lane_frame", "serialized_value"];
/// AFL's largest input: the targets' `MAX_INPUT`.
const MAX_INPUT: &str = "262144";

/// How long each target runs.
#[derive(Clone, Copy)]
pub enum Budget {
    Seconds(u32),
    Executions(u64),
}

/// Build the targets and run each within `budget`; they run side by side.
pub fn fuzz(budget: Budget) -> Result<(), String> {
    ensure_cargo_afl()?;
    cmd::run(
        Command::new(cargo())
            .args(["afl", "build", "--release", "--package", "jscell-fuzz", "--target-dir", "target/fuzz"])
            // RUSTFLAGS replaces .cargo/config.toml's flags: keep its linker.
            .env("RUSTFLAGS", "-C link-arg=-fuse-ld=lld")
            .current_dir(root()),
    )?;
    let runs = TARGETS.iter().map(|target| start(target, budget)).collect::<Result<Vec<_>, _>>()?;
    let mut failures = Vec::new();
    for (target, mut run) in TARGETS.iter().zip(runs) {
        let status = run.wait().map_err(|e| format!("waiting for the {target} fuzzer: {e}"))?;
        match report(target) {
            Ok(line) if status.success() => eprintln!("xtask: fuzz {line}"),
            Ok(line) => failures.push(format!("{line}; afl-fuzz {status}")),
            Err(why) => failures.push(why),
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("; ")),
    }
}

fn output(target: &str) -> PathBuf {
    root().join("target/fuzz/out").join(target)
}

fn start(target: &str, budget: Budget) -> Result<std::process::Child, String> {
    let binary = root().join("target/fuzz/release").join(target);
    let seeds = root().join("target/fuzz/seeds").join(target);
    cmd::run(Command::new(&binary).arg("--seeds").arg(&seeds))?;
    let out = output(target);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let (flag, value) = match budget {
        Budget::Seconds(seconds) => ("-V", seconds.to_string()),
        Budget::Executions(executions) => ("-E", executions.to_string()),
    };
    let mut command = Command::new(cargo());
    command
        .args(["afl", "fuzz", "-i"])
        .arg(&seeds)
        .arg("-o")
        .arg(&out)
        .args([flag, &value, "-G", MAX_INPUT])
        .arg(&binary)
        // No terminal, no CPU pinning (the targets share the cores), and no demands on the
        // machine's core dump and CPU frequency settings, which CI cannot change.
        .envs([
            ("AFL_NO_UI", "1"),
            ("AFL_NO_AFFINITY", "1"),
            ("AFL_SKIP_CPUFREQ", "1"),
            ("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1"),
        ])
        .stdout(std::fs::File::create(out.join("afl.log")).map_err(|e| e.to_string())?)
        .current_dir(root());
    eprintln!("xtask: fuzzing {target} ({flag} {value}), log in {}", out.join("afl.log").display());
    command.spawn().map_err(|e| format!("cannot start the {target} fuzzer: {e}"))
}

/// One line on a finished run, or why it failed (with the inputs that crashed or hung).
fn report(target: &str) -> Result<String, String> {
    let run = output(target).join("default");
    let stats = std::fs::read_to_string(run.join("fuzzer_stats")).map_err(|e| format!("{target}: no fuzzer_stats ({e})"))?;
    let stat = |name: &str| {
        stats.lines().find_map(|line| line.split_once(':').filter(|(key, _)| key.trim() == name)).map(|(_, v)| v.trim().to_string())
    };
    let line = format!(
        "{target}: {} executions, {} paths, {} crashes, {} hangs",
        stat("execs_done").unwrap_or_default(),
        stat("corpus_count").unwrap_or_default(),
        stat("saved_crashes").unwrap_or_default(),
        stat("saved_hangs").unwrap_or_default()
    );
    if stat("saved_crashes").as_deref() != Some("0") || stat("saved_hangs").as_deref() != Some("0") {
        return Err(format!("{line}: inputs in {} and {}", run.join("crashes").display(), run.join("hangs").display()));
    }
    Ok(line)
}

/// `cargo afl` (which brings AFL++ with it) from crates.io, where the machine lacks it.
fn ensure_cargo_afl() -> Result<(), String> {
    if cmd::succeeds(Command::new(cargo()).args(["afl", "--version"])) {
        return Ok(());
    }
    cmd::run(Command::new(cargo()).args(["install", "cargo-afl", "--locked", "--version", "0.18.2"]))
}
