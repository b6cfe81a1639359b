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

/// A refused request's status and its `{"error": …}` message; panics unless the body is
/// that JSON.
fn error_of(result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    let Err(ureq::Error::Status(code, response)) = result else { panic!("expected an error status") };
    let content_type = response.content_type().to_string();
    let body: Value = response.into_json().unwrap_or_else(|e| panic!("{code}: the body is not JSON ({e})"));
    assert_eq!(content_type, "application/json", "{code}: {body}");
    let message = body["error"].as_str().unwrap_or_else(|| panic!("{code}: no error message in {body}"));
    (code, message.to_string())
}

#[tokio::test]
async fn every_error_answer_of_the_api_is_json_with_a_reason() {
    let server = Server::with_defaults();
    let (_master, _, key) = master(&server).await;
    let cases = [
        (send("POST", &server, "/api/jobs", &key).send_string("{not json"), 400, "valid job"),
        (send("POST", &server, "/api/jobs", &key).send_json(json!({ "Matmul": {} })), 400, "valid job"),
        (send("GET", &server, "/api/jobs", "wrong").call(), 401, "key"),
        (ureq::get(&server.http("/api/jobs")).call(), 401, "key"),
        (send("GET", &server, "/api/jobs/12345", &key).call(), 404, "no such job"),
        (send("GET", &server, "/api/jobs/not-a-number", &key).call(), 404, "no such job"),
        (send("GET", &server, "/api/nothing-here", &key).call(), 404, "no API route"),
        (send("PUT", &server, "/api/jobs", &key).call(), 405, "PUT"),
        (send("DELETE", &server, "/api/invites/NOSUCHCODE", &key).call(), 404, ""),
    ];
    for (result, status, says) in cases {
        let (code, message) = error_of(result);
        assert_eq!(code, status, "{message}");
        assert!(message.contains(says), "{status}: {message:?} does not say {says:?}");
    }
    // The neighbouring honest call carries on.
    assert_eq!(status(get(&server, "/api/jobs", &key)), 200);
}
