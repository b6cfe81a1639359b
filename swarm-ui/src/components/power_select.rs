//! A choice of power policy: the master's for the swarm, or a device's own (which may follow
//! the swarm's).

use ostrich_protocol::PowerPolicy;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::power::PolicyChoice;

/// Properties of [`PowerSelect`].
#[derive(Properties, PartialEq)]
pub struct PowerSelectProps {
    /// The element id.
    pub id: AttrValue,
    /// The choice in force.
    pub value: PolicyChoice,
    /// The swarm's policy, named by "follow the swarm".
    pub swarm: PowerPolicy,
    /// Offer "follow the swarm" (a device's own choice).
    pub with_swarm: bool,
    /// Called with the new choice.
    pub on_change: Callback<PolicyChoice>,
}

/// The select.
#[function_component]
pub fn PowerSelect(props: &PowerSelectProps) -> Html {
    let onchange = {
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            if let Some(choice) = PolicyChoice::parse(&e.target_unchecked_into::<HtmlSelectElement>().value()) {
                on_change.emit(choice);
            }
        })
    };
    let choices = PolicyChoice::ALL.into_iter().filter(|c| props.with_swarm || *c != PolicyChoice::Swarm);
    html! {
        <select id={props.id.clone()} class="power-select" {onchange}>
            { for choices.map(|choice| html! {
                <option value={choice.value()} selected={choice == props.value}>{ choice.label(props.swarm) }</option>
            }) }
        </select>
    }
}
