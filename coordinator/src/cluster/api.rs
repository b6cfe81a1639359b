//! The HTTP API through any node. A request whose master key belongs to a swarm another
//! node owns is sent to that node over NATS (request and reply on `<prefix>.api.<node>`),
//! which answers it with its own HTTP server on loopback, exactly as if the client had
//! called it; the answer comes back the same way. Bodies larger than [`INLINE_BYTES`] travel
//! through the object store (NATS refuses messages over its `max_payload`).

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use ostrich_protocol::{decode, encode};
use serde::{Deserialize, Serialize};

use super::{ClusterError, store::Cluster, unavailable};

/// Bodies up to this size travel in the NATS message itself.
pub const INLINE_BYTES: usize = 512 * 1024;
/// How long a relayed API call may take, uploads and downloads included.
pub const API_TIMEOUT: Duration = Duration::from_secs(120);
/// The header that marks a request relayed from another node: it is never relayed again
/// (a swarm that moved meanwhile answers 503, and the client retries).
pub const RELAYED_HEADER: &str = "x-ostrich-relayed";

/// A body, in the message or in the object store.
#[derive(Debug, Serialize, Deserialize)]
pub enum Body {
    /// The bytes.
    Inline(#[serde(with = "ostrich_protocol::byte_buf")] Vec<u8>),
    /// The name of a temporary object holding them; the reader deletes it.
    Blob(String),
}

/// An API request as the gateway received it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Body,
}

/// The owner's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Content-Disposition` header (result downloads).
    pub content_disposition: Option<String>,
    /// The body.
    pub body: Body,
}

/// The subject a node answers API calls on.
fn subject(cluster: &Cluster, node: &str) -> String {
    format!("{}.api.{node}", cluster.settings().prefix)
}

async fn wrap(cluster: &Cluster, bytes: Vec<u8>) -> Result<Body, ClusterError> {
    if bytes.len() <= INLINE_BYTES {
        return Ok(Body::Inline(bytes));
    }
    let name = format!("api.{}", uuid::Uuid::new_v4().simple());
    cluster.put_blob(&name, bytes).await?;
    Ok(Body::Blob(name))
}

async fn unwrap(cluster: &Cluster, body: Body) -> Result<Vec<u8>, ClusterError> {
    match body {
        Body::Inline(bytes) => Ok(bytes),
        Body::Blob(name) => cluster.take_blob(&name).await,
    }
}

/// Sends `request` (with its body) to `node` and waits for its answer.
pub async fn forward(
    cluster: &Cluster,
    node: &str,
    mut request: ApiRequest,
    body: Vec<u8>,
) -> Result<(ApiResponse, Vec<u8>), ClusterError> {
    request.body = wrap(cluster, body).await?;
    let payload = encode(&request).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
    let (client, subject) = (cluster.nats().client.clone(), subject(cluster, node));
    let ask = async move {
        let ask = async_nats::Request::new().payload(payload.into()).timeout(Some(API_TIMEOUT));
        client.send_request(subject, ask).await
    };
    let reply = cluster.nats().run(ask).await?.map_err(unavailable)?;
    let mut response: ApiResponse = decode(&reply.payload).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
    let body = unwrap(cluster, std::mem::replace(&mut response.body, Body::Inline(Vec::new()))).await?;
    Ok((response, body))
}

/// Answers the API calls other nodes relay to this one, by calling this node's own HTTP
/// server at `local` (its plain listener, on loopback).
pub fn serve(cluster: Cluster, local: SocketAddr) -> Result<(), ClusterError> {
    let client = cluster.nats().client.clone();
    let subject = subject(&cluster, cluster.node());
    let mut requests = cluster
        .nats()
        .block(async move { client.subscribe(subject).await }, super::nats::CALL_TIMEOUT)?
        .map_err(unavailable)?;
    let runner = cluster.clone();
    runner.nats().spawn(async move {
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply.clone() else { continue };
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let response = match answer(&cluster, local, &message.payload).await {
                    Ok(response) => response,
                    Err(error) => ApiResponse {
                        status: 503,
                        content_type: Some("application/json".into()),
                        content_disposition: None,
                        body: Body::Inline(
                            serde_json::json!({ "error": format!("the swarm's node cannot answer now: {error}") })
                                .to_string()
                                .into_bytes(),
                        ),
                    },
                };
                match encode(&response) {
                    Ok(bytes) => {
                        let _ = cluster.nats().client.publish(reply, bytes.into()).await;
                    }
                    Err(error) => log::error!("cannot encode an API answer: {error}"),
                }
            });
        }
    });
    Ok(())
}

async fn answer(cluster: &Cluster, local: SocketAddr, payload: &Bytes) -> Result<ApiResponse, ClusterError> {
    let mut request: ApiRequest = decode(payload).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
    let body = unwrap(cluster, std::mem::replace(&mut request.body, Body::Inline(Vec::new()))).await?;
    let call = move || {
        let url = format!("http://{local}{}", request.path);
        let mut call = ureq::request(&request.method, &url).set(RELAYED_HEADER, "1").timeout(API_TIMEOUT);
        if let Some(value) = &request.authorization {
            call = call.set("Authorization", value);
        }
        if let Some(value) = &request.content_type {
            call = call.set("Content-Type", value);
        }
        let response = match call.send_bytes(&body) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => return Err(unavailable(error)),
        };
        let status = response.status();
        let content_type = response.header("Content-Type").map(str::to_string);
        let content_disposition = response.header("Content-Disposition").map(str::to_string);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).map_err(unavailable)?;
        Ok((status, content_type, content_disposition, bytes))
    };
    let (status, content_type, content_disposition, bytes) =
        tokio::task::spawn_blocking(call).await.map_err(unavailable)??;
    let body = wrap(cluster, bytes).await?;
    Ok(ApiResponse { status, content_type, content_disposition, body })
}
