//! The job form: a seeded n×n×n matrix product, a Mandelbrot render, or the user's own
//! WebAssembly kernel ([`super::WasmForm`]). Values are read from the fields when the form
//! is submitted and checked against the coordinator's limits first.

use ostrich_protocol::{JobSpec, MandelbrotSpec, MandelbrotView, MatmulSpec, MatrixSource};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::hooks::use_session_context;

/// The coordinator's limits, checked here so a typo is explained before it is sent.
const MAX_EDGE: u32 = 8192;
const MAX_ELEMENTS: u64 = 16 * 1024 * 1024;
const MAX_TILE: u32 = 512;
const MAX_ITER: u32 = 1_000_000;

/// The form's fields, by element id.
#[derive(Default, Clone, PartialEq)]
struct Fields {
    refs: Vec<(&'static str, NodeRef)>,
}

impl Fields {
    fn get(&self, id: &str) -> String {
        self.refs
            .iter()
            .find(|(name, _)| *name == id)
            .and_then(|(_, r)| r.cast::<HtmlInputElement>())
            .map(|input| input.value().trim().to_string())
            .unwrap_or_default()
    }

    fn int(&self, id: &str, label: &str, max: u32) -> Result<u32, String> {
        match self.get(id).parse::<u32>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(format!("{label} must be a whole number from 1 to {max}")),
        }
    }

    fn float(&self, id: &str, label: &str) -> Result<f64, String> {
        self.get(id).parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("{label} must be a number"))
    }

    fn matmul(&self) -> Result<JobSpec, String> {
        let n = self.int("matmul-size", "Size", MAX_EDGE)?;
        if u64::from(n) * u64::from(n) > MAX_ELEMENTS {
            return Err(format!("Size {n} gives matrices over {MAX_ELEMENTS} elements; 4096 is the most"));
        }
        let tile = self.int("matmul-tile", "Tile", MAX_TILE)?;
        let seed = self.get("matmul-seed").parse::<u64>().map_err(|_| "Seed must be a whole number".to_string())?;
        Ok(JobSpec::Matmul(MatmulSpec { m: n, k: n, n, tile, source: MatrixSource::Seeded { seed } }))
    }

    fn mandelbrot(&self) -> Result<JobSpec, String> {
        let width = self.int("mandel-width", "Width", MAX_EDGE * 2)?;
        let height = self.int("mandel-height", "Height", MAX_EDGE * 2)?;
        if u64::from(width) * u64::from(height) > MAX_ELEMENTS {
            return Err(format!("{width}×{height} is over the {MAX_ELEMENTS}-pixel limit"));
        }
        let zoom = self.float("mandel-zoom", "Zoom")?;
        if zoom <= 0.0 {
            return Err("Zoom must be above 0".into());
        }
        let view = MandelbrotView {
            width,
            height,
            center_re: self.float("mandel-center-re", "Centre (real)")?,
            center_im: self.float("mandel-center-im", "Centre (imaginary)")?,
            zoom,
            max_iter: self.int("mandel-iter", "Iterations", MAX_ITER)?,
        };
        let tile = self.int("mandel-tile", "Tile", MAX_TILE)?;
        Ok(JobSpec::Mandelbrot(MandelbrotSpec { view, tile }))
    }
}

/// Each field: element id, label, default value, step and a line of help.
const FIELDS: [(&str, &str, &str, &str, &str); 10] = [
    (
        "matmul-size",
        "Size n (n×n×n)",
        "1024",
        "1",
        "Multiplies two random n×n matrices. At most 4096 (16.8 M numbers each).",
    ),
    (
        "matmul-tile",
        "Tile",
        "128",
        "1",
        "Each task computes a tile × tile block of the result. Bigger tiles make fewer, longer \
         tasks with more to send each; 128–256 suits phones.",
    ),
    (
        "matmul-seed",
        "Seed",
        "42",
        "1",
        "Generates the matrices: the same seed gives the same matrices, so NumPy can check the result.",
    ),
    ("mandel-width", "Width", "800", "1", "Image width in pixels."),
    ("mandel-height", "Height", "600", "1", "Image height in pixels."),
    (
        "mandel-center-re",
        "Centre re",
        "-0.75",
        "any",
        "Real part (x) of the point at the image's centre. −0.75 with 0 shows the whole set.",
    ),
    ("mandel-center-im", "Centre im", "0.0", "any", "Imaginary part (y) of the point at the image's centre."),
    (
        "mandel-zoom",
        "Zoom",
        "1",
        "any",
        "Magnification: at 1 the image spans 3.5 units of the real axis, at 2 half that. \
         Try zoom 80 at −0.745, 0.113.",
    ),
    (
        "mandel-iter",
        "Max iterations",
        "500",
        "1",
        "Steps before a point counts as inside the set. Deep zooms need more; each step costs time.",
    ),
    ("mandel-tile", "Tile", "64", "1", "Each task renders a tile × tile square; the preview fills in tile by tile."),
];

/// The inputs whose ids start with `prefix`. They carry no `value` in the markup: Yew would
/// reset what the user typed on every render. Their defaults are set once, on mount.
fn inputs(fields: &Fields, prefix: &str) -> Html {
    FIELDS
        .iter()
        .filter(|(id, ..)| id.starts_with(prefix))
        .map(|&(id, label, _, step, help)| {
            let node = fields.refs.iter().find(|(name, _)| *name == id).map(|(_, r)| r.clone()).unwrap_or_default();
            let help_id = format!("{id}-help");
            html! {
                <label class="field" for={id}>
                    <span>{ label }</span>
                    <input id={id} ref={node} type="number" {step} inputmode="decimal"
                        aria-describedby={help_id.clone()} />
                    <small id={help_id} class="field-help">{ help }</small>
                </label>
            }
        })
        .collect()
}

/// Properties of [`JobForm`].
#[derive(Properties, PartialEq)]
pub struct JobFormProps {
    /// The master key, for the user-kernel form's API calls.
    pub master_key: Option<String>,
}

/// The form.
#[function_component]
pub fn JobForm(props: &JobFormProps) -> Html {
    let session = use_session_context();
    let kind = use_state(|| "mandelbrot".to_string());
    let error = use_state(|| None::<String>);
    let fields = use_memo((), |()| Fields { refs: FIELDS.iter().map(|(id, ..)| (*id, NodeRef::default())).collect() });
    {
        let fields = fields.clone();
        use_effect_with((), move |()| {
            for ((_, node), (_, _, default, ..)) in fields.refs.iter().zip(FIELDS) {
                if let Some(input) = node.cast::<HtmlInputElement>() {
                    input.set_value(default);
                }
            }
        });
    }
    let onchange = {
        let kind = kind.clone();
        Callback::from(move |e: Event| kind.set(e.target_unchecked_into::<HtmlSelectElement>().value()))
    };
    let onsubmit = {
        let (kind, error, fields) = (kind.clone(), error.clone(), fields.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let spec = if kind.as_str() == "matmul" { fields.matmul() } else { fields.mandelbrot() };
            match spec {
                Ok(spec) => {
                    error.set(None);
                    if !session.submit_job(spec) {
                        error.set(Some("Not connected: the job was not submitted".into()));
                    }
                }
                Err(message) => error.set(Some(message)),
            }
        })
    };
    let matmul = kind.as_str() == "matmul";
    let wasm = kind.as_str() == "wasm";
    html! {
        <form class="job-form" {onsubmit} novalidate=true>
            <label class="field" for="job-kind">
                <span>{ "Kind" }</span>
                <select id="job-kind" {onchange}>
                    <option value="mandelbrot" selected={!matmul}>{ "Mandelbrot render (PNG)" }</option>
                    <option value="matmul" selected={matmul}>{ "Matrix product (.npy)" }</option>
                    <option value="wasm" selected={wasm}>{ "Your WebAssembly kernel" }</option>
                </select>
            </label>
            <fieldset class="field-grid" hidden={!matmul}>{ inputs(&fields, "matmul-") }</fieldset>
            <fieldset class="field-grid" hidden={matmul || wasm}>{ inputs(&fields, "mandel-") }</fieldset>
            if wasm {
                <super::WasmForm master_key={props.master_key.clone()} />
            } else {
                if let Some(message) = (*error).clone() {
                    <p class="error" role="alert">{ message }</p>
                }
                <button id="submit-job" class="btn btn-primary" type="submit">{ "Submit job" }</button>
            }
        </form>
    }
}
