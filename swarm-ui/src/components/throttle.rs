//! The swarm-wide throttle slider, 0-100 %, applied live: while dragging, the value is sent
//! once the slider rests for a moment; on release it is sent at once.

use gloo::timers::callback::Timeout;
use ostrich_protocol::MasterCommand;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::use_session_context;

/// How long the slider must rest before a value is sent while dragging.
const DEBOUNCE_MS: u32 = 150;

/// Properties of [`Throttle`].
#[derive(Properties, PartialEq)]
pub struct ThrottleProps {
    /// The swarm's throttle, as the coordinator last announced it.
    pub throttle: u8,
}

fn read(e: &Event) -> Option<u8> {
    e.target_unchecked_into::<HtmlInputElement>().value().parse::<u8>().ok().map(|v| v.min(100))
}

/// The slider.
#[function_component]
pub fn Throttle(props: &ThrottleProps) -> Html {
    let session = use_session_context();
    let value = use_state(|| props.throttle);
    let pending = use_mut_ref(|| None::<Timeout>);
    {
        let value = value.clone();
        use_effect_with(props.throttle, move |throttle| value.set(*throttle));
    }
    let oninput = {
        let (value, pending, session) = (value.clone(), pending.clone(), session.clone());
        Callback::from(move |e: InputEvent| {
            let Some(percent) = read(&e) else { return };
            value.set(percent);
            let session = session.clone();
            let send = move || {
                session.command(MasterCommand::SetThrottle { percent });
            };
            *pending.borrow_mut() = Some(Timeout::new(DEBOUNCE_MS, send));
        })
    };
    let onchange = {
        let (value, pending) = (value.clone(), pending.clone());
        Callback::from(move |e: Event| {
            let Some(percent) = read(&e) else { return };
            value.set(percent);
            pending.borrow_mut().take();
            session.command(MasterCommand::SetThrottle { percent });
        })
    };
    html! {
        <div class="throttle">
            <label for="throttle">{ "Throttle" }</label>
            <input id="throttle" type="range" min="0" max="100" step="1"
                value={value.to_string()} {oninput} {onchange}
                style={format!("--fill: {}%", *value)} />
            <span id="throttle-value" class="throttle-value">{ format!("{} %", *value) }</span>
        </div>
    }
}
