//! The guest with the test-only fault hook: built by `cargo xtask test`, never shipped.

fn main() -> std::process::ExitCode {
    jscell_guest::run()
}
