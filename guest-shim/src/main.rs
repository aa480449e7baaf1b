fn main() -> std::process::ExitCode {
    jscell_guest::run()
}
