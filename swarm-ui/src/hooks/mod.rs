//! The app's hooks.

mod use_clock;
mod use_session;

pub use use_clock::use_clock;
pub use use_session::{use_session, use_session_context};
