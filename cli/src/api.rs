//! The coordinator's HTTP API as the CLI uses it: every call carries the master key, and
//! an error answer becomes an error naming the status and the coordinator's message.

use std::{io::Read, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result, anyhow};
use ostrich_protocol::{JobId, JobProgress, JobSpec, ModuleHash};
use serde_json::Value;

/// A client of one coordinator, for one swarm.
pub struct Api {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Api {
    /// A client of the coordinator at `base` (http(s)://host:port) with a master key,
    /// trusting `ca_cert` besides the public roots.
    pub fn new(base: &str, key: &str, ca_cert: Option<&Path>) -> Result<Self> {
        let tls = ostrich_worker::socket::tls_config(ca_cert).map_err(|e| anyhow!(e))?;
        let agent =
            ureq::AgentBuilder::new().tls_config(Arc::clone(&tls)).timeout_connect(Duration::from_secs(10)).build();
        Ok(Self { agent, base: base.trim_end_matches('/').to_string(), auth: format!("Bearer {key}") })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn call(&self, request: Result<ureq::Response, ureq::Error>, what: &str) -> Result<ureq::Response> {
        match request {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => {
                let body: Value = response.into_json().unwrap_or_default();
                let message = body["error"].as_str().unwrap_or("no detail").to_string();
                Err(anyhow!("{what}: the coordinator answered {status}: {message}"))
            }
            Err(error) => Err(anyhow!("{what}: {error}")),
        }
    }

    /// Uploads a module; answers its name.
    pub fn upload_module(&self, module: &[u8]) -> Result<ModuleHash> {
        let request = self.agent.post(&self.url("/api/modules")).set("Authorization", &self.auth).send_bytes(module);
        let body: Value = self.call(request, "uploading the module")?.into_json()?;
        body["module"].as_str().and_then(ModuleHash::from_hex).context("the coordinator named no module")
    }

    /// Submits a job; answers its id.
    pub fn submit(&self, spec: &JobSpec) -> Result<JobId> {
        let request = self
            .agent
            .post(&self.url("/api/jobs"))
            .set("Authorization", &self.auth)
            .send_json(serde_json::to_value(spec)?);
        let body: Value = self.call(request, "submitting the job")?.into_json()?;
        body["job_id"].as_u64().context("the coordinator answered no job id")
    }

    /// Appends records (in the upload format) to an open job, closing it with the last.
    pub fn append(&self, job: JobId, body: &[u8], close: bool) -> Result<()> {
        let path = format!("/api/jobs/{job}/records?close={close}");
        let request = self.agent.post(&self.url(&path)).set("Authorization", &self.auth).send_bytes(body);
        self.call(request, "uploading records").map(drop)
    }

    /// A job's progress.
    pub fn progress(&self, job: JobId) -> Result<JobProgress> {
        let request = self.agent.get(&self.url(&format!("/api/jobs/{job}"))).set("Authorization", &self.auth).call();
        Ok(self.call(request, "asking for the job's progress")?.into_json()?)
    }

    /// A completed job's result file.
    pub fn result(&self, job: JobId) -> Result<Vec<u8>> {
        let request =
            self.agent.get(&self.url(&format!("/api/jobs/{job}/result"))).set("Authorization", &self.auth).call();
        let mut bytes = Vec::new();
        self.call(request, "downloading the result")?.into_reader().read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}
