//! The worker view: the swarm, this device's name, threads, throttle, tasks done and the
//! kernel in use with each path's figure, with a local Pause/Resume, "Keep the screen on"
//! and Leave. It says plainly why work is paused: here, by the master, by the swarm, or
//! because the page is hidden.

use ostrich_protocol::{Role, RunState};
use yew::prelude::*;

use super::{DeviceName, Header, Notice, PowerSelect};
use crate::compute::KernelPreference;
use crate::format;
use crate::hooks::use_session_context;
use crate::power::{BatteryView, PolicyChoice, describe_pause};
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
        _ if figures.hidden => ("Paused: this page is hidden", "state-paused"),
        _ if figures.power.pause().is_some() => ("Paused by the power policy", "state-paused"),
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
    let leave = {
        let session = session.clone();
        Callback::from(move |_| session.leave())
    };
    let swarm = state.welcome.as_ref().map_or_else(|| "—".into(), |w| w.swarm_id.simple().to_string()[..8].to_string());
    // "—" until every path is measured (a second or two after the page opens).
    let kernel = figures.kernels.as_ref().map_or_else(|| "—".into(), |k| k.matmul.label().to_owned());
    let forced = figures.kernels.as_ref().is_some_and(|k| k.forced);
    let kernel_figures = figures.kernels.as_ref().map_or_else(|| "measuring…".into(), format::kernel_figures);
    let wake_lock = &figures.wake_lock;
    let wake_wanted = wake_lock.wanted;
    let toggle_wake = {
        let session = session.clone();
        Callback::from(move |_| session.set_wake_lock(!wake_wanted))
    };
    let (wake_text, wake_state) = match (wake_wanted, wake_lock.held, &wake_lock.unavailable) {
        (false, _, _) => ("off: the screen may sleep and stop the work".to_owned(), "off"),
        (true, true, _) => ("the screen stays on while this device computes".to_owned(), "held"),
        (true, false, Some(why)) => (format!("not available here ({why}): keep the screen on yourself"), "unavailable"),
        (true, false, None) => ("on while this device computes".to_owned(), "idle"),
    };
    let power = figures.power;
    let on_power = {
        let session = session.clone();
        Callback::from(move |choice: PolicyChoice| session.set_power_choice(choice))
    };
    let battery = match power.battery {
        BatteryView::Unknown => "reading…".to_owned(),
        BatteryView::Missing => "this browser does not report its battery: power policies do not apply here".to_owned(),
        BatteryView::Present(b) => {
            let charger = if b.charging { "on the charger" } else { "on battery" };
            format!("{} %, {charger}", (b.level * 100.0).round())
        }
    };
    let choice = |preference: KernelPreference, text: &'static str| {
        if figures.kernel_preference == preference {
            html! { <strong>{ text }</strong> }
        } else {
            html! { <a href={format!("/?kernel={}", preference.as_str())}>{ text }</a> }
        }
    };
    let tasks_done = figures.me.as_ref().map_or(figures.computed, |me| me.tasks_done);
    let (activity, class) = activity(state);
    let gpu = figures.kernels.as_ref().and_then(|k| k.gpu.as_ref()).map_or_else(
        || "none".into(),
        |g| format!("{} ({}){}", g.info.description, g.info.vendor, if g.info.fallback { ", software" } else { "" }),
    );
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
                            if forced { <span class="stat-note">{ "forced" }</span> }
                            if figures.kernels.is_none() { <span class="stat-note">{ "measuring…" }</span> }</div>
                    </div>
                    if figures.hidden {
                        <p id="pause-reason" class="pause-reason">
                            { "This page is hidden, so it takes no new tasks: a browser slows or freezes a hidden \
                               tab, and a locked phone stops it. Keep this page in front with the screen on." }
                        </p>
                    }
                    if let Some(pause) = power.pause() {
                        <p id="power-pause" class="pause-reason">{ describe_pause(pause) }</p>
                    }
                    <label class="switch-row" for="wake-lock">
                        <input type="checkbox" id="wake-lock" role="switch" checked={wake_wanted} onchange={toggle_wake} />
                        <span class="switch-label">{ "Keep the screen on" }</span>
                        <span id="wake-lock-state" class="muted" data-state={wake_state}>{ wake_text }</span>
                    </label>
                    <label class="power-row" for="power-policy">
                        <span class="switch-label">{ "Power" }</span>
                        <PowerSelect id="power-policy" value={PolicyChoice::of(power.own)} swarm={power.swarm}
                            with_swarm=true on_change={on_power} />
                    </label>
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
                        <dt>{ "Measured" }</dt><dd id="worker-kernel-figures">{ kernel_figures }</dd>
                        <dt>{ "Kernel choice" }</dt>
                        <dd id="kernel-choice">
                            { choice(KernelPreference::Auto, "fastest measured") }{ " · " }
                            { choice(KernelPreference::Cpu, "force the CPU") }{ " · " }
                            { choice(KernelPreference::Gpu, "force WebGPU") }
                        </dd>
                        <dt>{ "Battery" }</dt><dd id="battery-state">{ battery }</dd>
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
