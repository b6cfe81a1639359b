//! The share panel: the invite as a QR code, a link with a Copy button and a code to type,
//! with its expiry countdown, Regenerate and Revoke. It sits at the top of the dashboard
//! rather than over it, so the master can keep the QR code up for a room of phones while
//! watching them join and still use every control.

use yew::prelude::*;

use super::CopyButton;
use crate::format;
use crate::hooks::{use_clock, use_session_context};
use crate::state::InviteView;

/// Properties of [`SharePanel`].
#[derive(Properties, PartialEq)]
pub struct SharePanelProps {
    /// The current invite, if one was minted.
    pub invite: Option<InviteView>,
    /// A new invite is on its way.
    pub pending: bool,
    /// Why the last invite could not be minted.
    pub error: Option<String>,
    /// Hides the panel.
    pub on_close: Callback<()>,
    /// SHA-256 of the coordinator's TLS certificate, when it serves HTTPS.
    pub tls_fingerprint: Option<String>,
}

/// The SVG element of a QR document, without any XML prologue.
fn svg_only(document: &str) -> String {
    document.find("<svg").map_or_else(String::new, |start| document[start..].to_string())
}

/// The panel.
#[function_component]
pub fn SharePanel(props: &SharePanelProps) -> Html {
    let session = use_session_context();
    // The clock re-renders the panel every second; the time itself is read now, so a
    // countdown never starts above the invite's lifetime.
    use_clock();
    let now = crate::dom::now_ms();
    let close = props.on_close.reform(|_: MouseEvent| ());
    let regenerate = {
        let session = session.clone();
        Callback::from(move |_| session.create_invite())
    };
    let body = match &props.invite {
        Some(view) => {
            let invite = &view.invite;
            let remaining = view.expires_at_ms - now;
            let expiry = if view.revoked { "revoked".to_string() } else { format::countdown(remaining) };
            let usable = !view.revoked && remaining > 0.0;
            let revoke = {
                let (session, token) = (session.clone(), invite.token.clone());
                Callback::from(move |_| session.revoke_invite(token.clone()))
            };
            let join_page = invite.url.split('?').next().unwrap_or_default().to_string();
            html! {
                <div class="share-body">
                    <div id="invite-qr" class={classes!("qr", (!usable).then_some("qr-dead"))}>
                        { Html::from_html_unchecked(AttrValue::from(svg_only(&invite.qr_svg))) }
                    </div>
                    <div class="share-info">
                        <p class="muted">{ "Scan with a phone camera, or open the link on any device." }</p>
                        <span class="label">{ "Join link" }</span>
                        <div class="copy-row">
                            <code id="invite-link" class="link">{ invite.url.clone() }</code>
                            <CopyButton id="copy-invite-link" text={invite.url.clone()} target="invite-link" />
                        </div>
                        <span class="label">{ "Or type this code at " }<code>{ join_page }</code></span>
                        <div id="invite-code" class={classes!("code", (!usable).then_some("dead"))}>
                            { invite.token.clone() }</div>
                        <p class="expiry">{ if view.revoked { "Revoked: " } else { "Expires in " } }
                            <span id="invite-expiry" class={classes!((!usable).then_some("dead"))}>{ expiry }</span>
                            <span class="muted">{ " · many devices may use one code" }</span></p>
                        <div class="btn-row">
                            <button id="regenerate-invite" class="btn" onclick={regenerate}
                                disabled={props.pending}>{ "New code" }</button>
                            <button id="revoke-invite" class="btn btn-danger" onclick={revoke}
                                disabled={view.revoked}>{ "Revoke" }</button>
                        </div>
                    </div>
                </div>
            }
        }
        None if props.pending => html! { <p class="muted">{ "Minting an invite…" }</p> },
        None => html! {
            <div class="btn-row">
                <button id="regenerate-invite" class="btn btn-primary" onclick={regenerate}>{ "Create an invite" }</button>
            </div>
        },
    };
    html! {
        <section class="card share-panel" aria-labelledby="share-title">
            <div class="panel-head">
                <h2 id="share-title">{ "Invite devices" }</h2>
                <button id="close-share" class="btn btn-ghost btn-small close" aria-label="Hide the invite"
                    onclick={close}>{ "✕ Hide" }</button>
            </div>
            if let Some(error) = props.error.clone() {
                <p id="invite-error" class="error" role="alert">{ error }</p>
            }
            { body }
            if let Some(fingerprint) = props.tls_fingerprint.clone() {
                <p class="muted fingerprint">{ "HTTPS certificate SHA-256 " }
                    <code id="tls-fingerprint">{ fingerprint }</code>
                    { ": a phone's browser shows the same in the certificate details it asks you to accept." }</p>
            } else {
                <p class="muted fingerprint" id="tls-missing">
                    { "Served over plain HTTP: phones get no WebGPU here. Start the coordinator with " }
                    <code>{ "--tls" }</code>{ " for HTTPS." }</p>
            }
        </section>
    }
}
