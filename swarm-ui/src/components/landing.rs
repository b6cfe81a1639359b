//! The landing page, for a browser that holds no master key and no worker role: what the
//! product is, and the two ways in. Nothing is created until the user chooses: "Create a
//! swarm" goes to `/new`, "Join with a code" to the join form.

use yew::prelude::*;

use super::Header;
use crate::state::Connection;

/// The page.
#[function_component]
pub fn Landing() -> Html {
    html! {
        <div class="app landing" id="landing">
            <Header role={None} connection={Connection::Idle} />
            <main class="landing-main">
                <section class="landing-intro">
                    <h1>{ "Turn the devices in this room into one computer" }</h1>
                    <p class="muted">
                        { "Ostrich-Legs splits a big computation into tasks, hands them to every phone, \
                           tablet and laptop that joins, checks every result and assembles the answer. \
                           Devices join from their browser by scanning a QR code: nothing to install." }
                    </p>
                </section>
                <div class="landing-choices">
                    <section class="card landing-choice">
                        <h2>{ "Create a swarm" }</h2>
                        <p class="muted">
                            { "This browser becomes the swarm's master: you invite devices, submit jobs, \
                               steer the swarm and download the results." }
                        </p>
                        <a id="create-swarm" class="btn btn-primary btn-big" href="/new">{ "Create a swarm" }</a>
                    </section>
                    <section class="card landing-choice">
                        <h2>{ "Join a swarm" }</h2>
                        <p class="muted">
                            { "Someone else runs the swarm? Scan the QR code on their screen, or type \
                               the 8-character code it shows." }
                        </p>
                        <a id="join-with-code" class="btn btn-big" href="/join">{ "Join with a code" }</a>
                    </section>
                </div>
            </main>
        </div>
    }
}
