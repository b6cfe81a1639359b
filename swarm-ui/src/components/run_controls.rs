//! Start, Pause and Stop, with a confirmation step before Stop, and the run state.

use ostrich_protocol::{MasterCommand, RunState};
use yew::prelude::*;

use crate::format;
use crate::hooks::use_session_context;

/// Properties of [`RunControls`].
#[derive(Properties, PartialEq)]
pub struct RunControlsProps {
    /// The swarm's run state.
    pub run_state: RunState,
}

/// The run buttons.
#[function_component]
pub fn RunControls(props: &RunControlsProps) -> Html {
    let session = use_session_context();
    let confirming = use_state(|| false);
    let set = |state: RunState| {
        let (session, confirming) = (session.clone(), confirming.clone());
        Callback::from(move |_| {
            confirming.set(false);
            session.command(MasterCommand::SetRunState { state });
        })
    };
    let ask_stop = {
        let confirming = confirming.clone();
        Callback::from(move |_| confirming.set(true))
    };
    let keep = {
        let confirming = confirming.clone();
        Callback::from(move |_| confirming.set(false))
    };
    let (label, class) = format::run_state(props.run_state);
    let pressed = |state: RunState| if props.run_state == state { "true" } else { "false" };
    html! {
        <div class="run-controls">
            <div class="run-state-line">
                <span class="muted">{ "Run state" }</span>
                <span id="run-state" class={classes!("pill", class)}>{ label }</span>
            </div>
            <div class="btn-row">
                <button id="run-start" class="btn btn-go" aria-pressed={pressed(RunState::Running)}
                    onclick={set(RunState::Running)}>{ "▶ Start" }</button>
                <button id="run-pause" class="btn btn-warn" aria-pressed={pressed(RunState::Paused)}
                    onclick={set(RunState::Paused)}>{ "❚❚ Pause" }</button>
                <button id="run-stop" class="btn btn-danger" aria-pressed={pressed(RunState::Stopped)}
                    onclick={ask_stop}>{ "■ Stop" }</button>
            </div>
            if *confirming {
                <div class="confirm" role="alertdialog" aria-label="Confirm stop">
                    <p>{ "Stop cancels every task in flight on every device; they go back to the queue." }</p>
                    <div class="btn-row">
                        <button id="confirm-stop" class="btn btn-danger" onclick={set(RunState::Stopped)}>
                            { "Stop the swarm" }
                        </button>
                        <button id="cancel-stop" class="btn" onclick={keep}>{ "Keep going" }</button>
                    </div>
                </div>
            }
        </div>
    }
}
