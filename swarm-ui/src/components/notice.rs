//! The bar under the header for what needs the user: a refused master key (start a new
//! swarm), another tab that took over (reconnect here), a refused command (dismiss).

use yew::prelude::*;

use crate::hooks::use_session_context;
use crate::state::{Action, Connection, State};

/// Properties of [`Notice`].
#[derive(Properties, PartialEq)]
pub struct NoticeProps {
    /// The app state.
    pub state: UseReducerHandle<State>,
}

/// The notice bar; empty when nothing needs the user.
#[function_component]
pub fn Notice(props: &NoticeProps) -> Html {
    let session = use_session_context();
    let state = &props.state;
    if state.master_key_refused {
        let reason = match &state.connection {
            Connection::Halted { reason } => reason.clone(),
            _ => String::new(),
        };
        let onclick = Callback::from(move |_| session.new_swarm());
        return html! {
            <div class="notice notice-error" role="alert">
                <span>{ reason }</span>
                <button id="new-swarm" class="btn btn-primary" {onclick}>{ "Start a new swarm" }</button>
            </div>
        };
    }
    if let Connection::Halted { reason } = &state.connection {
        let onclick = Callback::from(move |_| session.reconnect_now());
        return html! {
            <div class="notice notice-warn" role="alert">
                <span>{ reason.clone() }</span>
                <button id="reconnect" class="btn" {onclick}>{ "Reconnect here" }</button>
            </div>
        };
    }
    if let Some(notice) = &state.notice {
        let dispatcher = state.dispatcher();
        let onclick = Callback::from(move |_| dispatcher.dispatch(Action::DismissNotice));
        return html! {
            <div class="notice notice-warn" role="status">
                <span>{ notice.clone() }</span>
                <button class="btn btn-small" {onclick}>{ "Dismiss" }</button>
            </div>
        };
    }
    html! {}
}
