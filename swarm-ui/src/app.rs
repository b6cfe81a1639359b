//! The root component: reads the URL and the stored identity once, holds the one state,
//! starts the session and shows the page the state asks for.

use std::collections::BTreeSet;
use std::rc::Rc;

use ostrich_protocol::{JobId, MasterCommand};
use yew::prelude::*;

use crate::components::{Dashboard, JoinPage, Landing, WorkerView};
use crate::compute::KernelPreference;
use crate::dom;
use crate::hooks::use_session;
use crate::identity::{Identity, platform};
use crate::route::{self, Plan};
use crate::session::{Boot, Session};
use crate::state::{Connection, Page, State};

/// Everything read at page load.
#[derive(Debug, Clone)]
pub struct Startup {
    /// What the session needs.
    pub boot: Boot,
    /// The master key stored, for the API key panel before the welcome.
    pub master_key: Option<String>,
    /// The kernel path the user asked for.
    pub kernel_preference: KernelPreference,
    /// The master's "Compute here" switch.
    pub compute_here: bool,
    /// The "Keep the screen on" switch.
    pub wake_lock: bool,
}

impl Startup {
    /// Reads the URL, the navigator and localStorage (a `?kernel=` parameter is kept there).
    pub fn read() -> Self {
        let identity = Identity::local();
        let (path, search) = dom::location();
        let (route, kernel) = route::parse(&path, &search);
        if let Some(kernel) = kernel {
            identity.set_kernel_preference(KernelPreference::parse(&kernel));
        }
        let master_key = identity.master_key();
        let resume = identity.resume();
        let plan = route::plan(&route, identity.role(), resume.as_ref(), master_key.clone());
        let user_agent = dom::user_agent();
        let kernel_preference = identity.kernel_preference();
        let (compute_here, wake_lock) = (identity.compute_here(), identity.wake_lock());
        Self {
            boot: Boot {
                plan,
                device_id: identity.device_id(),
                name: identity.device_name(&user_agent),
                platform: platform(&user_agent),
                cores: dom::logical_cores(),
                memory_mb: dom::memory_mb(),
                kernel_preference,
                compute_here,
            },
            master_key,
            kernel_preference,
            compute_here,
            wake_lock,
        }
    }

    /// The state at load.
    pub fn initial_state(&self) -> State {
        let page = match self.boot.plan {
            Plan::Master { .. } => Page::Dashboard,
            Plan::Worker { .. } => Page::Worker,
            Plan::AskForCode => Page::Join,
            Plan::Landing => Page::Landing,
        };
        let mut state = State::new(page, self.boot.device_id, self.boot.name.clone(), self.master_key.clone());
        state.worker.kernel_preference = self.kernel_preference;
        state.worker.compute_here = self.compute_here;
        state.worker.wake_lock.wanted = self.wake_lock;
        if let Plan::Worker { token: Some(token), .. } = &self.boot.plan {
            state.join_code.clone_from(token);
        }
        state
    }
}

/// The app.
#[function_component]
pub fn App() -> Html {
    let startup = use_memo((), |()| Startup::read());
    let state = use_reducer({
        let startup = startup.clone();
        move || startup.initial_state()
    });
    let session: Session = use_session(Rc::new(startup.boot.clone()), state.dispatcher());
    // Each preview asks once per welcome for the tiles verified before this page saw them
    // (a reload, or a reconnection that missed some); later tiles arrive on their own.
    let asked = use_mut_ref(BTreeSet::<JobId>::new);
    let previews: Vec<JobId> = state.previews.keys().copied().collect();
    let welcomed = state.page == Page::Dashboard && state.connection == Connection::Connected;
    use_effect_with((previews, welcomed), {
        let session = session.clone();
        move |(previews, welcomed)| {
            let mut asked = asked.borrow_mut();
            if !*welcomed {
                asked.clear();
                return;
            }
            for &job_id in previews {
                if asked.insert(job_id) {
                    session.command(MasterCommand::SendPreview { job_id });
                }
            }
        }
    });
    let page = match state.page {
        Page::Dashboard => html! { <Dashboard state={state.clone()} /> },
        Page::Worker => html! { <WorkerView state={state.clone()} /> },
        Page::Join => html! { <JoinPage state={state.clone()} /> },
        Page::Landing => html! { <Landing /> },
    };
    html! {
        <ContextProvider<Session> context={session}>
            { page }
        </ContextProvider<Session>>
    }
}
