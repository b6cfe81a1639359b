//! The device table: one row per device of the swarm, the viewer's own marked "you". Each
//! row shows the device's threads, where it runs matrix products and what each of its kernel
//! paths measured. An online device can be disabled (or re-enabled); an offline one can be
//! forgotten, after a confirmation. Below 900 px wide each row is a card (see `style.css`),
//! so nothing is cut off on a tablet or a phone.

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

/// What a row's action button does.
enum RowAction {
    /// Enable or disable (re-enable a quarantined device).
    Toggle { label: &'static str, enable: bool },
    /// Forget the offline device.
    Forget,
    /// Nothing: the viewer's own row.
    None,
}

fn row_action(device: &DeviceRow, own: bool) -> RowAction {
    match &device.stats.status {
        _ if own => RowAction::None,
        DeviceStatus::Offline => RowAction::Forget,
        DeviceStatus::Disabled => RowAction::Toggle { label: "Enable", enable: true },
        DeviceStatus::Quarantined { .. } => RowAction::Toggle { label: "Re-enable", enable: true },
        DeviceStatus::Online => RowAction::Toggle { label: "Disable", enable: false },
    }
}

/// The table.
#[function_component]
pub fn DeviceTable(props: &DeviceTableProps) -> Html {
    let session = use_session_context();
    let confirming = use_state(|| None::<DeviceId>);
    let row = |device: &DeviceRow| {
        let own = device.device_id == props.own_id;
        let device_id = device.device_id;
        let (status, class) = format::device_status(&device.stats.status);
        let action = match row_action(device, own) {
            RowAction::None => html! {},
            RowAction::Toggle { label, enable } => {
                let session = session.clone();
                let toggle = Callback::from(move |_| {
                    session.command(MasterCommand::SetDeviceEnabled { device_id, enabled: enable });
                });
                html! {
                    <button class={classes!("btn", "btn-small", "enable-toggle", enable.then_some("btn-go"))}
                        onclick={toggle}>{ label }</button>
                }
            }
            RowAction::Forget if *confirming == Some(device_id) => {
                let (session, confirming_yes, confirming_no) =
                    (session.clone(), confirming.clone(), confirming.clone());
                let forget = Callback::from(move |_| {
                    session.command(MasterCommand::ForgetDevice { device_id });
                    confirming_yes.set(None);
                });
                html! {
                    <span class="forget-confirm">
                        <button class="btn btn-small btn-danger confirm-forget" onclick={forget}>{ "Forget" }</button>
                        <button class="btn btn-small cancel-forget" onclick={move |_| confirming_no.set(None)}>
                            { "Keep" }</button>
                    </span>
                }
            }
            RowAction::Forget => {
                let confirming = confirming.clone();
                html! {
                    <button class="btn btn-small btn-ghost forget" title="Remove this offline device; it needs a new invite to come back"
                        onclick={move |_| confirming.set(Some(device_id))}>{ "Forget…" }</button>
                }
            }
        };
        let (kernel, figures) = match &device.kernels {
            Some(report) => (format::kernel_in_use(report), format::kernel_figures(report)),
            None if device.stats.status == DeviceStatus::Offline => ("—".to_owned(), String::new()),
            None => ("measuring…".to_owned(), String::new()),
        };
        let threads = device.kernels.as_ref().map_or_else(|| "—".to_owned(), |k| k.threads.to_string());
        let adapter = device.kernels.as_ref().and_then(|k| k.gpu.as_ref()).map(|g| g.info.description.clone());
        html! {
            <tr key={device_id.to_string()} data-device-id={device_id.to_string()}
                class={classes!(own.then_some("own"))}>
                <td class="name" data-label="Name">
                    <span class="cell">
                        <span class="device-name-cell">{ device.name.clone() }</span>
                        if own { <span class="tag tag-you">{ "you" }</span> }
                        if device.role == Role::Master { <span class="tag">{ "master" }</span> }
                    </span>
                </td>
                <td class="platform" data-label="Platform"><span class="cell">{ device.platform.clone() }</span></td>
                <td class="num threads" data-label="Threads" title={format!("{} logical cores", device.cores)}>
                    <span class="cell">{ threads }<span class="muted">{ format!(" / {}", device.cores) }</span></span>
                </td>
                <td class="kernel" data-label="Kernel" title={adapter.unwrap_or_default()}>
                    <span class="cell">
                        <span class="kernel-in-use">{ kernel }</span>
                        if !figures.is_empty() { <span class="kernel-figures muted">{ figures }</span> }
                    </span>
                </td>
                <td class="num" data-label="Tasks done"><span class="cell">{ format::count(device.stats.tasks_done) }</span></td>
                <td class="num" data-label="Rate">
                    <span class="cell">{ format!("{} /s", format::rate(device.stats.tasks_per_sec)) }</span>
                </td>
                <td data-label="Status"><span class={classes!("cell", "device-status", class)}>{ status }</span></td>
                <td class="actions">{ action }</td>
            </tr>
        }
    };
    // This device first, then by name: a stable order that does not jump as statuses change.
    let mut rows: Vec<&DeviceRow> = props.devices.iter().collect();
    rows.sort_by_key(|d| (d.device_id != props.own_id, d.name.to_lowercase(), d.device_id));
    html! {
        <div class="table-wrap">
            <table id="device-table" class="device-table">
                <thead>
                    <tr>
                        <th>{ "Name" }</th><th>{ "Platform" }</th><th class="num">{ "Threads / cores" }</th>
                        <th>{ "Kernel (matrix products)" }</th><th class="num">{ "Tasks done" }</th>
                        <th class="num">{ "Rate" }</th><th>{ "Status" }</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    { for rows.into_iter().map(row) }
                    if props.devices.is_empty() {
                        <tr class="empty"><td colspan="8">{ "No devices yet: invite some." }</td></tr>
                    }
                </tbody>
            </table>
        </div>
    }
}
