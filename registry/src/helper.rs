//! The `docker-credential-*` helper protocol, as Docker's
//! `docker-credential-helpers` client speaks it: `get` and `erase` take
//! the server URL on stdin, `store` takes `{"ServerURL","Username",
//! "Secret"}` JSON on stdin; `get` answers with the same JSON on stdout.
//!
//! Secrets only ever travel through the helper's stdin and stdout: never
//! its command line or environment, and never into an error message.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What a helper prints when it has nothing for the server (Docker's
/// `errCredentialsNotFoundMessage`): anonymous access, not a failure.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// How long a helper may take; some ask a keychain or a cloud CLI first.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Helper messages are cut to this many characters in errors.
const OUTPUT_LIMIT: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(
        "credential helper docker-credential-{helper} ({action} for {registry}): not found on PATH"
    )]
    NotOnPath {
        helper: String,
        action: &'static str,
        registry: String,
    },
    #[error("credential helper docker-credential-{helper} ({action} for {registry}): cannot run: {source}")]
    Spawn {
        helper: String,
        action: &'static str,
        registry: String,
        source: std::io::Error,
    },
    #[error("credential helper docker-credential-{helper} ({action} for {registry}): {status}{}", output_suffix(.output))]
    Failed {
        helper: String,
        action: &'static str,
        registry: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("credential helper docker-credential-{helper} ({action} for {registry}): no answer within {} s", .timeout.as_secs())]
    Timeout {
        helper: String,
        action: &'static str,
        registry: String,
        timeout: Duration,
    },
    #[error("credential helper docker-credential-{helper} (get for {registry}): answer is not {{\"Username\",\"Secret\"}} JSON: {source}")]
    BadAnswer {
        helper: String,
        registry: String,
        source: serde_json::Error,
    },
}

fn output_suffix(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

/// A helper's answer to `get`.
#[derive(serde::Deserialize)]
pub(crate) struct Answer {
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Secret")]
    pub secret: String,
}

#[derive(serde::Serialize)]
struct StoreRequest<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// One configured helper (`docker-credential-<name>`), for one registry.
#[derive(Debug, Clone)]
pub(crate) struct Helper {
    pub name: String,
    /// Where to find the program instead of `$PATH` (tests).
    pub dir: Option<PathBuf>,
    pub timeout: Duration,
}

impl Helper {
    /// `get`: `None` when the helper has nothing for `server_url`.
    pub(crate) async fn get(
        &self,
        registry: &str,
        server_url: &str,
    ) -> Result<Option<Answer>, HelperError> {
        let out = match self.run("get", registry, server_url.as_bytes()).await {
            Err(HelperError::Failed { output, .. }) if output == NOT_FOUND => return Ok(None),
            r => r?,
        };
        let answer: Answer =
            serde_json::from_slice(&out).map_err(|source| HelperError::BadAnswer {
                helper: self.name.clone(),
                registry: registry.to_string(),
                source,
            })?;
        // Some helpers answer "not found" with an empty success.
        Ok(Some(answer).filter(|a| !a.username.is_empty() || !a.secret.is_empty()))
    }

    pub(crate) async fn store(
        &self,
        registry: &str,
        server_url: &str,
        username: &str,
        secret: &str,
    ) -> Result<(), HelperError> {
        let request = StoreRequest {
            server_url,
            username,
            secret,
        };
        // Serialising three strings cannot fail.
        let json = serde_json::to_vec(&request).unwrap_or_default();
        self.run("store", registry, &json).await.map(drop)
    }

    pub(crate) async fn erase(&self, registry: &str, server_url: &str) -> Result<(), HelperError> {
        match self.run("erase", registry, server_url.as_bytes()).await {
            Err(HelperError::Failed { output, .. }) if output == NOT_FOUND => Ok(()),
            r => r.map(drop),
        }
    }

    /// Runs `docker-credential-<name> <action>` with `input` on stdin and
    /// returns its stdout; killed if it outlives the timeout.
    async fn run(
        &self,
        action: &'static str,
        registry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, HelperError> {
        let program = format!("docker-credential-{}", self.name);
        let program = match &self.dir {
            Some(d) => d.join(program),
            None => PathBuf::from(program),
        };
        let mut child = tokio::process::Command::new(program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| self.spawn_error(action, registry, source))?;
        let stdin = child.stdin.take();
        let talk = async move {
            if let Some(mut stdin) = stdin {
                // A helper that exits without reading is judged by its status.
                let _ = stdin.write_all(input).await;
            }
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.timeout, talk)
            .await
            .map_err(|_| HelperError::Timeout {
                helper: self.name.clone(),
                action,
                registry: registry.to_string(),
                timeout: self.timeout,
            })?
            .map_err(|source| self.spawn_error(action, registry, source))?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        // Helpers print their error on stdout (Docker reads it there), some
        // on stderr; on failure neither holds a secret.
        let said = [&output.stdout, &output.stderr]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        Err(HelperError::Failed {
            helper: self.name.clone(),
            action,
            registry: registry.to_string(),
            status: output.status,
            output: said.chars().take(OUTPUT_LIMIT).collect(),
        })
    }

    fn spawn_error(&self, action: &'static str, registry: &str, e: std::io::Error) -> HelperError {
        if e.kind() == std::io::ErrorKind::NotFound {
            return HelperError::NotOnPath {
                helper: self.name.clone(),
                action,
                registry: registry.to_string(),
            };
        }
        HelperError::Spawn {
            helper: self.name.clone(),
            action,
            registry: registry.to_string(),
            source: e,
        }
    }
}
