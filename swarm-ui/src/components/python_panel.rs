//! "Use from Python": a script to copy, with this coordinator's address and this swarm's
//! key filled in, that submits a job, waits for it, downloads the result and loads it with
//! NumPy, then runs the user's own WebAssembly kernel (`kernel.wasm`, if there is one)
//! and reads its result file with `struct`. It needs only NumPy: the HTTP calls use the
//! standard library.

use yew::prelude::*;

use super::CopyButton;
use crate::dom;

/// Properties of [`PythonPanel`].
#[derive(Properties, PartialEq)]
pub struct PythonPanelProps {
    /// The master key, once known.
    pub master_key: Option<String>,
}

/// The script for a coordinator at `origin` and a swarm whose master key is `key`.
pub fn python_script(origin: &str, key: &str) -> String {
    format!(
        r#"import io, json, os, struct, time, urllib.request
import numpy as np

URL = "{origin}"
KEY = "{key}"  # this swarm's master key: whoever holds it controls the swarm

def api(method, path, body=None, raw=None):
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, method=method, data=data,
        headers={{"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}})
    with urllib.request.urlopen(request) as response:
        return response.read()

def wait(job):
    while (progress := json.loads(api("GET", f"/api/jobs/{{job}}")))["state"] == "Running":
        print(f"{{progress['tasks_verified']}} of {{progress['tasks_total']}} tasks verified")
        time.sleep(1)
    print("job", job, progress["state"])

# A 512×512 product of two seeded random matrices, in 128×128 tiles.
spec = {{"Matmul": {{"m": 512, "k": 512, "n": 512, "tile": 128,
                   "source": {{"Seeded": {{"seed": 42}}}}}}}}
job = json.loads(api("POST", "/api/jobs", spec))["job_id"]
wait(job)
c = np.load(io.BytesIO(api("GET", f"/api/jobs/{{job}}/result")))
print(c.shape, c.dtype)

# Your own kernel: task i gets i (8 bytes, little-endian) then ARGS; the result file is
# b"OSTRRES1", then each task's output as a 4-byte little-endian length and its bytes.
def run_kernel(path, count, args=b""):
    module = json.loads(api("POST", "/api/modules", raw=open(path, "rb").read()))["module"]
    spec = {{"Wasm": {{"module": module, "input": {{"Range": {{"count": count, "args": list(args)}}}}}}}}
    job = json.loads(api("POST", "/api/jobs", spec))["job_id"]
    wait(job)
    data, outputs, at = api("GET", f"/api/jobs/{{job}}/result"), [], 8
    assert data[:8] == b"OSTRRES1"
    while at < len(data):
        (size,) = struct.unpack_from("<I", data, at)
        outputs.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return outputs

if os.path.exists("kernel.wasm"):
    outputs = run_kernel("kernel.wasm", 8, ARGS := struct.pack("<Q", 10**12))
    print(len(outputs), "outputs; the first:", outputs[0].hex())
"#
    )
}

/// The panel.
#[function_component]
pub fn PythonPanel(props: &PythonPanelProps) -> Html {
    let Some(key) = props.master_key.clone() else {
        return html! { <p class="muted">{ "The script appears once the coordinator has welcomed this page." }</p> };
    };
    let script = python_script(&dom::origin(), &key);
    html! {
        <div class="python">
            <p class="muted">{ "Submit a job, wait for it and load the result with NumPy (" }
                <code>{ "pip install numpy" }</code>{ "). A Mandelbrot job's result is a PNG instead. With a " }
                <code>{ "kernel.wasm" }</code>{ " beside it, the script also runs your kernel and reads its outputs." }</p>
            <div class="copy-row">
                <CopyButton id="copy-python" text={script.clone()} target="python-code" />
            </div>
            <pre id="python-code" class="example python-code">{ script }</pre>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::python_script;

    #[test]
    fn the_script_carries_the_address_and_key_and_loads_the_result() {
        let script = python_script("http://192.168.1.20:8080", "abc123");
        assert!(script.contains(r#"URL = "http://192.168.1.20:8080""#));
        assert!(script.contains(r#"KEY = "abc123""#));
        assert!(script.contains(r#"{"Matmul": {"m": 512"#), "braces are written once: {script}");
        assert!(script.contains("np.load(io.BytesIO("));
        assert!(!script.contains("{{"), "no doubled braces survive the format");
    }
}
