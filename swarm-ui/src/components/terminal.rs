//! The terminal: the last log lines from the coordinator and this page, newest at the
//! bottom, kept scrolled to the end unless the user scrolled up.

use ostrich_protocol::LogLevel;
use web_sys::Element;
use yew::prelude::*;

use crate::dom;
use crate::state::LogEntry;

/// Properties of [`Terminal`].
#[derive(Properties, PartialEq)]
pub struct TerminalProps {
    /// The lines, oldest first.
    pub log: Vec<LogEntry>,
}

/// The terminal.
#[function_component]
pub fn Terminal(props: &TerminalProps) -> Html {
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with(props.log.clone(), move |_| {
            if let Some(element) = node.cast::<Element>() {
                // f64 with `web_sys_unstable_apis` (the wasm build), i32 without (native):
                // `into` fits both, and is a no-op on one of them.
                #[allow(clippy::useless_conversion)]
                element.set_scroll_top(element.scroll_height().into());
            }
        });
    }
    let line = |entry: &LogEntry| {
        let level = match entry.level {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        html! {
            <div class={classes!("line", format!("level-{level}"))}>
                <span class="time">{ dom::clock_time(entry.at_ms) }</span>
                <span class="text">{ entry.message.clone() }</span>
            </div>
        }
    };
    html! {
        <div id="terminal" class="terminal" ref={node} role="log" aria-live="polite">
            if props.log.is_empty() {
                <div class="line muted">{ "Nothing logged yet: joins, jobs and commands appear here." }</div>
            }
            { for props.log.iter().map(line) }
        </div>
    }
}
