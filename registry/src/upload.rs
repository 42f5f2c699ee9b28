//! Requests that write to a registry: authenticated like reads (one
//! challenge answered per request, tokens cached per scope), retried with
//! backoff on 5xx and broken connections, never followed to another origin
//! with credentials. Used by [`super::push`].

use super::auth::same_origin;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::reference::Reference;
use super::retry::{backoff, ATTEMPTS};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use std::sync::Arc;

/// Told how many bytes of a request body have gone to the connection.
pub(crate) type OnSent = Arc<dyn Fn(u64) + Send + Sync>;

/// Body pieces handed to the connection one at a time, so [`OnSent`]
/// hears about a big PUT while it is under way rather than once at the end.
const SEND_PIECE: usize = 64 << 10;

/// One request, rebuilt for each attempt (bodies are cheap `Bytes` clones).
#[derive(Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<bytes::Bytes>,
    /// When set, the body is streamed and each piece reported (a retry
    /// reports from 0 again).
    pub on_sent: Option<OnSent>,
}

impl Call {
    pub fn new(method: Method, url: Url) -> Call {
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            on_sent: None,
        }
    }

    /// The body for one attempt: whole, or streamed in reported pieces
    /// with an explicit length so the registry never sees chunked encoding.
    fn request_body(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let Some(body) = self.body.clone() else {
            return req;
        };
        let Some(on_sent) = self.on_sent.clone() else {
            return req.body(body);
        };
        let len = body.len();
        let pieces = (0..len).step_by(SEND_PIECE).map(move |start| {
            let end = (start + SEND_PIECE).min(len);
            on_sent(end as u64);
            Ok::<_, std::io::Error>(body.slice(start..end))
        });
        let req = match self.headers.contains_key(CONTENT_LENGTH) {
            true => req,
            false => req.header(CONTENT_LENGTH, HeaderValue::from(len)),
        };
        req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
    }
}

/// Whether a failed attempt is worth repeating.
fn transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

impl RegistryClient {
    /// Sends `call` with push rights on `r`'s repository; returns the first
    /// non-transient response (any status, for the caller to judge).
    pub(crate) async fn write(&self, r: &Reference, call: Call) -> Result<Response, RegistryError> {
        let mut last_err = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            match self.write_once(r, call.clone()).await {
                Ok(resp) if transient(resp.status()) && attempt + 1 < ATTEMPTS => {
                    last_err = Some(push_status(&call, resp).await);
                }
                Ok(resp) => return Ok(resp),
                Err(e @ RegistryError::PushRequest { .. }) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    async fn write_once(&self, r: &Reference, call: Call) -> Result<Response, RegistryError> {
        let base = self.base_url(r)?;
        let scope = format!("repository:{}:pull,push", r.repository);
        let mut auth = self
            .tokens
            .get(&r.registry, &scope)
            .map(|t| format!("Bearer {t}"));
        let mut answered = false;
        loop {
            let mut req = self
                .http
                .request(call.method.clone(), call.url.clone())
                .headers(call.headers.clone());
            // Upload URLs come from Location headers: credentials go only
            // to the registry's own origin.
            if let Some(a) = auth.as_deref().filter(|_| same_origin(&call.url, &base)) {
                req = req.header(AUTHORIZATION, a);
            }
            req = call.request_body(req);
            let resp = req
                .send()
                .await
                .map_err(|source| RegistryError::PushRequest {
                    method: call.method.to_string(),
                    url: call.url.to_string(),
                    source,
                })?;
            if resp.status() == StatusCode::UNAUTHORIZED && !answered {
                answered = true;
                auth = Some(
                    self.answer_challenge(r, &call.url, &base, &scope, &resp)
                        .await?,
                );
                continue;
            }
            return Ok(resp);
        }
    }

    /// `/v2/<repo>/<rest>` on `r`'s registry.
    pub(crate) fn repo_url(&self, r: &Reference, rest: &str) -> Result<Url, RegistryError> {
        let base = self.base_url(r)?;
        let path = format!("{}/{rest}", r.repository);
        base.join(&path).map_err(|_| RegistryError::BadUrl {
            url: format!("{base}{path}"),
        })
    }
}

/// The upload URL a 202 names, resolved against the request URL.
pub(crate) fn location(call: &Call, resp: &Response) -> Result<Url, RegistryError> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("");
    call.url.join(loc).map_err(|_| RegistryError::BadRedirect {
        url: call.url.to_string(),
        location: loc.to_string(),
    })
}

/// Turns an unexpected response into an error naming the method and URL.
pub(crate) async fn push_status(call: &Call, resp: Response) -> RegistryError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(300).collect();
    RegistryError::PushStatus {
        method: call.method.to_string(),
        url: call.url.to_string(),
        status,
        body,
    }
}
