//! The coordinator's command line, as the `ostrich-coordinator` binary runs it (with the
//! app embedded): the browser suite's cluster test starts nodes of this binary, which it can
//! kill, where `Server::start` runs the coordinator inside the test's own process.

fn main() -> std::process::ExitCode {
    match ostrich_coordinator::run_command_line() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
