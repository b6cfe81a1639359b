use std::path::Path;

use ostrich_coordinator::tls::{fingerprint, generated_paths};
use ostrich_protocol::{JoinCredential, Welcome};
use ostrich_worker::{WorkerConfig, socket};
use rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::common::*;

/// Starts the binary with `--tls` on a fresh port and the data dir `data`; answers the
/// process and the `wss://` URL once the certificate exists and the server is healthy.
async fn start_tls(data: &Path) -> (Process, String) {
    let tls_addr = free_addr();
    let env = [
        ("OSTRICH_TLS", "true".to_string()),
        ("OSTRICH_TLS_BIND", tls_addr.to_string()),
        ("OSTRICH_DATA_DIR", data.display().to_string()),
    ];
    let (child, server) = start_binary(&env);
    wait_healthy(&server).await;
    (child, format!("wss://{tls_addr}/ws"))
}

async fn stop(mut child: Process) {
    terminate(&mut child, DEADLINE).await;
}

/// Joins over `wss://` trusting `cert` and answers the welcome.
async fn welcome_over_tls(url: &str, cert: &Path) -> (Client, Welcome) {
    let ws = within("a wss connection", socket::connect(url, Some(cert))).await.expect("wss connects");
    let mut client = Client::from_socket(ws);
    let welcome = client.hello(caps(1), JoinCredential::Master { key: None }).await.expect("welcome");
    (client, welcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_generated_certificate_joins_over_wss_and_it_survives_a_restart() {
    let data = std::env::temp_dir().join(format!("ostrich-tls-test-{}", uuid::Uuid::new_v4()));
    let (child, url) = start_tls(&data).await;
    let (cert_path, _) = generated_paths(&data);
    let pem = std::fs::read(&cert_path).expect("the certificate is kept in the data dir");
    let der = CertificateDer::from_pem_slice(&pem).expect("a PEM certificate");

    let (mut master, welcome) = welcome_over_tls(&url, &cert_path).await;
    assert_eq!(welcome.tls_fingerprint.as_deref(), Some(fingerprint(&der).as_str()), "the dashboard shows it");
    assert!(socket::connect(&url, None).await.is_err(), "a client that does not trust it is refused");

    let token = invite(&mut master).await.token;
    let mut config = WorkerConfig::new(url.clone(), JoinCredential::Invite { token });
    config.ca_cert = Some(cert_path.clone());
    config.ops_score = Some(1000);
    let worker = ostrich_worker::spawn(config);
    worker.wait_for(DEADLINE, |s| s.connected).await.expect("a native worker joins over wss");
    worker.shutdown().await.ok();
    drop(master);
    stop(child).await;

    let (child, url) = start_tls(&data).await;
    assert_eq!(std::fs::read(&cert_path).expect("still there"), pem, "the same certificate after a restart");
    let (_, again) = welcome_over_tls(&url, &cert_path).await;
    assert_eq!(again.tls_fingerprint, welcome.tls_fingerprint);
    stop(child).await;
    std::fs::remove_dir_all(&data).expect("clean up");
}
