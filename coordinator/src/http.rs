//! HTTP routes: the WebSocket endpoint, the pages, and the JSON API for masters
//! (`Authorization: Bearer <master key>`): jobs, invites, and for wasm jobs their modules,
//! records and per-task outputs.

use std::{net::IpAddr, sync::Arc};

use actix::Addr;
use actix_web::{
    FromRequest, HttpRequest, HttpResponse, Responder, ResponseError,
    http::{StatusCode, header},
    web,
};
use futures_util::StreamExt;
use ostrich_protocol::{CommandErrorCode, JobId, JobSpec, MAX_MODULE_BYTES, ModuleHash, SwarmId, read_records};
use ostrich_wasm::Host;
use serde_json::json;

use crate::{
    Config, assets,
    limits::{ReceiveBudget, Reservation, UnadmittedGate},
    metrics::Metrics,
    modules::{StoredModule, Verifier},
    scheduler::{Authenticate, CommandError, JobReply, JobRequest, Scheduler},
    session::{ConnectionSocket, DeviceSession, Setup},
    tokens::{Admit, JoinFailed, Mint, Revoke, TokenAuthority, TokenError},
};

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
    /// The global budget for bytes being received.
    pub budget: ReceiveBudget,
    /// The cap on unadmitted sockets per client address.
    pub unadmitted: UnadmittedGate,
    /// Compiles modules that export `verify`, for the scheduler's checks.
    pub verifier: Host,
    /// Cluster mode: how sessions reach the other nodes.
    pub gateway: Option<crate::session::Gateway>,
    /// What every device session talks to, and its deadlines.
    pub peers: crate::session::Peers,
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
            CommandErrorCode::RateLimited | CommandErrorCode::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            CommandErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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
            TokenError::RateLimited(_) | TokenError::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            TokenError::NotFound => StatusCode::NOT_FOUND,
            TokenError::Entropy => StatusCode::INTERNAL_SERVER_ERROR,
            TokenError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, error.to_string())
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(assets::index))
        .route("/join", web::get().to(assets::index))
        .route("/new", web::get().to(assets::index))
        .route("/healthz", web::get().to(|| async { "ok" }))
        .route("/metrics", web::get().to(metrics))
        .route("/ws", web::get().to(websocket))
        .service(
            web::scope("/api")
                .wrap(actix_web::middleware::from_fn(relay_api))
                // Every answer of the API is JSON, a path that does not parse and a route that
                // does not exist included.
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::new(StatusCode::NOT_FOUND, format!("no such job or invite: {error}")).into()
                }))
                .default_service(web::to(no_such_route))
                .route("/jobs", web::post().to(submit_job))
                .route("/jobs", web::get().to(list_jobs))
                .route("/jobs/{id}", web::get().to(job_status))
                .route("/jobs/{id}", web::delete().to(delete_job))
                .route("/jobs/{id}/cancel", web::post().to(cancel_job))
                .route("/jobs/{id}/result", web::get().to(job_result))
                .route("/jobs/{id}/records", web::post().to(append_records))
                .route("/jobs/{id}/close", web::post().to(close_job))
                .route("/jobs/{id}/tasks/{index}", web::get().to(task_output))
                .route("/modules", web::post().to(upload_module))
                .route("/modules", web::get().to(list_modules))
                .route("/modules/{hash}", web::delete().to(delete_module))
                .route("/invites", web::post().to(create_invite))
                .route("/invites/{token}", web::delete().to(revoke_invite)),
        )
        .route("/{file}", web::get().to(assets::file));
}

/// Cluster mode: an API call for a swarm another node owns is answered by that node (see
/// [`crate::cluster::api`]); any other goes on to this node's handlers. A swarm nobody owns
/// is taken over here first.
async fn relay_api(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use crate::cluster::{api, route::Placement};
    use actix_web::body::EitherBody;
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let key = bearer(req.request()).map(str::to_string);
    let relayed = req.headers().contains_key(api::RELAYED_HEADER);
    let (Some(state), Some(key)) = (state, key) else {
        return next.call(req).await.map(|r| r.map_body(|_, b| EitherBody::left(b)));
    };
    let Some(gateway) = state.gateway.clone() else {
        return next.call(req).await.map(|r| r.map_body(|_, b| EitherBody::left(b)));
    };
    let here = state.scheduler.send(Authenticate { key: key.clone() }).await.ok().flatten().is_some();
    let placement = if here || relayed { Ok(Placement::Here) } else { gateway.router.place_key(&key).await };
    let node = match placement {
        Ok(Placement::Here) => return next.call(req).await.map(|r| r.map_body(|_, b| EitherBody::left(b))),
        Ok(Placement::There { node, .. }) => node,
        Err(error) => {
            let error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the cluster cannot route this call now: {error}"),
            );
            return Ok(req.error_response(error).map_into_right_body());
        }
    };
    let (http_req, mut payload) = req.into_parts();
    let body = web::Payload::from_request(&http_req, &mut payload).await?;
    let forwarded = async {
        let (body, _held) = read_body(&http_req, body, state.config.max_request_bytes(), &state.budget).await?;
        let header = |name| http_req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let request = api::ApiRequest {
            method: http_req.method().to_string(),
            path: http_req.uri().path_and_query().map_or_else(|| http_req.path().to_string(), |p| p.to_string()),
            authorization: header(header::AUTHORIZATION),
            content_type: header(header::CONTENT_TYPE),
            body: api::Body::Inline(Vec::new()),
        };
        let cluster = gateway.router.cluster();
        let (answer, bytes) = api::forward(cluster, &node, request, body.to_vec()).await.map_err(|e| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the swarm's node did not answer: {e}"))
        })?;
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut response = HttpResponse::build(status);
        if let Some(value) = answer.content_type {
            response.insert_header((header::CONTENT_TYPE, value));
        }
        if let Some(value) = answer.content_disposition {
            response.insert_header((header::CONTENT_DISPOSITION, value));
        }
        Ok::<_, ApiError>(response.body(bytes))
    };
    let response = forwarded.await.unwrap_or_else(|error| error.error_response());
    Ok(actix_web::dev::ServiceResponse::new(http_req, response).map_into_right_body())
}

/// The bearer key of a request, if it has one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Any other request under `/api`: 405 on a route that exists with another method, else 404.
async fn no_such_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches("/api/").trim_end_matches('/').split('/').collect();
    let known = matches!(
        segments.as_slice(),
        ["jobs"]
            | ["jobs", _]
            | ["jobs", _, "cancel" | "result" | "records" | "close"]
            | ["jobs", _, "tasks", _]
            | ["invites"]
            | ["invites", _]
            | ["modules"]
            | ["modules", _]
    );
    Err(if known {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not allowed on {path}", req.method()))
    } else {
        ApiError::new(StatusCode::NOT_FOUND, format!("no API route {path}: see the README's HTTP API"))
    })
}

/// The coordinator's figures in the OpenMetrics text format, which Prometheus scrapes.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.set_receive(state.budget.used(), state.budget.limit());
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip())
}

/// Upgrades to a device session. Each address may hold a bounded number of sockets that
/// have not been admitted yet; past it the upgrade is refused with 429.
async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let client = client_ip(&req);
    let Some(pass) = state.unadmitted.enter(client) else {
        let limit = state.unadmitted.per_address();
        let message = format!("this address already has {limit} connections waiting to be admitted; try again later");
        return Ok(ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).error_response());
    };
    // actix-ws makes the handshake response and the writer; frames are read by the
    // session's own reader, which bounds them before they are buffered. The payload given
    // to actix-ws is an empty one: the request's is the reader's.
    let empty = web::Payload::from_request(&req, &mut actix_web::dev::Payload::None).await?;
    let (response, socket, _) = actix_ws::handle(&req, empty)?;
    let setup = Setup {
        client,
        peers: state.peers.clone(),
        budget: state.budget.clone(),
        pass,
        shutter: req.conn_data::<ConnectionSocket>().and_then(ConnectionSocket::take),
        gateway: state.gateway.clone(),
    };
    DeviceSession::start(socket, body.into_inner(), setup);
    Ok(response)
}

/// The swarm whose master key the request carries. Wrong keys count as failed joins of the
/// client's address, so the API cannot be used to guess keys.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<SwarmId, ApiError> {
    let client = client_ip(req);
    if state.tokens.send(Admit { client, token: None, new_swarm: false }).await?.is_err() {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed attempts; try again later"));
    }
    let key = bearer(req)
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

/// Reads a request body as it streams in, after the caller has authenticated it: at most
/// `limit` bytes, each chunk reserved from the receive budget before it is kept. A body over
/// the limit is refused with 413 naming the limit, as soon as its length says so.
async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    limit: usize,
    budget: &ReceiveBudget,
) -> Result<(web::BytesMut, Reservation), ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body exceeds the {limit} byte limit"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let busy =
        || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is receiving too much; try again later");
    let mut held = budget.reserve(declared.unwrap_or(0)).ok_or_else(busy)?;
    let mut bytes = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        let beyond = (bytes.len() + chunk.len()).saturating_sub(held.bytes());
        if beyond > 0 {
            held.absorb(budget.reserve(beyond).ok_or_else(busy)?);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, held))
}

async fn submit_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    let (body, _held) = read_body(&req, body, state.config.max_request_bytes(), &state.budget).await?;
    let spec: JobSpec = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the body is not a valid job: {e}")))?;
    drop(body);
    match jobs(&state, JobRequest::Submit(swarm, spec)).await? {
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

/// Uploads a wasm module (the body is the `.wasm` file): validated and prepared off the
/// scheduler, then stored for the swarm. 201 with its name when new, 200 when the swarm
/// had it already; 422 naming the cause when it is refused.
async fn upload_module(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    let (body, _held) = read_body(&req, body, MAX_MODULE_BYTES, &state.budget).await?;
    let host = state.verifier.clone();
    let module = web::block(move || -> Result<StoredModule, String> {
        let prepared = ostrich_wasm::prepare(&body).map_err(|e| e.to_string())?;
        let verifier = match prepared.has_verify {
            true => Some(Verifier::compile(&host, &prepared.bytes).map_err(|e| e.to_string())?),
            false => None,
        };
        Ok(StoredModule { hash: prepared.hash, bytes: prepared.bytes.into(), verifier })
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|reason| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason))?;
    match jobs(&state, JobRequest::PutModule(swarm, Box::new(module))).await? {
        JobReply::Module(info, true) => Ok(HttpResponse::Created().json(info)),
        JobReply::Module(info, false) => Ok(HttpResponse::Ok().json(info)),
        _ => Err(unexpected()),
    }
}

async fn list_modules(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Modules(swarm)).await? {
        JobReply::Modules(list) => Ok(HttpResponse::Ok().json(list)),
        _ => Err(unexpected()),
    }
}

fn module_hash(text: &str) -> Result<ModuleHash, ApiError> {
    ModuleHash::from_hex(text)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("{text} is not a module name (64 hex digits)")))
}

async fn delete_module(
    req: HttpRequest,
    state: web::Data<AppState>,
    hash: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::DeleteModule(swarm, module_hash(&hash)?)).await? {
        JobReply::Deleted => Ok(HttpResponse::NoContent().finish()),
        _ => Err(unexpected()),
    }
}

/// Query of a records upload.
#[derive(serde::Deserialize)]
struct AppendQuery {
    /// Close the job to more records after these.
    #[serde(default)]
    close: bool,
}

/// Appends records to an open wasm job: the body is the records, each a little-endian u32
/// length and its bytes, streamed within `--max-request-mib`; committed before the answer.
async fn append_records(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
    query: web::Query<AppendQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    let (body, _held) = read_body(&req, body, state.config.max_request_bytes(), &state.budget).await?;
    let records = read_records(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    drop(body);
    match jobs(&state, JobRequest::Append(swarm, *id, records, query.close)).await? {
        JobReply::Job(progress) => Ok(HttpResponse::Ok().json(progress)),
        _ => Err(unexpected()),
    }
}

async fn close_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    match jobs(&state, JobRequest::Close(swarm, *id)).await? {
        JobReply::Job(progress) => Ok(HttpResponse::Ok().json(progress)),
        _ => Err(unexpected()),
    }
}

/// One task's verified output, as raw bytes; 409 while it has none.
async fn task_output(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(JobId, u32)>,
) -> Result<HttpResponse, ApiError> {
    let swarm = authenticate(&req, &state).await?;
    let (job, index) = path.into_inner();
    match jobs(&state, JobRequest::Output(swarm, job, index)).await? {
        JobReply::Output(Some(bytes)) => Ok(HttpResponse::Ok().content_type("application/octet-stream").body(bytes)),
        JobReply::Output(None) => {
            Err(ApiError::new(StatusCode::CONFLICT, format!("task {index} of job {job} has no verified output yet")))
        }
        _ => Err(unexpected()),
    }
}

fn unexpected() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected scheduler reply")
}
