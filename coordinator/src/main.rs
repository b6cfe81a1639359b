//! The coordinator binary: parse the configuration, start logging, serve.

fn main() -> anyhow::Result<()> {
    ostrich_coordinator::run_command_line()
}
