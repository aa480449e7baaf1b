//! Running the programs a task is made of. Each step is echoed before it runs, so a log shows what
//! failed; a step that fails, or cannot even start, ends the task with an error naming it.

use std::process::{Command, ExitStatus, Stdio};

/// Runs a step with the terminal attached; an error unless it exits 0.
pub fn run(command: &mut Command) -> Result<(), String> {
    let status = status(command)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", show(command)))
    }
}

/// Runs a step and returns how it exited, for callers that read exit codes themselves.
pub fn status(command: &mut Command) -> Result<ExitStatus, String> {
    eprintln!("xtask: $ {}", show(command));
    command
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", show(command)))
}

/// Whether a silent probe of the machine (`ld.lld --version`, ...) succeeds.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn show(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    if let Some(dir) = command.get_current_dir() {
        line.push_str("  (in ");
        line.push_str(&dir.to_string_lossy());
        line.push(')');
    }
    line
}
