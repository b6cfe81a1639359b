//! The job form's user-kernel part: a `.wasm` file and its inputs (a range of task
//! indices with optional arguments, a records file, or a text file with one task per line),
//! the time limit, the output limit and the verification. It uses the HTTP API with the
//! master key, as `ostrich submit` does: the module is uploaded, the job submitted, and
//! records streamed to it, all in one click.

use ostrich_protocol::{
    JobSpec, ModuleHash, Record, TaskLimits, Verification, WasmInput, WasmSpec, read_records, write_records,
};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::dom;

/// Properties of [`WasmForm`].
#[derive(Properties, PartialEq)]
pub struct WasmFormProps {
    /// The master key the API calls carry.
    pub master_key: Option<String>,
}

/// What the form read from its fields.
struct Request {
    module: web_sys::File,
    input: InputChoice,
    limits: TaskLimits,
    verification: Verification,
}

enum InputChoice {
    Range { count: u32, args: Vec<u8> },
    Records(web_sys::File),
    Lines(web_sys::File),
}

fn value(node: &NodeRef) -> String {
    node.cast::<HtmlInputElement>().map(|i| i.value().trim().to_string()).unwrap_or_default()
}

fn file(node: &NodeRef, what: &str) -> Result<web_sys::File, String> {
    node.cast::<HtmlInputElement>().and_then(|i| i.files()).and_then(|f| f.get(0)).ok_or(format!("Choose {what}"))
}

fn number(node: &NodeRef, label: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, String> {
    value(node)
        .parse::<f64>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| format!("{label} must be a number from {} to {}", range.start(), range.end()))
}

/// Uploads the module, submits the job and streams its records; answers the job's id.
async fn submit(key: &str, request: Request) -> Result<u64, String> {
    let module = dom::read_file(&request.module).await?;
    let answer = dom::api_call("POST", "/api/modules", key, Some((&module, "application/wasm"))).await?;
    let json: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
    let hash = json["module"].as_str().and_then(ModuleHash::from_hex).ok_or("the coordinator named no module")?;
    let name = request.module.name().trim_end_matches(".wasm").to_string();
    let (input, records) = match request.input {
        InputChoice::Range { count, args } => (WasmInput::Range { count, args }, None),
        InputChoice::Records(file) => {
            let body = dom::read_file(&file).await?;
            read_records(&body).map_err(|e| format!("{}: {e}", file.name()))?;
            (WasmInput::Records { records: Vec::new(), open: true }, Some(body))
        }
        InputChoice::Lines(file) => {
            let text = dom::read_file(&file).await?;
            let lines: Vec<Record> =
                text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| Record(l.to_vec())).collect();
            let body = write_records(lines.iter().map(|r| r.0.as_slice()));
            (WasmInput::Records { records: Vec::new(), open: true }, Some(body))
        }
    };
    let spec = JobSpec::Wasm(WasmSpec {
        module: hash,
        name,
        input,
        limits: request.limits,
        verification: request.verification,
    });
    let body = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
    let answer = dom::api_call("POST", "/api/jobs", key, Some((&body, "application/json"))).await?;
    let json: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
    let job = json["job_id"].as_u64().ok_or("the coordinator answered no job id")?;
    if let Some(records) = records {
        let path = format!("/api/jobs/{job}/records?close=true");
        dom::api_call("POST", &path, key, Some((&records, "application/octet-stream"))).await?;
    }
    Ok(job)
}

/// The user-kernel form.
#[function_component]
pub fn WasmForm(props: &WasmFormProps) -> Html {
    let refs = use_memo((), |()| std::array::from_fn::<NodeRef, 8, _>(|_| NodeRef::default()));
    let [module, count, args, inputs, time_limit, max_output, audit, verify] = (*refs).clone();
    let mode = use_state(|| "range".to_string());
    let status = use_state(|| None::<Result<String, String>>);
    let busy = use_state(|| false);
    {
        let refs = refs.clone();
        use_effect_with((), move |()| {
            // count, time limit, output limit and audit floor (by their place in `refs`).
            let defaults = [("100", 1), ("60", 4), ("64", 5), ("5", 6)];
            for (default, at) in defaults {
                if let Some(input) = refs[at].cast::<HtmlInputElement>() {
                    input.set_value(default);
                }
            }
        });
    }
    let on_mode = {
        let mode = mode.clone();
        Callback::from(move |e: Event| mode.set(e.target_unchecked_into::<HtmlSelectElement>().value()))
    };
    let onclick = {
        let (mode, status, busy, key) = (mode.clone(), status.clone(), busy.clone(), props.master_key.clone());
        let (module, count, args, inputs, time_limit, max_output, audit, verify) = (
            module.clone(),
            count.clone(),
            args.clone(),
            inputs.clone(),
            time_limit.clone(),
            max_output.clone(),
            audit.clone(),
            verify.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let read = || -> Result<Request, String> {
                let module = file(&module, "a .wasm kernel")?;
                let input = match mode.as_str() {
                    "records" => InputChoice::Records(file(&inputs, "a records file")?),
                    "lines" => InputChoice::Lines(file(&inputs, "a text file")?),
                    _ => InputChoice::Range {
                        count: number(&count, "Tasks", 1.0..=f64::from(ostrich_protocol::MAX_WASM_TASKS))? as u32,
                        args: value(&args).into_bytes(),
                    },
                };
                let limits = TaskLimits {
                    time_limit_ms: (number(&time_limit, "Time limit", 0.001..=600.0)? * 1000.0).round() as u32,
                    max_output_bytes: (number(&max_output, "Output limit", 0.001..=16_384.0)? * 1024.0).round() as u32,
                };
                let checked = verify.cast::<HtmlSelectElement>().is_none_or(|s| s.value() != "none");
                let verification = if checked {
                    let floor = number(&audit, "Audit floor", 0.0..=100.0)?;
                    Verification::Adaptive { audit_floor_ppm: (floor * 10_000.0).round() as u32 }
                } else {
                    Verification::None
                };
                Ok(Request { module, input, limits, verification })
            };
            let Some(key) = key.clone() else {
                status.set(Some(Err("Not connected yet".into())));
                return;
            };
            match read() {
                Err(message) => status.set(Some(Err(message))),
                Ok(request) => {
                    let (status, busy) = (status.clone(), busy.clone());
                    busy.set(true);
                    status.set(Some(Ok("Uploading…".into())));
                    wasm_bindgen_futures::spawn_local(async move {
                        let outcome = submit(&key, request).await;
                        status.set(Some(outcome.map(|job| format!("Job {job} submitted"))));
                        busy.set(false);
                    });
                }
            }
        })
    };
    let range = mode.as_str() == "range";
    html! {
        <fieldset class="field-grid wasm-form">
            <label class="field field-wide" for="wasm-module">
                <span>{ "Kernel (.wasm)" }</span>
                <input id="wasm-module" ref={module} type="file" accept=".wasm,application/wasm" />
                <small class="field-help">{ "A module with the kernel ABI: exports memory, alloc and run (and \
                    optionally verify), imports nothing. See the README: a Rust kernel is one function." }</small>
            </label>
            <label class="field" for="wasm-input">
                <span>{ "Inputs" }</span>
                <select id="wasm-input" onchange={on_mode}>
                    <option value="range" selected={range}>{ "Index range" }</option>
                    <option value="records">{ "Records file" }</option>
                    <option value="lines">{ "Text lines" }</option>
                </select>
                <small id="wasm-input-help" class="field-help">{ input_help(mode.as_str()) }</small>
            </label>
            <label class="field" for="wasm-count" hidden={!range}>
                <span>{ "Tasks" }</span>
                <input id="wasm-count" ref={count} type="number" step="1" inputmode="numeric" />
                <small class="field-help">{ "How many tasks: indices 0 to n − 1." }</small>
            </label>
            <label class="field" for="wasm-args" hidden={!range}>
                <span>{ "Arguments" }</span>
                <input id="wasm-args" ref={args} type="text" />
                <small class="field-help">{ "Text every task gets after its index (optional)." }</small>
            </label>
            <label class="field" for="wasm-inputs" hidden={range}>
                <span>{ "Inputs file" }</span>
                <input id="wasm-inputs" ref={inputs} type="file" />
                <small class="field-help">{ "Uploaded to the coordinator; more can be appended over the API." }</small>
            </label>
            <label class="field" for="wasm-time-limit">
                <span>{ "Time limit (s)" }</span>
                <input id="wasm-time-limit" ref={time_limit} type="number" step="any" inputmode="decimal" />
                <small class="field-help">{ "A task still running after this long is stopped and fails." }</small>
            </label>
            <label class="field" for="wasm-max-output">
                <span>{ "Output limit (KiB)" }</span>
                <input id="wasm-max-output" ref={max_output} type="number" step="any" inputmode="decimal" />
                <small class="field-help">{ "The most one task may return; counts against the swarm's storage." }</small>
            </label>
            <label class="field" for="wasm-verification">
                <span>{ "Verification" }</span>
                <select id="wasm-verification" ref={verify}>
                    <option value="adaptive" selected=true>{ "Replicate" }</option>
                    <option value="none">{ "None" }</option>
                </select>
                <small class="field-help">{ "Replicate: results are checked on a second device until devices \
                    are trusted, then audited. A module that exports verify is checked by it instead." }</small>
            </label>
            <label class="field" for="wasm-audit">
                <span>{ "Audit floor (%)" }</span>
                <input id="wasm-audit" ref={audit} type="number" step="any" inputmode="decimal" />
                <small class="field-help">{ "The least share of a trusted device's results checked by a replica." }</small>
            </label>
            if let Some(outcome) = (*status).clone() {
                <p id="wasm-status" class={if outcome.is_ok() { "muted" } else { "error" }} role="status">
                    { outcome.unwrap_or_else(|e| e) }
                </p>
            }
            <button id="submit-wasm-job" class="btn btn-primary" type="button" {onclick} disabled={*busy}>
                { "Upload and run" }
            </button>
        </fieldset>
    }
}

/// What each task gets, for the chosen kind of inputs.
fn input_help(mode: &str) -> &'static str {
    match mode {
        "records" => "Each record is one task: the file holds each as a 4-byte little-endian length and its bytes.",
        "lines" => "Each non-empty line of the text file is one task's input (split at line feeds).",
        _ => "Task i gets i (8 bytes, little-endian) then the arguments.",
    }
}
