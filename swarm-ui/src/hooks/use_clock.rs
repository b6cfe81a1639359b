//! A clock that ticks every second, for countdowns.

use gloo::timers::callback::Interval;
use yew::prelude::*;

use crate::dom;

/// `Date.now()`, refreshed every second while the component is mounted.
#[hook]
pub fn use_clock() -> f64 {
    let now = use_state(dom::now_ms);
    {
        let now = now.clone();
        use_effect_with((), move |()| {
            let interval = Interval::new(1_000, move || now.set(dom::now_ms()));
            move || drop(interval)
        });
    }
    *now
}
