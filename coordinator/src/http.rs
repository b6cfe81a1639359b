//! HTTP routes: the WebSocket endpoint, the pages, and the JSON API for masters
//! (`Authorization: Bearer <master key>`).

use std::{net::IpAddr, sync::Arc};

use actix::Addr;
use actix_web::{
    HttpRequest, HttpResponse, Responder, ResponseError,
    http::{StatusCode, header},
    web,
};
use ostrich_protocol::{CommandErrorCode, JobId, JobSpec, SwarmId};
use serde_json::json;

use crate::{
    Config, assets,
    metrics::Metrics,
    scheduler::{Authenticate, CommandError, JobReply, JobRequest, Scheduler},
    session::DeviceSession,
    tokens::{Admit, JoinFailed, Mint, Revoke, TokenAuthority, TokenError},
};

/// The largest JSON body accepted: a job that carries two 4096×4096 matrices as text.
const MAX_JSON_BYTES: usize = 512 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The scheduler actor.
    pub scheduler: Addr<Scheduler>,
    /// The token authority actor.
    pub tokens: Addr<TokenAuthority>,
    /// The figures `/metrics` serves.
    pub metrics: Arc<Metrics>,
    /// The configuration.
    pub config: Arc<Config>,
}

/// An API error: a status and a message, answered as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({ "error": self.message }))
    }
}

impl From<CommandError> for ApiError {
    fn from((code, message): CommandError) -> Self {
        let status = match code {
            CommandErrorCode::NotMaster => StatusCode::FORBIDDEN,
            CommandErrorCode::InvalidValue => StatusCode::UNPROCESSABLE_ENTITY,
            CommandErrorCode::NotFound => StatusCode::NOT_FOUND,
            CommandErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        };
        Self::new(status, message)
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(error: actix::MailboxError) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("coordinator unavailable: {error}"))
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let status = match error {
            TokenError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            TokenError::NotFound => StatusCode::NOT_FOUND,
            TokenError::Entropy => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_JSON_BYTES))
        .route("/", web::get().to(assets::index))
        .route("/join", web::get().to(assets::index))
        .route("/healthz", web::get().to(|| async { "ok" }))
        .route("/metrics", web::get().to(metrics))
        .route("/ws", web::get().to(websocket))
        .service(
            web::scope("/api")
                .route("/jobs", web::post().to(submit_job))
                .route("/jobs", web::get().to(list_jobs))
                .route("/jobs/{id}", web::get().to(job_status))
                .route("/jobs/{id}", web::delete().to(delete_job))
                .route("/jobs/{id}/cancel", web::post().to(cancel_job))
                .route("/jobs/{id}/result", web::get().to(job_result))
                .route("/invites", web::post().to(create_invite))
                .route("/invites/{token}", web::delete().to(revoke_invite)),
        )
        .route("/{file}", web::get().to(assets::file));
}

/// The coordinator's figures in the OpenMetrics text format, which Prometheus scrapes.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip())
}

async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, socket, stream) = actix_ws::handle(&req, body)?;
    DeviceSession::start(
        socket,
        stream,
        client_ip(&req),
        state.scheduler.clone(),
        state.tokens.clone(),
        state.config.heartbeat_timeout(),
    );
    Ok(response)
}

/// The swarm whose master key the request carries. Wrong keys count as failed joins of the
/// client's address, so the API cannot be used to guess keys.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<SwarmId, ApiError> {
    let client = client_ip(req);
    if state.tokens.send(Admit { client, token: None }).await?.is_err() {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed attempts; try again later"));
    }
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing 'Authorization: Bearer <master key>'"))?;
    match state.scheduler.send(Authenticate { key: key.to_string() }).await? {
        Some(swarm) => Ok(swarm),
        None => {
            state.tokens.do_send(JoinFailed { client });
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown master key"))
        }
    }
}

async fn jobs(state: &AppState, request: JobRequest) -> Result<JobReply, ApiError> {
    Ok(state.scheduler.send(request).await??)
}

async fn submit_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    spec: web::Json<JobSpec>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Submit(swarm, spec.into_inner())).await? {
        JobReply::Submitted(job_id) => Ok(HttpResponse::Created().json(json!({ "job_id": job_id }))),
        _ => Err(unexpected()),
    }
}

async fn list_jobs(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::List(swarm)).await? {
        JobReply::Jobs(list) => Ok(HttpResponse::Ok().json(list)),
        _ => Err(unexpected()),
    }
}

async fn job_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Status(swarm, *id)).await? {
        JobReply::Job(progress) => Ok(HttpResponse::Ok().json(progress)),
        _ => Err(unexpected()),
    }
}

async fn cancel_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Cancel(swarm, *id)).await? {
        JobReply::Job(progress) => Ok(HttpResponse::Ok().json(progress)),
        _ => Err(unexpected()),
    }
}

async fn delete_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Delete(swarm, *id)).await? {
        JobReply::Deleted => Ok(HttpResponse::NoContent().finish()),
        _ => Err(unexpected()),
    }
}

async fn job_result(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Result(swarm, *id)).await? {
        JobReply::File(Some(file)) => Ok(HttpResponse::Ok()
            .content_type(file.content_type)
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", file.file_name)))
            .body(file.bytes)),
        JobReply::File(None) => Err(ApiError::new(StatusCode::CONFLICT, "the job has not completed")),
        _ => Err(unexpected()),
    }
}

async fn create_invite(req: HttpRequest, state: web::Data<AppState>) -> Result<impl Responder, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    let invite = state.tokens.send(Mint { swarm }).await??;
    Ok(HttpResponse::Created().json(invite))
}

async fn revoke_invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    state.tokens.send(Revoke { swarm, token: token.into_inner() }).await??;
    Ok(HttpResponse::NoContent().finish())
}

fn unexpected() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected scheduler reply")
}
