//! This device's name, editable: saved on Enter or when the field loses focus.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::use_session_context;

/// Properties of [`DeviceName`].
#[derive(Properties, PartialEq)]
pub struct DeviceNameProps {
    /// The current name.
    pub name: AttrValue,
}

/// The name field.
#[function_component]
pub fn DeviceName(props: &DeviceNameProps) -> Html {
    let session = use_session_context();
    // Controlled: Yew resets an input's value to the rendered one on every render.
    let typed = use_state(|| props.name.to_string());
    {
        let typed = typed.clone();
        use_effect_with(props.name.clone(), move |name| typed.set(name.to_string()));
    }
    let oninput = {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| typed.set(e.target_unchecked_into::<HtmlInputElement>().value()))
    };
    let onchange = Callback::from(move |e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        session.rename(&input.value());
    });
    let onsubmit = Callback::from(|e: SubmitEvent| e.prevent_default());
    html! {
        <form class="device-name" {onsubmit}>
            <label for="device-name">{ "Device name" }</label>
            <input id="device-name" type="text" maxlength="64" value={(*typed).clone()} {oninput} {onchange}
                autocomplete="off" spellcheck="false" />
        </form>
    }
}
