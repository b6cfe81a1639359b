//! The swarm totals: devices online, cores, GPUs, verified tasks per second, queue.

use ostrich_protocol::SwarmTotals;
use yew::prelude::*;

use crate::format;

/// Properties of [`Totals`].
#[derive(Properties, PartialEq)]
pub struct TotalsProps {
    /// The last snapshot's totals.
    pub totals: Option<SwarmTotals>,
}

/// The row of figures at the top of the dashboard.
#[function_component]
pub fn Totals(props: &TotalsProps) -> Html {
    let t = props.totals.clone();
    let figure = |value: Option<String>| value.unwrap_or_else(|| "–".into());
    let online = figure(t.as_ref().map(|t| format::count(u64::from(t.online))));
    let cores = figure(t.as_ref().map(|t| format::count(u64::from(t.cores))));
    let gpus = figure(t.as_ref().map(|t| format::count(u64::from(t.gpus))));
    let rate = format::rate(t.as_ref().map_or(0.0, |t| t.tasks_per_sec));
    let queued = figure(t.as_ref().map(|t| format::count(u64::from(t.queued))));
    let in_flight = figure(t.as_ref().map(|t| format::count(u64::from(t.in_flight))));
    html! {
        <section class="totals" aria-label="Swarm totals">
            <div class="stat"><span class="stat-label">{ "Devices online" }</span>
                <span id="totals-online" class="stat-value">{ online }</span></div>
            <div class="stat"><span class="stat-label">{ "Cores" }</span>
                <span id="totals-cores" class="stat-value">{ cores }</span></div>
            <div class="stat"><span class="stat-label">{ "GPUs" }</span>
                <span id="totals-gpus" class="stat-value">{ gpus }</span></div>
            <div class="stat accent"><span class="stat-label">{ "Verified tasks/s" }</span>
                <span class="stat-value"><span id="totals-tasks-per-sec">{ rate }</span></span></div>
            <div class="stat"><span class="stat-label">{ "Queued" }</span>
                <span id="totals-queued" class="stat-value">{ queued }</span></div>
            <div class="stat"><span class="stat-label">{ "In flight" }</span>
                <span id="totals-in-flight" class="stat-value">{ in_flight }</span></div>
        </section>
    }
}
