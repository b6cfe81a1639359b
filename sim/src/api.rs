//! The coordinator's HTTP API as the simulator's master uses it: submit a job, read its
//! progress, mint an invite, download a result.

use std::time::Duration;

use anyhow::{Context, Result};
use ostrich_protocol::{Invite, JobId, JobProgress, JobSpec};

/// A master's view of the HTTP API, authenticated by its master key.
#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    agent: ureq::Agent,
}

#[derive(serde::Deserialize)]
struct Submitted {
    job_id: JobId,
}

impl Api {
    /// The API of the coordinator at `base` (`http://host:port`), as the holder of `key`.
    pub fn new(base: &str, key: &str) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        Self { base: base.to_string(), key: key.to_string(), agent }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// Submits a job.
    pub fn submit(&self, spec: &JobSpec) -> Result<JobId> {
        let reply: Submitted = self
            .agent
            .post(&format!("{}/api/jobs", self.base))
            .set("Authorization", &self.auth())
            .send_json(spec)
            .context("submitting a job")?
            .into_json()?;
        Ok(reply.job_id)
    }

    /// A job's progress.
    pub fn job(&self, job: JobId) -> Result<JobProgress> {
        let progress = self
            .agent
            .get(&format!("{}/api/jobs/{job}", self.base))
            .set("Authorization", &self.auth())
            .call()
            .context("reading a job's progress")?
            .into_json()?;
        Ok(progress)
    }

    /// Mints an invite code.
    pub fn invite(&self) -> Result<Invite> {
        let invite = self
            .agent
            .post(&format!("{}/api/invites", self.base))
            .set("Authorization", &self.auth())
            .call()
            .context("minting an invite")?
            .into_json()?;
        Ok(invite)
    }

    /// A completed job's result file.
    pub fn result(&self, job: JobId) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        self.agent
            .get(&format!("{}/api/jobs/{job}/result", self.base))
            .set("Authorization", &self.auth())
            .call()
            .context("downloading a result")?
            .into_reader()
            .read_to_end(&mut body)?;
        Ok(body)
    }
}

use std::io::Read as _;
