//! The device table: one row per device of the swarm, the viewer's own marked "you", each
//! other device with an enable toggle.

use ostrich_protocol::{DeviceId, DeviceRow, DeviceStatus, MasterCommand, Role};
use yew::prelude::*;

use crate::format;
use crate::hooks::use_session_context;

/// Properties of [`DeviceTable`].
#[derive(Properties, PartialEq)]
pub struct DeviceTableProps {
    /// The rows from the last snapshot.
    pub devices: Vec<DeviceRow>,
    /// This page's device id.
    pub own_id: DeviceId,
}

/// The table.
#[function_component]
pub fn DeviceTable(props: &DeviceTableProps) -> Html {
    let session = use_session_context();
    let row = |device: &DeviceRow| {
        let own = device.device_id == props.own_id;
        let (status, class) = format::device_status(&device.stats.status);
        let (label, enable) = match device.stats.status {
            DeviceStatus::Disabled => ("Enable", true),
            DeviceStatus::Quarantined { .. } => ("Re-enable", true),
            _ => ("Disable", false),
        };
        let toggle = {
            let (session, device_id) = (session.clone(), device.device_id);
            Callback::from(move |_| {
                session.command(MasterCommand::SetDeviceEnabled { device_id, enabled: enable });
            })
        };
        html! {
            <tr key={device.device_id.to_string()} data-device-id={device.device_id.to_string()}
                class={classes!(own.then_some("own"))}>
                <td class="name">
                    <span class="device-name-cell">{ device.name.clone() }</span>
                    if own { <span class="tag tag-you">{ "you" }</span> }
                    if device.role == Role::Master { <span class="tag">{ "master" }</span> }
                </td>
                <td class="platform">{ device.platform.clone() }</td>
                <td class="num">{ device.cores }</td>
                <td class="gpu">{ device.gpu.clone().unwrap_or_else(|| "—".into()) }</td>
                <td class="num">{ format::ops_score(device.ops_score) }</td>
                <td class="num">{ device.stats.tasks_done }</td>
                <td class="num">{ format!("{} /s", format::rate(device.stats.tasks_per_sec)) }</td>
                <td><span class={classes!("device-status", class)}>{ status }</span></td>
                <td class="actions">
                    if !own {
                        <button class={classes!("btn", "btn-small", "enable-toggle", enable.then_some("btn-go"))}
                            onclick={toggle}>{ label }</button>
                    }
                </td>
            </tr>
        }
    };
    // This device first, then by name: a stable order that does not jump as statuses change.
    let mut rows: Vec<&DeviceRow> = props.devices.iter().collect();
    rows.sort_by_key(|d| (d.device_id != props.own_id, d.name.to_lowercase(), d.device_id));
    html! {
        <div class="table-wrap">
            <table id="device-table">
                <thead>
                    <tr>
                        <th>{ "Name" }</th><th>{ "Platform" }</th><th class="num">{ "Cores" }</th>
                        <th>{ "GPU" }</th><th class="num">{ "Benchmark" }</th><th class="num">{ "Tasks done" }</th>
                        <th class="num">{ "Rate" }</th><th>{ "Status" }</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    { for rows.into_iter().map(row) }
                    if props.devices.is_empty() {
                        <tr class="empty"><td colspan="9">{ "No devices yet: invite some." }</td></tr>
                    }
                </tbody>
            </table>
        </div>
    }
}
