//! The page's one [`Session`]: created on the first render, connected after it.

use std::rc::Rc;

use yew::prelude::*;

use crate::session::{Boot, Session};
use crate::state::State;

/// Creates the session once and starts it after the first render.
#[hook]
pub fn use_session(boot: Rc<Boot>, dispatch: UseReducerDispatcher<State>) -> Session {
    let session = use_memo((), move |()| Session::new(dispatch, (*boot).clone()));
    let started = session.clone();
    use_effect_with((), move |()| started.start());
    (*session).clone()
}

/// The session, from the context the app provides.
#[hook]
pub fn use_session_context() -> Session {
    use_context::<Session>().expect("the app provides the session")
}
