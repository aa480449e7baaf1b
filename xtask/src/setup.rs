//! `cargo xtask setup`: what every build needs on this machine, installed when missing. Fast and
//! silent when everything is already there, so every other task can start with it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::{cmd, guest_tools, venv};

/// Debian packages builds need, each with a probe that succeeds once the package's tool works.
const PACKAGES: [(&str, &[&str]); 3] = [
    // .cargo/config.toml links with `-fuse-ld=lld`: linking V8 with the default linker is far slower.
    ("lld", &["ld.lld", "--version"]),
    // Debian ships `python3 -m venv` without ensurepip unless python3-venv is installed.
    ("python3-venv", &["python3", "-c", "import ensurepip, venv"]),
    // Fetches the wasm guest's engine source (guest_tools.rs).
    ("curl", &["curl", "--version"]),
];

pub fn setup() -> Result<(), String> {
    check_v8_archive()?;
    install_missing_packages()?;
    venv::ensure()?;
    guest_tools::ensure()
}

/// The v8 crate builds offline from the archive that .cargo/config.toml names; without it the
/// crate's build script fails deep inside a long build, so say so up front.
fn check_v8_archive() -> Result<(), String> {
    match std::env::var_os("RUSTY_V8_ARCHIVE") {
        Some(archive) if !Path::new(&archive).is_file() => Err(format!(
            "RUSTY_V8_ARCHIVE={} does not exist: jscell builds V8 from ../shared/v8, which must sit beside the checkout",
            Path::new(&archive).display()
        )),
        _ => Ok(()),
    }
}

fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .filter(|(_, probe)| !cmd::succeeds(Command::new(probe[0]).args(&probe[1..])))
        .map(|(package, _)| *package)
        .collect()
}

fn install_missing_packages() -> Result<(), String> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if std::fs::metadata("/proc/self")
        .map_err(|error| format!("cannot read /proc/self: {error}"))?
        .uid()
        != 0
    {
        return Err(format!("missing Debian packages: {list}. Install them (`sudo apt-get install -y {list}`) or run as root"));
    }
    cmd::run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    match missing_packages().as_slice() {
        [] => Ok(()),
        still => Err(format!(
            "installed {list}, but these still do not work: {}",
            still.join(" ")
        )),
    }
}
