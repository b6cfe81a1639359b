//! The worker view: the swarm, this device's name, threads, throttle, tasks done and the
//! kernel in use, with a local Pause/Resume and Leave.

use ostrich_protocol::{Role, RunState};
use yew::prelude::*;

use super::{DeviceName, Header, Notice};
use crate::format;
use crate::hooks::use_session_context;
use crate::state::{Connection, State};

/// Properties of [`WorkerView`].
#[derive(Properties, PartialEq)]
pub struct WorkerViewProps {
    /// The app state.
    pub state: UseReducerHandle<State>,
}

/// What this device is doing, in words.
fn activity(state: &State) -> (&'static str, &'static str) {
    let figures = &state.worker;
    match (&state.connection, state.run_state) {
        (Connection::Idle | Connection::Connecting, _) => ("Joining the swarm…", "state-idle"),
        (Connection::Offline { .. }, _) => ("Connection lost — reconnecting", "state-paused"),
        (Connection::Halted { .. }, _) => ("Not connected", "state-stopped"),
        _ if !state.enabled => ("Disabled by the master", "state-stopped"),
        _ if figures.local_pause => ("Paused on this device", "state-paused"),
        (_, RunState::Stopped) => ("The swarm is stopped", "state-stopped"),
        (_, RunState::Paused) => ("The swarm is paused", "state-paused"),
        _ if state.throttle == 0 => ("Throttled to 0 %", "state-paused"),
        (_, RunState::Idle) => ("Ready — waiting for a job", "state-idle"),
        (_, RunState::Running) => ("Computing", "state-running"),
    }
}

/// The view.
#[function_component]
pub fn WorkerView(props: &WorkerViewProps) -> Html {
    let session = use_session_context();
    let state = &props.state;
    let figures = &state.worker;
    let paused = figures.local_pause;
    let toggle_pause = {
        let session = session.clone();
        Callback::from(move |_| session.set_local_pause(!paused))
    };
    // Leaving forgets this device's place in the swarm: it asks first.
    let confirming_leave = use_state(|| false);
    let ask_leave = {
        let confirming_leave = confirming_leave.clone();
        Callback::from(move |_| confirming_leave.set(true))
    };
    let stay = {
        let confirming_leave = confirming_leave.clone();
        Callback::from(move |_| confirming_leave.set(false))
    };
    let leave = Callback::from(move |_| session.leave());
    let swarm = state.welcome.as_ref().map_or_else(|| "—".into(), |w| w.swarm_id.simple().to_string()[..8].to_string());
    let kernel = figures.kernel.clone().unwrap_or_else(|| "probing…".into());
    let tasks_done = figures.me.as_ref().map_or(figures.computed, |me| me.tasks_done);
    let (activity, class) = activity(state);
    let gpu = figures.gpu.as_ref().map_or_else(|| "none".into(), |g| format!("{} ({})", g.description, g.vendor));
    html! {
        <div class="app worker" id="worker-view">
            <Header role={Some(Role::Worker)} connection={state.connection.clone()} />
            <Notice state={state.clone()} />
            <main class="worker-main">
                <section class="card worker-card">
                    <div class="worker-head">
                        <span class={classes!("pill", class)}>{ activity }</span>
                        <span class="muted">{ "Swarm " }<code id="worker-swarm">{ swarm }</code></span>
                    </div>
                    <DeviceName name={state.device_name.clone()} />
                    <div class="stats-grid">
                        <div class="stat"><span class="stat-label">{ "Threads" }</span>
                            <span id="worker-threads" class="stat-value">{ figures.threads }</span></div>
                        <div class="stat"><span class="stat-label">{ "Throttle" }</span>
                            <span id="worker-throttle" class="stat-value">{ format!("{} %", state.throttle) }</span></div>
                        <div class="stat"><span class="stat-label">{ "Tasks done" }</span>
                            <span id="worker-tasks-done" class="stat-value">{ tasks_done }</span></div>
                        <div class="stat"><span class="stat-label">{ "Kernel" }</span>
                            <span id="worker-kernel" class="stat-value">{ kernel }</span>
                            if figures.forced_cpu { <span class="stat-note">{ "forced" }</span> }</div>
                    </div>
                    <div class="btn-row">
                        <button id="local-pause" class={classes!("btn", "btn-big", if paused { "btn-go" } else { "btn-warn" })}
                            onclick={toggle_pause} aria-pressed={paused.to_string()}>
                            { if paused { "▶ Resume" } else { "❚❚ Pause" } }
                        </button>
                        <button id="leave" class="btn btn-big btn-ghost" onclick={ask_leave}>{ "Leave swarm" }</button>
                    </div>
                    if *confirming_leave {
                        <div class="confirm" role="alertdialog" aria-label="Confirm leaving">
                            <p>{ "Leave this swarm? This device stops computing and forgets its place: \
                                  to come back it needs a new invite from the master." }</p>
                            <div class="btn-row">
                                <button id="confirm-leave" class="btn btn-danger" onclick={leave}>{ "Leave" }</button>
                                <button id="cancel-leave" class="btn" onclick={stay}>{ "Stay" }</button>
                            </div>
                        </div>
                    }
                    <dl class="details">
                        <dt>{ "GPU" }</dt><dd>{ gpu }</dd>
                        <dt>{ "Kernel choice" }</dt>
                        <dd>
                            if figures.forced_cpu {
                                { "CPU forced · " }<a href="/?kernel=auto">{ "allow WebGPU" }</a>
                            } else {
                                { "WebGPU when available · " }<a href="/?kernel=cpu">{ "force the CPU" }</a>
                            }
                        </dd>
                        <dt>{ "Benchmark" }</dt><dd>{ format::ops_score(figures.ops_score.unwrap_or(0)) }</dd>
                        <dt>{ "Computed on this page" }</dt>
                        <dd>{ format!("{}, {} failed", format::plural(figures.computed, "task"), format::count(figures.failed)) }</dd>
                        <dt>{ "Rate" }</dt>
                        <dd>{ format!("{} tasks/s", format::rate(figures.me.as_ref().map_or(0.0, |m| m.tasks_per_sec))) }</dd>
                    </dl>
                </section>
            </main>
        </div>
    }
}
