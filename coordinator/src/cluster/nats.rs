//! The NATS connection. async-nats needs a tokio runtime that keeps running while the
//! scheduler's thread waits for an answer, so the connection lives on a runtime of its own
//! (one thread); [`Nats::block`] runs a future there and waits for it, with a deadline.

use std::{future::Future, sync::Arc, time::Duration};

use async_nats::{ConnectOptions, jetstream};

use super::{ClusterError, unavailable};

/// The runtime's handle; shut down in the background when the last handle goes (a runtime
/// may not be dropped from inside another one, as the actix threads are).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A connection to NATS, with JetStream.
#[derive(Clone)]
pub struct Nats {
    runtime: Arc<Runtime>,
    handle: tokio::runtime::Handle,
    /// The core client: plain subjects.
    pub client: async_nats::Client,
    /// JetStream on that client.
    pub jetstream: jetstream::Context,
    /// Told each time the connection drops.
    disconnects: tokio::sync::broadcast::Sender<()>,
}

/// How long a JetStream call may take before it counts as failed. Short: the scheduler
/// waits for its commits, and a NATS outage must not stall it for long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

impl Nats {
    /// Connects to `url` (servers comma-separated), retrying until it answers or
    /// `connect_timeout` passes. Once connected the client reconnects on its own, forever.
    pub fn connect(url: &str, name: &str, connect_timeout: Duration) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nats")
            .enable_all()
            .build()
            .map_err(unavailable)?;
        let handle = runtime.handle().clone();
        let runtime = Arc::new(Runtime(Some(runtime)));
        let servers: Vec<async_nats::ServerAddr> =
            url.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>().map_err(unavailable)?;
        let (disconnects, _) = tokio::sync::broadcast::channel(16);
        let tell = disconnects.clone();
        let options = ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(CALL_TIMEOUT))
            .event_callback(move |event| {
                let tell = tell.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => log::info!("NATS connected"),
                        async_nats::Event::Disconnected => {
                            log::warn!("NATS disconnected; reconnecting");
                            let _ = tell.send(());
                        }
                        other => log::info!("NATS: {other}"),
                    }
                }
            });
        let connect = async move {
            let client = options.connect(servers).await.map_err(unavailable)?;
            client.flush().await.map_err(unavailable)?;
            Ok::<_, ClusterError>(client)
        };
        let client = block_on(&handle, connect, connect_timeout)??;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(CALL_TIMEOUT);
        Ok(Self { runtime, handle, client, jetstream, disconnects })
    }

    /// Runs `future` on the NATS runtime and waits for it, at most `timeout`.
    pub fn block<F>(&self, future: F, timeout: Duration) -> Result<F::Output, ClusterError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let _alive = &self.runtime;
        block_on(&self.handle, future, timeout)
    }

    /// Runs `future` on the NATS runtime, from any async context (an actix thread's, a
    /// test's): async-nats's timers and connection live there.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, ClusterError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future).await.map_err(unavailable)
    }

    /// Runs `future` on the NATS runtime without waiting for it.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(future);
    }

    /// A receiver told each time the connection drops.
    pub fn disconnects(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.disconnects.subscribe()
    }

    /// Whether the client is connected now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// Spawns `future` on `handle` and waits on this thread for its output. Works from any
/// thread, an actix one included: the future runs on the NATS runtime's own thread.
fn block_on<F>(handle: &tokio::runtime::Handle, future: F, timeout: Duration) -> Result<F::Output, ClusterError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tell, told) = std::sync::mpsc::sync_channel(1);
    let task = handle.spawn(async move {
        let _ = tell.send(future.await);
    });
    match told.recv_timeout(timeout) {
        Ok(output) => Ok(output),
        Err(_) => {
            task.abort();
            Err(ClusterError::Unavailable(format!("no answer from NATS within {timeout:?}")))
        }
    }
}
