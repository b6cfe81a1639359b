use std::time::Duration;

use ostrich_coordinator::Config;
use ostrich_protocol::{CommandErrorCode, JoinCredential, MasterCommand, RejectCode, Role, ToDevice};

use crate::common::*;

#[tokio::test]
async fn an_invite_joins_a_worker_that_can_resume_after_expiry() {
    let server = Server::start(Config { invite_ttl_s: 0.5, ..Config::default() });
    let (mut master, welcome, _) = master(&server).await;
    let invite = invite(&mut master).await;
    assert_eq!(invite.token.len(), 8);
    assert!(invite.url.ends_with(&format!("/join?token={}", invite.token)), "{}", invite.url);
    assert!(invite.qr_svg.contains("<svg"), "the QR code is an SVG");

    let (worker, joined) = raw_worker(&server, &invite.token, 2).await;
    assert_eq!((joined.swarm_id, joined.role), (welcome.swarm_id, Role::Worker));
    let credential = joined.resume_credential.expect("a worker gets a resume credential");
    drop(worker);

    // Wait for the code to expire: probe once per tick until a join is refused.
    let refused = within("the code to expire", async {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            let token = JoinCredential::Invite { token: invite.token.clone() };
            if let (_, Err(code)) = Client::join(&server, caps(1), token).await {
                return code;
            }
        }
    })
    .await;
    assert_eq!(refused, RejectCode::ExpiredCode);

    let mut back = Client::connect(&server).await;
    back.device_id = joined.device_id;
    let resumed = back.hello(caps(2), JoinCredential::Resume { credential }).await.expect("resume after expiry");
    assert_eq!(resumed.swarm_id, welcome.swarm_id);
}

#[tokio::test]
async fn minting_is_limited_to_five_a_minute_and_revocation_works() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(invite(&mut master).await.token);
    }
    master.command(MasterCommand::CreateInvite).await;
    let code = master
        .recv_until(|m| match m {
            ToDevice::CommandError { code, .. } => Some(code),
            _ => None,
        })
        .await;
    assert_eq!(code, CommandErrorCode::RateLimited);

    master.command(MasterCommand::RevokeInvite { token: tokens[0].clone() }).await;
    master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    let (_, refused) = Client::join(&server, caps(1), JoinCredential::Invite { token: tokens[0].clone() }).await;
    assert_eq!(refused.err(), Some(RejectCode::InvalidCode));
    let (_, still) = Client::join(&server, caps(1), JoinCredential::Invite { token: tokens[1].to_lowercase() }).await;
    assert!(still.is_ok(), "other codes stay valid, typed in any case");
}

#[tokio::test]
async fn failed_joins_are_rate_limited_per_address() {
    let server = Server::start(Config { failed_joins_per_minute: 3, ..Config::default() });
    let (mut master, _, _) = master(&server).await;
    let good = invite(&mut master).await.token;
    for _ in 0..3 {
        let (_, refused) = Client::join(&server, caps(1), JoinCredential::Invite { token: "ZZZZZZZZ".into() }).await;
        assert_eq!(refused.err(), Some(RejectCode::InvalidCode));
    }
    let (_, limited) = Client::join(&server, caps(1), JoinCredential::Invite { token: good }).await;
    assert_eq!(limited.err(), Some(RejectCode::RateLimited), "even a good code waits out the limit");
    let (_, key_guess) = Client::join(&server, caps(1), JoinCredential::Master { key: Some("0".repeat(64)) }).await;
    assert_eq!(key_guess.err(), Some(RejectCode::RateLimited), "key guesses are limited too");
}
