//! The coordinator's HTTP API as the simulator's master uses it: submit a job, read its
//! progress, mint an invite, download a result, delete a job, upload a user kernel.

use std::{io::Read as _, time::Duration};

use anyhow::{Context, Result};
use ostrich_protocol::{Invite, JobId, JobProgress, JobSpec, ModuleHash};

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

    /// An authenticated request to `path` of the API.
    fn request(&self, method: &str, path: &str) -> ureq::Request {
        self.agent
            .request(method, &format!("{}/api{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.key))
    }

    /// Uploads a user kernel; answers the name the coordinator gave it.
    pub fn upload_module(&self, module: &[u8]) -> Result<ModuleHash> {
        let reply: serde_json::Value =
            self.request("POST", "/modules").send_bytes(module).context("uploading a module")?.into_json()?;
        reply["module"].as_str().and_then(ModuleHash::from_hex).context("the coordinator named no module")
    }

    /// Submits a job.
    pub fn submit(&self, spec: &JobSpec) -> Result<JobId> {
        let reply: Submitted =
            self.request("POST", "/jobs").send_json(spec).context("submitting a job")?.into_json()?;
        Ok(reply.job_id)
    }

    /// A job's progress.
    pub fn job(&self, job: JobId) -> Result<JobProgress> {
        Ok(self.request("GET", &format!("/jobs/{job}")).call().context("reading a job's progress")?.into_json()?)
    }

    /// Deletes a job and its result.
    pub fn delete(&self, job: JobId) -> Result<()> {
        self.request("DELETE", &format!("/jobs/{job}")).call().context("deleting a job")?;
        Ok(())
    }

    /// Mints an invite code.
    pub fn invite(&self) -> Result<Invite> {
        Ok(self.request("POST", "/invites").call().context("minting an invite")?.into_json()?)
    }

    /// A completed job's result file.
    pub fn result(&self, job: JobId) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        let response = self.request("GET", &format!("/jobs/{job}/result")).call().context("downloading a result")?;
        response.into_reader().read_to_end(&mut body)?;
        Ok(body)
    }
}
