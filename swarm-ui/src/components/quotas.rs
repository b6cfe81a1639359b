//! The swarm's quotas: how much of each it uses (unfinished jobs, stored results, devices
//! online, unexpired invites), so the master sees a limit coming before a refusal.

use ostrich_protocol::{Quota, SwarmUsage};
use yew::prelude::*;

use crate::format;

/// Properties of [`Quotas`].
#[derive(Properties, PartialEq)]
pub struct QuotasProps {
    /// The last snapshot's usage, if one arrived.
    pub usage: Option<SwarmUsage>,
}

/// One meter per quota: used against the limit, with a bar.
#[function_component]
pub fn Quotas(props: &QuotasProps) -> Html {
    let Some(usage) = props.usage else {
        return html! { <p class="muted">{ "Waiting for the coordinator…" }</p> };
    };
    let meters = [
        ("quota-jobs", "Unfinished jobs", usage.jobs, format::count(usage.jobs.used), format::count(usage.jobs.limit)),
        (
            "quota-results",
            "Stored results",
            usage.result_bytes,
            format::bytes(usage.result_bytes.used),
            format::bytes(usage.result_bytes.limit),
        ),
        (
            "quota-devices",
            "Devices online",
            usage.devices,
            format::count(usage.devices.used),
            format::count(usage.devices.limit),
        ),
        (
            "quota-invites",
            "Unexpired invites",
            usage.invites,
            format::count(usage.invites.used),
            format::count(usage.invites.limit),
        ),
    ];
    html! {
        <div class="quota-grid">
            { for meters.into_iter().map(|(id, label, quota, used, limit)| meter(id, label, quota, used, limit)) }
        </div>
    }
}

fn meter(id: &'static str, label: &'static str, quota: Quota, used: String, limit: String) -> Html {
    let share = if quota.limit == 0 { 100.0 } else { (quota.used as f64 / quota.limit as f64 * 100.0).min(100.0) };
    let class = if share >= 90.0 { "bar state-failed" } else { "bar" };
    html! {
        <div class="quota" id={id}>
            <span class="stat-label">{ label }</span>
            <span class="quota-figure"><strong>{ used }</strong>{ " of " }{ limit }</span>
            <div class="progress"><div class={class} style={format!("width: {share:.1}%")}></div></div>
        </div>
    }
}
