//! The master key, for the HTTP API and the native worker, with a Copy button.

use yew::prelude::*;

use super::CopyButton;
use crate::dom;

/// Properties of [`ApiKey`].
#[derive(Properties, PartialEq)]
pub struct ApiKeyProps {
    /// The master key, once known.
    pub master_key: Option<String>,
}

/// The key panel.
#[function_component]
pub fn ApiKey(props: &ApiKeyProps) -> Html {
    let Some(key) = props.master_key.clone() else {
        return html! { <p class="muted">{ "The key appears once the coordinator has welcomed this page." }</p> };
    };
    let origin = dom::origin();
    html! {
        <div class="api-key">
            <p class="muted">{ "Send it as " }<code>{ "Authorization: Bearer <key>" }</code>
                { " to the HTTP API. Anyone holding it controls this swarm." }</p>
            <div class="copy-row">
                <code id="api-key" class="secret">{ key.clone() }</code>
                <CopyButton id="copy-api-key" text={key} target="api-key" />
            </div>
            <pre class="example">{ format!("curl -H \"Authorization: Bearer $KEY\" {origin}/api/jobs") }</pre>
        </div>
    }
}
