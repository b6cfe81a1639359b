//! User WebAssembly kernels on native hosts.
//!
//! - [`prepare`] checks an uploaded module against the kernel ABI (see
//!   `ostrich_protocol::wasm` and ARCHITECTURE.md) and the allowed features, naming the
//!   cause of a refusal, and writes the memory limit into it and canonicalises its NaNs
//!   ([`canonical`]), so its output bytes are the same on every host, browsers included;
//! - [`Host`] runs kernels in wasmtime, configured for determinism, with time limits on
//!   workers ([`Host::worker`]) and fuel on the coordinator's `verify` ([`Host::verifier`]);
//! - [`Cache`] keeps compiled modules by hash, so a device compiles each once;
//! - [`wat_kernels`] holds kernels written by hand in WAT, for tests.

mod cache;
pub mod canonical;
mod host;
mod validate;
pub mod wat_kernels;

pub use cache::Cache;
pub use host::{Host, Kernel, KernelError, MAX_WASM_STACK, TICK, VERIFY_FUEL};
pub use validate::{ModuleError, Prepared, module_hash, prepare};

#[cfg(test)]
mod tests;
