//! The jobs, newest first: progress bar, verified and failed counts, state, and Cancel,
//! Delete and Download; Mandelbrot jobs show their preview.

use std::collections::BTreeMap;

use ostrich_protocol::{JobId, JobKind, JobProgress, JobState, LogLevel, MasterCommand, RunState};
use yew::prelude::*;

use super::JobPreview;
use crate::dom;
use crate::format;
use crate::hooks::use_session_context;
use crate::state::Preview;

/// Properties of [`JobList`].
#[derive(Properties, PartialEq)]
pub struct JobListProps {
    /// The jobs, in submission order.
    pub jobs: Vec<JobProgress>,
    /// Mandelbrot previews by job.
    pub previews: BTreeMap<JobId, Preview>,
    /// The master key, for downloads.
    pub master_key: Option<String>,
    /// The swarm's run state, which the badge of an unfinished job follows.
    pub run_state: RunState,
}

/// The list.
#[function_component]
pub fn JobList(props: &JobListProps) -> Html {
    let session = use_session_context();
    let row = |job: &JobProgress| {
        let id = job.job_id;
        let (state, class) = format::job_state(&job.state, props.run_state);
        let running = job.state == JobState::Running;
        let done = job.state == JobState::Completed;
        let percent = format::percent(job.tasks_verified, job.tasks_total);
        let cancel = {
            let session = session.clone();
            Callback::from(move |_| {
                session.command(MasterCommand::CancelJob { job_id: id });
            })
        };
        let delete = {
            let session = session.clone();
            Callback::from(move |_| session.delete_job(id))
        };
        let (extension, kind) = match job.kind {
            JobKind::Matmul => ("npy", "matrix"),
            JobKind::Mandelbrot => ("png", "image"),
            JobKind::Wasm => ("bin", "results"),
        };
        let download = {
            let (session, key) = (session.clone(), props.master_key.clone().unwrap_or_default());
            Callback::from(move |_| {
                let (session, key) = (session.clone(), key.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let name = format!("ostrich-job-{id}.{extension}");
                    if let Err(error) = dom::download_result(id, &key, &name).await {
                        session.log(LogLevel::Error, error);
                    }
                });
            })
        };
        let checks = format::replication(job);
        let awaiting = format::awaiting(job);
        let failure = match &job.state {
            JobState::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        html! {
            <li key={id.to_string()} class="job" data-job-id={id.to_string()}>
                <div class="job-head">
                    <span class="job-label"><span class="muted">{ format!("#{id} ") }</span>{ job.label.clone() }</span>
                    <span class={classes!("pill", "job-state", class)}>{ state }</span>
                </div>
                <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                    aria-valuenow={format!("{percent:.0}")}>
                    <div class={classes!("bar", class)} style={format!("width: {percent:.1}%")} />
                </div>
                <div class="job-figures">
                    <span><span class="job-verified">{ format::count(u64::from(job.tasks_verified)) }</span>{ " / " }
                        <span class="job-total">{ format::count(u64::from(job.tasks_total)) }</span>{ " verified" }</span>
                    <span><span class="job-failed">{ format::count(u64::from(job.verification_failures)) }</span>{ " failed checks" }</span>
                    <span><span class="job-redispatched">{ format::count(u64::from(job.redispatched)) }</span>{ " redispatched" }</span>
                    <span>{ format!("{} in flight", format::count(u64::from(job.in_flight))) }</span>
                </div>
                if let Some(checks) = checks {
                    <p class="muted job-replication">{ checks }</p>
                }
                if let Some(awaiting) = awaiting {
                    <p class="notice job-awaiting">{ awaiting }</p>
                }
                if let Some(reason) = failure {
                    <p class="error job-reason">{ reason }</p>
                }
                if let Some(preview) = props.previews.get(&id) {
                    <JobPreview preview={preview.clone()} />
                }
                <div class="job-actions">
                    if done {
                        <button class="btn btn-small btn-primary job-download" onclick={download}
                            title={format!("Download the {kind} as .{extension}")}>
                            { format!("Download .{extension}") }
                        </button>
                    }
                    if running {
                        <button class="btn btn-small job-cancel" onclick={cancel}>{ "Cancel" }</button>
                    }
                    <button class="btn btn-small btn-ghost job-delete" onclick={delete}>{ "Delete" }</button>
                </div>
            </li>
        }
    };
    html! {
        <div class="job-list">
            if props.jobs.is_empty() {
                <p class="muted empty">{ "No jobs yet. Submit one: devices that joined start on it at once." }</p>
            }
            <ul id="jobs">{ for props.jobs.iter().rev().map(row) }</ul>
        </div>
    }
}
