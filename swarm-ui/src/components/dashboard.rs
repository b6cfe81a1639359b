//! The master's dashboard: totals, run controls and throttle, throughput, jobs, devices,
//! the terminal and the API key, with the share dialog on top when open.

use ostrich_protocol::{DeviceStatus, Role};
use yew::prelude::*;

use super::{
    ApiKey, DeviceTable, Header, JobForm, JobList, Notice, PythonPanel, Quotas, RunControls, SharePanel, Terminal,
    Throttle, ThroughputChart, Totals,
};
use crate::dom;
use crate::hooks::use_session_context;
use crate::state::State;

/// Properties of [`Dashboard`].
#[derive(Properties, PartialEq)]
pub struct DashboardProps {
    /// The app state.
    pub state: UseReducerHandle<State>,
}

/// Online devices other than this browser, and how many of them report a GPU.
fn others_online(state: &State) -> (usize, usize) {
    let others = state.devices.iter().filter(|d| d.device_id != state.device_id && d.stats.status != DeviceStatus::Offline);
    others.fold((0, 0), |(online, gpus), d| (online + 1, gpus + usize::from(d.gpu.is_some())))
}

/// The dashboard.
#[function_component]
pub fn Dashboard(props: &DashboardProps) -> Html {
    let session = use_session_context();
    let sharing = use_state(|| false);
    let state = &props.state;
    let open_share = {
        let (sharing, session, state) = (sharing.clone(), session.clone(), state.clone());
        Callback::from(move |_| {
            let current = state.invite.as_ref().is_some_and(|i| !i.revoked && i.expires_at_ms > dom::now_ms());
            if !current && !state.invite_pending {
                session.create_invite();
            }
            sharing.set(true);
            if let Some(window) = web_sys::window() {
                window.scroll_to_with_x_and_y(0.0, 0.0);
            }
        })
    };
    let close_share = {
        let sharing = sharing.clone();
        Callback::from(move |()| sharing.set(false))
    };
    html! {
        <div class="app">
            <Header role={Some(Role::Master)} connection={state.connection.clone()}>
                <button id="share-button" class="btn btn-primary" onclick={open_share}>
                    { "Invite" }<span class="wide-only">{ " devices" }</span>
                </button>
            </Header>
            <Notice state={state.clone()} />
            <main class="dashboard">
                if *sharing {
                    <SharePanel
                        invite={state.invite.clone()}
                        pending={state.invite_pending}
                        error={state.invite_error.clone()}
                        on_close={close_share}
                        tls_fingerprint={state.welcome.as_ref().and_then(|w| w.tls_fingerprint.clone())}
                        devices={others_online(state)}
                    />
                }
                <Totals totals={state.totals.clone()} />
                <section class="card controls">
                    <div class="controls-head">
                        <h2>{ "Swarm control" }</h2>
                        if let Some(welcome) = &state.welcome {
                            // The same short id the phones show, the whole id on hover.
                            <span class="muted swarm-id" title={welcome.swarm_id.to_string()}>{ "Swarm " }
                                <code id="swarm-id">{ welcome.swarm_id.simple().to_string()[..8].to_string() }</code></span>
                        }
                    </div>
                    <RunControls run_state={state.run_state} />
                    <Throttle throttle={state.throttle} />
                    <p class="muted hint">
                        { "Each device runs one thread per core (keeping one or two for itself) times the \
                           throttle; changes reach every device at once. Pause lets tasks in flight finish; \
                           Stop cancels them." }
                    </p>
                </section>
                <section class="card chart">
                    <ThroughputChart history={state.history.iter().copied().collect::<Vec<f32>>()} />
                </section>
                <section class="card jobs">
                    <h2>{ "Jobs" }</h2>
                    <div class="jobs-layout">
                        <JobForm />
                        <JobList
                            jobs={state.jobs.clone()}
                            previews={state.previews.clone()}
                            master_key={state.master_key.clone()}
                            run_state={state.run_state}
                        />
                    </div>
                </section>
                <section class="card devices">
                    <h2>{ "Devices" }</h2>
                    <DeviceTable devices={state.devices.clone()} own_id={state.device_id} />
                </section>
                <section class="card terminal-card">
                    <h2>{ "Log" }</h2>
                    <Terminal log={state.log.iter().cloned().collect::<Vec<_>>()} />
                </section>
                <section class="card api">
                    <h2>{ "API key" }</h2>
                    <ApiKey master_key={state.master_key.clone()} />
                </section>
                <section class="card python-card">
                    <h2>{ "Use from Python" }</h2>
                    <PythonPanel master_key={state.master_key.clone()} />
                </section>
                <section class="card quotas">
                    <h2>{ "Quotas" }</h2>
                    <Quotas usage={state.usage} />
                </section>
            </main>
        </div>
    }
}
