use serde_json::{Value, json};

use crate::common::*;

fn send(method: &str, server: &Server, path: &str, key: &str) -> ureq::Request {
    ureq::request(method, &server.http(path)).set("Authorization", &format!("Bearer {key}"))
}

fn status(result: Result<ureq::Response, ureq::Error>) -> u16 {
    match result {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(error) => panic!("transport error: {error}"),
    }
}

#[tokio::test]
async fn jobs_and_invites_through_the_http_api() {
    let server = Server::with_defaults();
    let (_master, _, key) = master(&server).await;
    let spec = json!({ "Mandelbrot": { "view": {
        "width": 64, "height": 48, "center_re": -0.5, "center_im": 0.0, "zoom": 1.0, "max_iter": 100
    }, "tile": 16 } });
    let created: Value =
        send("POST", &server, "/api/jobs", &key).send_json(spec).expect("submit").into_json().expect("json");
    let job = created["job_id"].as_u64().expect("a job id");

    let progress: Value = get(&server, &format!("/api/jobs/{job}"), &key).expect("status").into_json().expect("json");
    assert_eq!(progress["tasks_total"], 12);
    assert_eq!(progress["tasks_verified"], 0);
    assert_eq!(progress["state"], "Running");
    assert_eq!(status(get(&server, &format!("/api/jobs/{job}/result"), &key)), 409, "no result before completion");

    let cancelled: Value = send("POST", &server, &format!("/api/jobs/{job}/cancel"), &key)
        .call()
        .expect("cancel")
        .into_json()
        .expect("json");
    assert_eq!(cancelled["state"], "Cancelled");
    let listed: Value = get(&server, "/api/jobs", &key).expect("list").into_json().expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(status(send("DELETE", &server, &format!("/api/jobs/{job}"), &key).call()), 204);
    assert_eq!(status(get(&server, &format!("/api/jobs/{job}"), &key)), 404);

    let bad = json!({ "Matmul": { "m": 0, "k": 1, "n": 1, "tile": 1, "source": { "Seeded": { "seed": 1 } } } });
    assert_eq!(status(send("POST", &server, "/api/jobs", &key).send_json(bad)), 422);
    assert_eq!(status(send("POST", &server, "/api/jobs", &key).send_string("{not json")), 400);

    let invite: Value = send("POST", &server, "/api/invites", &key).call().expect("mint").into_json().expect("json");
    let token = invite["token"].as_str().expect("a token");
    assert!(invite["url"].as_str().is_some_and(|url| url.ends_with(token)));
    assert_eq!(status(send("DELETE", &server, &format!("/api/invites/{token}"), &key).call()), 204);
    assert_eq!(status(send("DELETE", &server, &format!("/api/invites/{token}"), &key).call()), 404);
}
