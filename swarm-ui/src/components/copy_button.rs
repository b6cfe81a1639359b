//! A Copy button: the async clipboard where the browser offers it, else the text is selected
//! for the user to copy by hand.

use gloo::timers::callback::Timeout;
use yew::prelude::*;

use crate::dom;

/// Properties of [`CopyButton`].
#[derive(Properties, PartialEq)]
pub struct CopyButtonProps {
    /// The button's element id.
    pub id: AttrValue,
    /// The text to copy.
    pub text: AttrValue,
    /// The element whose text is selected when the clipboard is not available.
    pub target: AttrValue,
}

/// The button; it says "Copied" or "Press Ctrl+C" for a moment after a click.
#[function_component]
pub fn CopyButton(props: &CopyButtonProps) -> Html {
    let label = use_state(|| "Copy");
    let onclick = {
        let (label, text, target) = (label.clone(), props.text.clone(), props.target.clone());
        Callback::from(move |_| {
            let (label, text, target) = (label.clone(), text.clone(), target.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let copied = dom::copy_text(&text, &target).await;
                label.set(if copied { "Copied" } else { "Press Ctrl+C" });
                Timeout::new(2_000, move || label.set("Copy")).forget();
            });
        })
    };
    html! {
        <button id={props.id.clone()} class="btn btn-small copy" type="button" {onclick}>{ *label }</button>
    }
}
