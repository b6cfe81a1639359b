//! The coordinator binary: parse the configuration, start logging, serve.

use std::net::TcpListener;

use anyhow::Context;
use clap::Parser;
use ostrich_coordinator::Config;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse();
    let listener = TcpListener::bind(config.bind).with_context(|| format!("cannot listen on {}", config.bind))?;
    ostrich_coordinator::run(listener, config).await.context("server failed")
}
