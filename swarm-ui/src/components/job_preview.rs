//! A Mandelbrot job's preview: a canvas that draws each verified tile as it arrives.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};
use yew::prelude::*;

use crate::format;
use crate::state::Preview;

/// Properties of [`JobPreview`].
#[derive(Properties, PartialEq)]
pub struct JobPreviewProps {
    /// The preview.
    pub preview: Preview,
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// The canvas; only tiles not drawn yet are drawn on each update.
#[function_component]
pub fn JobPreview(props: &JobPreviewProps) -> Html {
    let canvas = use_node_ref();
    let drawn = use_mut_ref(|| 0usize);
    {
        let (canvas, drawn, preview) = (canvas.clone(), drawn.clone(), props.preview.clone());
        use_effect(move || {
            let Some(element) = canvas.cast::<HtmlCanvasElement>() else { return };
            let Some(context) = context(&element) else { return };
            let mut drawn = drawn.borrow_mut();
            if *drawn > preview.tiles.len() {
                *drawn = 0;
            }
            for tile in &preview.tiles[*drawn..] {
                let rect = tile.rect;
                let (x, y) = (i32::try_from(rect.x).unwrap_or(i32::MAX), i32::try_from(rect.y).unwrap_or(i32::MAX));
                if let Ok(image) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&tile.rgba), rect.w, rect.h) {
                    // The coordinates are i32 with `web_sys_unstable_apis` (the wasm build) and
                    // f64 without (native): `into` fits both, and is a no-op on one of them.
                    #[allow(clippy::useless_conversion)]
                    let _ = context.put_image_data(&image, x.into(), y.into());
                }
            }
            *drawn = preview.tiles.len();
        });
    }
    // The counts stay in the job's row (its progress is their one source); the caption says
    // what the image is.
    let spec = props.preview.spec;
    html! {
        <figure class="preview">
            <canvas ref={canvas} class="job-preview" width={spec.width.to_string()} height={spec.height.to_string()}
                style={format!("aspect-ratio: {} / {}", spec.width.max(1), spec.height.max(1))} />
            <figcaption class="muted">
                { format!("{} × {} px ({}) · {} iterations at most", format::count(u64::from(spec.width)),
                    format::count(u64::from(spec.height)),
                    format::pixels(u64::from(spec.width) * u64::from(spec.height)),
                    format::count(u64::from(spec.max_iter))) }
            </figcaption>
        </figure>
    }
}
