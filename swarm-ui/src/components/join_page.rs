//! The join page: a field for the 8-character code (lower case and dashes accepted) and a
//! Join button, with the reason the last attempt failed.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::Header;
use crate::hooks::use_session_context;
use crate::route::{CODE_LEN, normalize_code};
use crate::state::State;

/// Properties of [`JoinPage`].
#[derive(Properties, PartialEq)]
pub struct JoinPageProps {
    /// The app state.
    pub state: UseReducerHandle<State>,
}

/// The page.
#[function_component]
pub fn JoinPage(props: &JoinPageProps) -> Html {
    let session = use_session_context();
    // Controlled: Yew resets an input's value to the rendered one on every render.
    let typed = use_state(|| props.state.join_code.clone());
    let local_error = use_state(|| None::<String>);
    let oninput = {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| typed.set(e.target_unchecked_into::<HtmlInputElement>().value()))
    };
    let onsubmit = {
        let (typed, local_error) = (typed.clone(), local_error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let code = normalize_code(&typed);
            if code.len() == CODE_LEN {
                local_error.set(None);
                session.join(code);
            } else {
                local_error
                    .set(Some(format!("A code has {CODE_LEN} letters and digits — this one has {}", code.len())));
            }
        })
    };
    let state = &props.state;
    let error = (*local_error).clone().or_else(|| state.join_error.clone());
    let kernel = state.worker.kernels.as_ref().map_or_else(|| "measuring…".into(), |k| k.matmul.label().to_owned());
    html! {
        <div class="app join">
            <Header role={None} connection={state.connection.clone()} />
            <main class="join-main">
                <section class="card join-card">
                    <h1>{ "Join a swarm" }</h1>
                    <p class="muted">{ "Type the 8-character code shown on the master's screen, or scan its QR code." }</p>
                    <form class="join-form" {onsubmit} novalidate=true>
                        <label class="sr-only" for="join-code">{ "Invite code" }</label>
                        <input id="join-code" class="code-input" type="text" inputmode="text"
                            autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16"
                            placeholder="K3M9-QX2B" value={(*typed).clone()} {oninput} />
                        <button id="join-submit" class="btn btn-primary btn-big" type="submit">{ "Join" }</button>
                    </form>
                    if let Some(error) = error {
                        <p id="join-error" class="error" role="alert">{ error }</p>
                    }
                    <p class="device-line muted">
                        { format!("This device: {} · kernel {}", state.device_name, kernel) }
                    </p>
                </section>
            </main>
        </div>
    }
}
