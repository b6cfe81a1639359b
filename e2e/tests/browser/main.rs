//! Browser tests: the real coordinator, the real app in headless Chromium, real sockets.
//! Screenshots land in `target/e2e-artifacts/`.

/// Cluster mode: the dashboard outlives the node that ran its swarm.
mod cluster;
mod common;

/// The landing page creates nothing; wrong and expired codes each get their own message on
/// the phone join page; leaving asks first and returns to the landing page.
mod join;
/// WebGPU and CPU kernels agree in the browser.
mod kernels;
/// The master computes unless told not to; a SwiftShader phone chooses the CPU by
/// measurement; the device table at tablet width, and forgetting an offline device; power
/// policies and a hidden page pause a phone and say why.
mod phones;
/// A master shares an invite, two browsers join (WebGPU and CPU) and compute real jobs
/// under the master's live controls.
mod swarm;
/// User WebAssembly kernels in Chromium: the time limit, and the same bytes as wasmtime.
mod wasm;
