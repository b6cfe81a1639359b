//! The master's dashboard: totals, run controls and throttle, throughput, jobs, devices,
//! the terminal and the API key, with the share dialog on top when open.

use ostrich_protocol::{DeviceStatus, JobState, MasterCommand, Role, RunState};
use yew::prelude::*;

use super::{
    ApiKey, DeviceTable, Header, JobForm, JobList, Notice, PowerSelect, PythonPanel, Quotas, RunControls, SharePanel,
    Terminal, Throttle, ThroughputChart, Totals,
};
use crate::hooks::use_session_context;
use crate::power::PolicyChoice;
use crate::state::State;
use crate::{dom, format};

/// Properties of [`Dashboard`].
#[derive(Properties, PartialEq)]
pub struct DashboardProps {
    /// The app state.
    pub state: UseReducerHandle<State>,
}

/// Online devices other than this browser, and how many of them report a GPU.
fn others_online(state: &State) -> (usize, usize) {
    let others =
        state.devices.iter().filter(|d| d.device_id != state.device_id && d.stats.status != DeviceStatus::Offline);
    others.fold((0, 0), |(online, gpus), d| (online + 1, gpus + usize::from(d.gpu.is_some())))
}

/// Whether jobs wait because no device takes work: a job is running, the swarm is not
/// paused or stopped, and no online device asks for tasks.
fn nobody_computes(state: &State) -> bool {
    let waiting = state.jobs.iter().any(|j| j.state == JobState::Running);
    let dispatching = matches!(state.run_state, RunState::Running | RunState::Idle);
    let takers = state.devices.iter().any(|d| d.stats.status == DeviceStatus::Online && d.stats.slots > 0);
    waiting && dispatching && !takers && !state.devices.is_empty()
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
    let invite_from_hint = open_share.clone();
    let compute_here = state.worker.compute_here;
    let toggle_compute = {
        let session = session.clone();
        Callback::from(move |_| session.set_compute_here(!compute_here))
    };
    let here = &state.worker;
    let here_summary = match (&here.kernels, compute_here) {
        (_, false) => "off: this browser only steers the swarm".to_owned(),
        (Some(k), true) => {
            format!("{} · matrix products on {}", format::plural(u64::from(here.threads), "thread"), k.matmul.label())
        }
        (None, true) => format!("{} · measuring kernels…", format::plural(u64::from(here.threads), "thread")),
    };
    let swarm_policy = state.worker.power.swarm;
    let on_swarm_power = {
        let session = session.clone();
        Callback::from(move |choice: PolicyChoice| {
            if let Some(policy) = choice.policy() {
                session.command(MasterCommand::SetPowerPolicy { policy });
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
                    <label class="switch-row" for="compute-here">
                        <input type="checkbox" id="compute-here" role="switch" checked={compute_here}
                            onchange={toggle_compute} />
                        <span class="switch-label">{ "Compute here" }</span>
                        <span id="compute-here-summary" class="muted">{ here_summary }</span>
                    </label>
                    <label class="power-row" for="swarm-power-policy">
                        <span class="switch-label">{ "Power policy" }</span>
                        <PowerSelect id="swarm-power-policy" value={PolicyChoice::of(Some(swarm_policy))}
                            swarm={swarm_policy} with_swarm=false on_change={on_swarm_power} />
                    </label>
                    <p class="muted hint">
                        { "Each device runs one thread per core (keeping one or two for itself) times the \
                           throttle; changes reach every device at once. Pause lets tasks in flight finish; \
                           Stop cancels them. The power policy applies to devices whose browser reports its \
                           battery, unless a device chose its own." }
                    </p>
                </section>
                <section class="card chart">
                    <ThroughputChart history={state.history.iter().copied().collect::<Vec<f32>>()} />
                </section>
                <section class="card jobs">
                    <h2>{ "Jobs" }</h2>
                    if nobody_computes(state) {
                        <div id="no-device-hint" class="hint-box" role="status">
                            <p>{ "No device is taking work, so the jobs wait. Invite devices, or turn on \
                                  \"Compute here\" to use this browser." }</p>
                            <button id="hint-invite" class="btn btn-primary btn-small" onclick={invite_from_hint}>
                                { "Invite devices" }</button>
                        </div>
                    }
                    <div class="jobs-layout">
                        <JobForm master_key={state.master_key.clone()} />
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
