//! The top bar: the app's name, this page's role and the connection status.

use ostrich_protocol::Role;
use yew::prelude::*;

use crate::state::Connection;

/// Properties of [`Header`].
#[derive(Properties, PartialEq)]
pub struct HeaderProps {
    /// The role granted, or the one this page is joining as.
    pub role: Option<Role>,
    /// The connection.
    pub connection: Connection,
    /// Buttons on the right.
    #[prop_or_default]
    pub children: Html,
}

/// The top bar.
#[function_component]
pub fn Header(props: &HeaderProps) -> Html {
    let role = match props.role {
        Some(Role::Master) => "master",
        Some(Role::Worker) => "worker",
        None => "guest",
    };
    // "connected" only when welcomed: the words for the other states avoid that substring.
    let (text, class, title) = match &props.connection {
        Connection::Idle => ("not joined", "conn-idle", String::new()),
        Connection::Connecting => ("connecting…", "conn-connecting", String::new()),
        Connection::Connected => ("connected", "conn-connected", String::new()),
        Connection::Offline { reason } => ("offline — retrying", "conn-offline", reason.clone()),
        Connection::Halted { reason } => ("stopped", "conn-halted", reason.clone()),
    };
    html! {
        <header class="topbar">
            <a class="brand" href="/">
                <svg class="logo" viewBox="0 0 24 24" aria-hidden="true">
                    <circle cx="15" cy="4.5" r="2.5" />
                    <path d="M14 7 C 8 8, 5 11, 6.5 14.5 L 11 14.5 L 9 22 M 11 14.5 L 14 22" />
                </svg>
                <span class="brand-name">{ "Ostrich-Legs" }</span>
            </a>
            <span id="role" class={classes!("pill", "role", format!("role-{role}"))}>{ role }</span>
            <span id="connection-status" class={classes!("pill", "conn", class)} title={title}>
                <span class="dot" />{ text }
            </span>
            <div class="topbar-actions">{ props.children.clone() }</div>
        </header>
    }
}
