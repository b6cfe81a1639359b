//! The device session actor, one per WebSocket: the only code that touches a socket. It
//! reads frames within the session's limits ([`reader`]), enforces the hello deadline and
//! the heartbeat timeout, and turns protocol messages into messages for the scheduler and
//! the token authority. A bad frame closes this session alone, with a reason in the close
//! frame.

mod reader;
mod socket;
mod writer;

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_ws::{CloseCode, CloseReason};
use bytes::Bytes;
use ostrich_protocol::{
    CommandErrorCode, JoinCredential, MasterCommand, RejectCode, Role, ToCoordinator, ToDevice, decode, encode,
};
use tokio::sync::mpsc;

pub use self::reader::{FrameReader, Inbound, ReadError};
pub use self::socket::{ConnectionSocket, ReadShutter};
use self::writer::{Write, relay_frames, write_frames};
use crate::{
    cluster::{
        relay::{CloseLink, LinkSender, OpenLink, Outbox, RelayHub, RelayWrite, is_welcome},
        route::{Placement, Router},
    },
    limits::{FrameLimit, ReceiveBudget, Reservation, UnadmittedPass},
    scheduler::{Admission, Command, DeviceEvent, Disconnected, MasterOf, Register, Scheduler, SessionId},
    tokens::{Admit, CheckClient, JoinFailed, Mint, Revoke, TokenAuthority, TokenError},
};

/// Bytes queued for a client that does not read before its session is closed.
const MAX_QUEUED_BYTES: usize = 256 * 1024 * 1024;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// What the scheduler and the ticker send to a session.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum Outbound {
    /// An encoded frame to write.
    Frame(Bytes),
    /// Close the session with this reason.
    Close(String),
    /// Close the session because the coordinator is shutting down (close code 1012,
    /// "service restart": the device reconnects).
    Shutdown,
    /// The session's frame limit changed (sent only to relayed sessions, whose gateway
    /// checks the device's frames).
    Limit(usize),
    /// The swarm's owner closed a relayed session (gateway side): close the socket with its
    /// code and reason.
    Relayed {
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
}

enum Phase {
    /// Waiting for the hello; the pass holds this socket's place among its address's
    /// unadmitted sockets until it is dropped, and the shutter (plain TCP only) stops the
    /// reading if the socket is refused.
    AwaitingHello {
        _pass: Option<UnadmittedPass>,
        shutter: Option<ReadShutter>,
    },
    Joined {
        role: Role,
    },
    /// Cluster mode, gateway side: another node owns the swarm; frames go there untouched.
    /// The pass is kept until the owner's welcome passes through.
    Relayed {
        up: LinkSender,
        pass: Option<UnadmittedPass>,
    },
}

/// What a gateway session needs in cluster mode.
#[derive(Clone)]
pub struct Gateway {
    /// Places hellos.
    pub router: Router,
    /// The node's relay.
    pub hub: Addr<RelayHub>,
    /// Where relayed frames go.
    pub outbox: Outbox,
}

/// What every session talks to, and its deadlines: the same for all sessions of a node.
#[derive(Clone)]
pub struct Peers {
    /// The scheduler actor.
    pub scheduler: Addr<Scheduler>,
    /// The token authority actor.
    pub tokens: Addr<TokenAuthority>,
    /// Silence after which an admitted session is closed.
    pub heartbeat_timeout: Duration,
    /// Time a new session has to be admitted.
    pub hello_timeout: Duration,
}

/// What a session run for another node's socket needs (cluster mode, owner side).
pub struct RelayedSetup {
    /// The device's address, as its gateway saw it.
    pub client: IpAddr,
    /// The actors and deadlines.
    pub peers: Peers,
    /// Its frame limit, also checked by the relay.
    pub limit: FrameLimit,
}

/// What a new session needs besides its socket.
pub struct Setup {
    /// The client's address.
    pub client: IpAddr,
    /// The actors and deadlines.
    pub peers: Peers,
    /// The global receive budget.
    pub budget: ReceiveBudget,
    /// This socket's place among its address's unadmitted sockets.
    pub pass: UnadmittedPass,
    /// A handle that shuts the socket for reading, when the connection has one.
    pub shutter: Option<ReadShutter>,
    /// Cluster mode: how to reach the other nodes.
    pub gateway: Option<Gateway>,
}

/// One device's WebSocket session.
pub struct DeviceSession {
    id: SessionId,
    client: IpAddr,
    writer: mpsc::UnboundedSender<Write>,
    queued: Arc<AtomicUsize>,
    scheduler: Addr<Scheduler>,
    tokens: Addr<TokenAuthority>,
    phase: Phase,
    /// The size of frame this session may send now; the scheduler raises it on admission
    /// and as the session leases tasks.
    limit: FrameLimit,
    last_seen: Instant,
    heartbeat_timeout: Duration,
    hello_timeout: Duration,
    /// Cluster mode: this node may relay the device to its swarm's owner.
    gateway: Option<Gateway>,
    /// Cluster mode: the socket is on another node, which relays (owner side).
    relayed: bool,
}

impl DeviceSession {
    /// Starts a session actor fed by `stream` and writing to `socket`.
    pub fn start(socket: actix_ws::Session, payload: actix_web::dev::Payload, setup: Setup) {
        let limit = FrameLimit::unadmitted();
        let stream = FrameReader::new(payload, limit.clone(), setup.budget);
        let phase = Phase::AwaitingHello { _pass: Some(setup.pass), shutter: setup.shutter };
        let (mut session, frames) = Self::new(setup.client, setup.peers, limit, phase);
        session.gateway = setup.gateway;
        actix_web::rt::spawn(write_frames(socket, frames, session.queued.clone()));
        DeviceSession::create(|ctx| {
            ctx.add_stream(stream);
            session
        });
    }

    /// Starts a session for a socket on another node (cluster mode, owner side): frames
    /// come from `stream`, and what it writes goes to `relay`.
    pub fn start_relayed(
        stream: impl futures_util::Stream<Item = Result<Inbound, ReadError>> + 'static,
        relay: Box<dyn Fn(RelayWrite) + Send>,
        setup: RelayedSetup,
    ) {
        let phase = Phase::AwaitingHello { _pass: None, shutter: None };
        let (mut session, frames) = Self::new(setup.client, setup.peers, setup.limit, phase);
        session.relayed = true;
        actix_web::rt::spawn(relay_frames(relay, frames, session.queued.clone()));
        DeviceSession::create(|ctx| {
            ctx.add_stream(stream);
            session
        });
    }

    /// A session not yet started, and the frames its writer is to send.
    fn new(client: IpAddr, peers: Peers, limit: FrameLimit, phase: Phase) -> (Self, mpsc::UnboundedReceiver<Write>) {
        let (writer, frames) = mpsc::unbounded_channel();
        let session = DeviceSession {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            client,
            writer,
            queued: Arc::new(AtomicUsize::new(0)),
            scheduler: peers.scheduler,
            tokens: peers.tokens,
            phase,
            limit,
            last_seen: Instant::now(),
            heartbeat_timeout: peers.heartbeat_timeout,
            hello_timeout: peers.hello_timeout,
            gateway: None,
            relayed: false,
        };
        (session, frames)
    }

    fn send(&self, message: &ToDevice) {
        match encode(message) {
            Ok(frame) => self.write(Bytes::from(frame)),
            Err(error) => log::error!("session {}: cannot encode: {error}", self.id),
        }
    }

    fn write(&self, frame: Bytes) {
        self.queued.fetch_add(frame.len(), Ordering::Relaxed);
        let _ = self.writer.send(Write::Frame(frame));
    }

    /// Closes this session, and only this one, with a reason the client can read. A socket
    /// closed before admission is also shut for reading, so nothing more of it is read
    /// while the close frame goes out (see [`socket`]).
    fn close(&self, ctx: &mut Context<Self>, code: CloseCode, reason: impl Into<String>) {
        let reason = reason.into();
        log::info!("session {} ({}): closing: {reason}", self.id, self.client);
        if let Phase::AwaitingHello { shutter: Some(shutter), .. } = &self.phase {
            shutter.shut();
        }
        let _ = self.writer.send(Write::Close(CloseReason { code, description: Some(reason) }));
        ctx.stop();
    }

    fn reject(&self, ctx: &mut Context<Self>, code: RejectCode, message: String) {
        self.send(&ToDevice::Rejected { code, message: message.clone() });
        self.close(ctx, CloseCode::Policy, message);
    }

    /// Handles one binary message; `held` is its share of the receive budget, kept until
    /// the scheduler has handled what it carries.
    fn on_frame(&mut self, frame: &[u8], held: Reservation, ctx: &mut Context<Self>) {
        if let Phase::Relayed { up, pass } = &self.phase {
            if pass.is_some() {
                // Not admitted yet: nothing but the hello goes to another node, so an
                // unadmitted peer cannot fill the relay.
                return self.close(ctx, CloseCode::Policy, "wait for the welcome before sending anything else");
            }
            self.last_seen = Instant::now();
            up.frame(frame, true);
            return;
        }
        let message = match decode::<ToCoordinator>(frame) {
            Ok(message) => message,
            Err(error) => {
                if error.version_mismatch().is_some() && matches!(self.phase, Phase::AwaitingHello { .. }) {
                    return self.reject(ctx, RejectCode::VersionMismatch, error.to_string());
                }
                return self.close(ctx, CloseCode::Invalid, format!("malformed frame: {error}"));
            }
        };
        self.last_seen = Instant::now();
        match (&self.phase, message) {
            (Phase::AwaitingHello { .. }, ToCoordinator::Hello { device_id, name, capabilities, credential }) => {
                match self.gateway.clone() {
                    Some(gateway) => self.place(
                        ctx,
                        gateway,
                        Bytes::copy_from_slice(frame),
                        device_id,
                        name,
                        capabilities,
                        credential,
                    ),
                    None => self.join(ctx, device_id, name, capabilities, credential),
                }
            }
            (Phase::AwaitingHello { .. }, _) => {
                self.reject(ctx, RejectCode::HelloExpected, "the first frame must be a hello".into());
            }
            (Phase::Relayed { .. }, _) => {}
            (Phase::Joined { .. }, ToCoordinator::Hello { .. }) => {
                self.close(ctx, CloseCode::Policy, "a session sends one hello");
            }
            (Phase::Joined { .. }, ToCoordinator::Heartbeat) => {}
            (Phase::Joined { .. }, ToCoordinator::WorkRequest { slots }) => {
                self.scheduler.do_send(DeviceEvent::WorkRequest { session: self.id, slots });
            }
            (Phase::Joined { .. }, ToCoordinator::TaskResult { task_id, output }) => {
                self.scheduler.do_send(DeviceEvent::Result { session: self.id, task_id, output, held });
            }
            (Phase::Joined { .. }, ToCoordinator::TaskResults { results }) => {
                self.scheduler.do_send(DeviceEvent::Results { session: self.id, results, held });
            }
            (Phase::Joined { .. }, ToCoordinator::TaskFailed { task_id, reason }) => {
                self.scheduler.do_send(DeviceEvent::Failed { session: self.id, task_id, reason });
            }
            (Phase::Joined { .. }, ToCoordinator::Benchmark { ops_score }) => {
                self.scheduler.do_send(DeviceEvent::Benchmark { session: self.id, ops_score });
            }
            (Phase::Joined { .. }, ToCoordinator::Kernels(report)) => {
                self.scheduler.do_send(DeviceEvent::Kernels { session: self.id, report });
            }
            (Phase::Joined { .. }, ToCoordinator::FetchModule { module }) => {
                self.scheduler.do_send(DeviceEvent::FetchModule { session: self.id, module });
            }
            (Phase::Joined { role }, ToCoordinator::Command(command)) => {
                if *role == Role::Master {
                    self.command(ctx, command);
                } else {
                    let message = "only the swarm's master may give commands".to_string();
                    self.send(&ToDevice::CommandError { code: CommandErrorCode::NotMaster, message });
                }
            }
        }
    }

    /// Admits the hello: the token authority checks the client's failed-join count and
    /// redeems any invite, then the scheduler registers the device. Nothing else is read
    /// from the socket until that is settled.
    fn join(
        &mut self,
        ctx: &mut Context<Self>,
        device_id: ostrich_protocol::DeviceId,
        name: String,
        capabilities: ostrich_protocol::Capabilities,
        credential: JoinCredential,
    ) {
        let new_swarm = matches!(credential, JoinCredential::Master { key: None });
        let (token, admission) = match credential {
            JoinCredential::Master { key: None } => (None, Some(Admission::NewSwarm)),
            JoinCredential::Master { key: Some(key) } => (None, Some(Admission::MasterKey(key))),
            JoinCredential::Resume { credential } => (None, Some(Admission::Resume(credential))),
            JoinCredential::Invite { token } => (Some(token), None),
        };
        let (tokens, scheduler, client) = (self.tokens.clone(), self.scheduler.clone(), self.client);
        let register = Register {
            session: self.id,
            recipient: ctx.address().recipient(),
            frame_limit: self.limit.clone(),
            device_id,
            name,
            capabilities,
            admission: Admission::NewSwarm,
            relayed: self.relayed,
        };
        let admit = async move {
            let invited = tokens
                .send(Admit { client, token, new_swarm })
                .await
                .map_err(mailbox_error)?
                .map_err(|code| (code, reject_message(code)))?;
            let admission = match (admission, invited) {
                (Some(admission), _) => admission,
                (None, Some(swarm)) => Admission::Invited(swarm),
                (None, None) => return Err((RejectCode::InvalidCode, "no invite code".into())),
            };
            let outcome = scheduler.send(Register { admission, ..register }).await.map_err(mailbox_error)?;
            if matches!(outcome, Err((RejectCode::InvalidCredential, _))) {
                tokens.do_send(JoinFailed { client });
            }
            outcome
        };
        ctx.wait(admit.into_actor(self).map(|outcome, this, ctx| match outcome {
            Ok(welcome) => {
                // Dropping the pass frees this socket's place among the unadmitted.
                this.phase = Phase::Joined { role: welcome.role };
                this.send(&ToDevice::Welcome(welcome));
            }
            Err((code, message)) => this.reject(ctx, code, message),
        }));
    }

    /// Cluster mode: finds where the device belongs before anything else. Its own swarm's
    /// node serves it (this one, after taking the swarm over if nobody holds it); otherwise
    /// the hello and every later frame go to the owner, untouched.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        ctx: &mut Context<Self>,
        gateway: Gateway,
        hello: Bytes,
        device_id: ostrich_protocol::DeviceId,
        name: String,
        capabilities: ostrich_protocol::Capabilities,
        credential: JoinCredential,
    ) {
        let (router, tokens, client) = (gateway.router.clone(), self.tokens.clone(), self.client);
        let placing = async move {
            // An address past its failed-join limit (counted on every node) costs no lookup.
            if let Ok(Err(code)) = tokens.send(CheckClient { client }).await {
                return Err(Unplaced::Refused(code));
            }
            let placement = router.place(&credential).await.map_err(Unplaced::Cluster)?;
            Ok((placement, credential))
        };
        ctx.wait(placing.into_actor(self).then(move |placed, this, ctx| {
            let opened = match placed {
                Ok((Placement::Here, credential)) => {
                    this.join(ctx, device_id, name, capabilities, credential);
                    None
                }
                Ok((Placement::There { node, swarm }, _)) => {
                    let open = OpenLink {
                        owner: node.clone(),
                        swarm,
                        client: this.client,
                        hello,
                        session: ctx.address().recipient(),
                        limit: this.limit.clone(),
                    };
                    Some(gateway.hub.send(open))
                }
                Err(Unplaced::Refused(code)) => {
                    this.reject(ctx, code, reject_message(code));
                    None
                }
                Err(Unplaced::Cluster(error)) => {
                    this.close(
                        ctx,
                        CloseCode::Again,
                        format!("the cluster cannot place this device now ({error}); try again"),
                    );
                    None
                }
            };
            let linked = async move {
                match opened {
                    Some(open) => open.await.ok(),
                    None => None,
                }
            };
            linked.into_actor(this).map(|linked, this, ctx| {
                if let Some(up) = linked {
                    let pass = match std::mem::replace(&mut this.phase, Phase::Joined { role: Role::Worker }) {
                        Phase::AwaitingHello { _pass, .. } => _pass,
                        _ => None,
                    };
                    log::debug!("session {}: relayed as link {}", this.id, up.link());
                    this.phase = Phase::Relayed { up, pass };
                    // The owner answers the hello within its own deadline; an answer that
                    // never comes (lost between nodes) must not keep the device waiting.
                    ctx.run_later(this.hello_timeout, |this, ctx| {
                        if matches!(this.phase, Phase::Relayed { pass: Some(_), .. }) {
                            this.close(ctx, CloseCode::Again, "the swarm's node did not answer; try again");
                        }
                    });
                }
            })
        }));
    }

    /// Carries out a master command and tells the sender how it went.
    fn command(&mut self, ctx: &mut Context<Self>, command: MasterCommand) {
        let (tokens, scheduler, session) = (self.tokens.clone(), self.scheduler.clone(), self.id);
        let reply = async move {
            match command {
                MasterCommand::CreateInvite => {
                    let swarm = scheduler.send(MasterOf { session }).await.map_err(command_mailbox)??;
                    let invite = tokens.send(Mint { swarm }).await.map_err(command_mailbox)?.map_err(token_error)?;
                    Ok(ToDevice::InviteCreated(invite))
                }
                MasterCommand::RevokeInvite { token } => {
                    let swarm = scheduler.send(MasterOf { session }).await.map_err(command_mailbox)??;
                    tokens.send(Revoke { swarm, token }).await.map_err(command_mailbox)?.map_err(token_error)?;
                    Ok(ToDevice::CommandOk { message: "invite revoked".into(), job_id: None })
                }
                command => scheduler.send(Command { session, command }).await.map_err(command_mailbox)?,
            }
        };
        ctx.spawn(reply.into_actor(self).map(|reply, this, _| {
            let message = reply.unwrap_or_else(|(code, message)| ToDevice::CommandError { code, message });
            this.send(&message);
        }));
    }
}

/// Why a gateway did not place a hello.
enum Unplaced {
    /// The address is past its failed-join limit.
    Refused(RejectCode),
    /// NATS did not answer.
    Cluster(crate::cluster::ClusterError),
}

/// What a person is told when a join is refused before it reaches the scheduler.
fn reject_message(code: RejectCode) -> String {
    match code {
        RejectCode::InvalidCode => "this invite code is not valid; check it or ask for a new one",
        RejectCode::ExpiredCode => "this invite code has expired; ask the master for a new one",
        RejectCode::RateLimited => "too many attempts from this address (failed joins or new swarms); wait a minute",
        _ => "join refused",
    }
    .to_string()
}

fn mailbox_error(error: MailboxError) -> (RejectCode, String) {
    (RejectCode::InvalidCredential, format!("coordinator unavailable: {error}"))
}

fn command_mailbox(error: MailboxError) -> (CommandErrorCode, String) {
    (CommandErrorCode::NotFound, format!("coordinator unavailable: {error}"))
}

fn token_error(error: TokenError) -> (CommandErrorCode, String) {
    let code = match error {
        TokenError::RateLimited(_) => CommandErrorCode::RateLimited,
        TokenError::Quota(_) => CommandErrorCode::QuotaExceeded,
        TokenError::NotFound => CommandErrorCode::NotFound,
        TokenError::Entropy | TokenError::Unavailable(_) => CommandErrorCode::InvalidValue,
    };
    (code, error.to_string())
}

impl Actor for DeviceSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_later(self.hello_timeout, |this, ctx| {
            if matches!(this.phase, Phase::AwaitingHello { .. }) {
                let seconds = this.hello_timeout.as_secs_f64();
                this.close(ctx, CloseCode::Policy, format!("no hello within {seconds} s"));
            }
        });
        let check = (self.heartbeat_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        ctx.run_interval(check, |this, ctx| {
            let admitted = matches!(this.phase, Phase::Joined { .. } | Phase::Relayed { .. });
            if admitted && this.last_seen.elapsed() > this.heartbeat_timeout {
                this.close(ctx, CloseCode::Away, "heartbeat timeout");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        match (&self.phase, &self.gateway) {
            (Phase::Relayed { up, .. }, Some(gateway)) => gateway.hub.do_send(CloseLink { link: up.link() }),
            _ => self.scheduler.do_send(Disconnected { session: self.id }),
        }
        Running::Stop
    }
}

impl StreamHandler<Result<Inbound, ReadError>> for DeviceSession {
    fn handle(&mut self, item: Result<Inbound, ReadError>, ctx: &mut Self::Context) {
        match item {
            Ok(Inbound::Binary { frame, held }) => self.on_frame(&frame, held, ctx),
            Ok(Inbound::Text) => self.close(ctx, CloseCode::Unsupported, "text frames are not part of the protocol"),
            Ok(Inbound::Ping(payload)) => {
                self.last_seen = Instant::now();
                let _ = self.writer.send(Write::Pong(payload));
            }
            Ok(Inbound::Pong) => self.last_seen = Instant::now(),
            Ok(Inbound::Close) => ctx.stop(),
            Err(error @ ReadError::TooLarge { .. }) => self.close(ctx, CloseCode::Size, error.to_string()),
            Err(error @ ReadError::Busy { .. }) => self.close(ctx, CloseCode::Again, error.to_string()),
            Err(error @ ReadError::Protocol(_)) => self.close(ctx, CloseCode::Protocol, error.to_string()),
            Err(error @ ReadError::Io(_)) => {
                log::debug!("session {} ({}): {error}", self.id, self.client);
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Outbound> for DeviceSession {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Self::Context) {
        match msg {
            Outbound::Frame(frame) if self.queued.load(Ordering::Relaxed) + frame.len() > MAX_QUEUED_BYTES => {
                self.close(ctx, CloseCode::Policy, "client does not read its frames");
            }
            Outbound::Frame(frame) => {
                if let Phase::Relayed { pass: pass @ Some(_), .. } = &mut self.phase
                    && is_welcome(&frame)
                {
                    // Admitted by the owner: this socket leaves the unadmitted.
                    *pass = None;
                }
                self.write(frame);
            }
            Outbound::Close(reason) => self.close(ctx, CloseCode::Policy, reason),
            Outbound::Shutdown => self.close(ctx, CloseCode::Restart, "the coordinator is shutting down"),
            Outbound::Limit(bytes) => {
                let _ = self.writer.send(Write::Limit(bytes));
            }
            Outbound::Relayed { code, reason } => self.close(ctx, CloseCode::from(code), reason),
        }
    }
}
