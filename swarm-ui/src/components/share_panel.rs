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
    /// Online devices other than this browser, and how many of them report WebGPU, so the
    /// notice about WebGPU says what the devices found.
    pub devices: (usize, usize),
}

/// Whether a URL's host is a loopback address, which no other device can reach.
pub fn loopback_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback.then(|| host.to_string())
}

/// What the panel says about WebGPU on plain HTTP. Browsers offer WebGPU (and the screen
/// wake lock) only in a secure context: HTTPS, or `localhost` on the device itself; a phone
/// opening `http://192.168.…` computes on its CPU. `devices` is (online, reporting WebGPU).
pub fn webgpu_notice(devices: (usize, usize)) -> String {
    let (online, webgpu) = devices;
    let found = match (online, webgpu) {
        (0, _) => String::new(),
        (_, 0) => format!(" So far none of the {} computes on WebGPU.", format::plural(online as u64, "device")),
        (n, w) if n == w => {
            format!(" All {} use WebGPU (they opened this page on localhost).", format::count(n as u64))
        }
        (n, w) => {
            format!(" {} of {} use WebGPU: those that opened this page on localhost.", w, format::count(n as u64))
        }
    };
    format!(
        "Served over plain HTTP: browsers allow WebGPU and keeping the screen on only over HTTPS or on \
         localhost, so a device that opens the link computes on its CPU.{found} Start the coordinator with"
    )
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
            let loopback = loopback_host(&invite.url);
            html! {
                <>
                if let Some(host) = loopback {
                    <p id="loopback-warning" class="warning" role="alert">
                        { format!("This link points at {host}, this computer's own loopback address: \
                                   a phone or another computer cannot reach it. Open this dashboard by \
                                   the computer's LAN address (for example ") }
                        <code>{ "http://192.168.1.20:8080" }</code>
                        { "), or start the coordinator with " }<code>{ "--public-url http://LAN-ADDRESS:PORT" }</code>
                        { ", then make a new code." }
                    </p>
                }
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
                </>
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
                    { webgpu_notice(props.devices) }{ " " }<code>{ "--tls" }</code>{ " for HTTPS." }</p>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{loopback_host, webgpu_notice};

    #[test]
    fn loopback_links_are_recognised() {
        assert_eq!(loopback_host("http://127.0.0.1:8080/join?token=A").as_deref(), Some("127.0.0.1"));
        assert_eq!(loopback_host("https://localhost:8443/join").as_deref(), Some("localhost"));
        assert_eq!(loopback_host("http://[::1]:8080/join").as_deref(), Some("::1"));
        assert_eq!(loopback_host("http://192.168.1.20:8080/join?token=A"), None);
        assert_eq!(loopback_host("https://swarm.example.org/join"), None);
    }

    #[test]
    fn the_webgpu_notice_says_what_the_devices_report() {
        assert!(!webgpu_notice((0, 0)).contains("So far"));
        assert!(webgpu_notice((3, 0)).contains("none of the 3 devices"));
        assert!(webgpu_notice((2, 2)).contains("All 2 use WebGPU"));
        assert!(webgpu_notice((3, 1)).contains("1 of 3 use WebGPU"));
    }
}
