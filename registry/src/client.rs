//! The HTTP side of the OCI distribution API: picks HTTP or HTTPS per
//! registry, answers auth challenges, follows redirects without leaking
//! credentials to other hosts, and reads bounded, digest-verified bodies.

use super::auth::{
    fetch_token, fetch_token_refresh, may_send_credentials, same_origin, AuthError, Challenge,
    TokenCache,
};
use super::credentials::{Credential, DockerAuths};
use super::error::RegistryError;
use super::reference::{host_is_loopback, host_without_port, Reference, DOCKER_HUB};
use mybuild_graph::Digest;
use reqwest::header::{ACCEPT, AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MAX_REDIRECTS: usize = 10;
const ERROR_BODY_LIMIT: usize = 300;

/// A registry client. Clones share the connection pool, credentials, token
/// cache and in-flight layer locks.
#[derive(Clone)]
pub struct RegistryClient {
    pub(crate) http: reqwest::Client,
    insecure: Arc<Vec<String>>,
    /// Registry host -> mirror base URLs, tried in order before it.
    mirrors: Arc<BTreeMap<String, Vec<String>>>,
    auths: Arc<DockerAuths>,
    pub(crate) tokens: Arc<TokenCache>,
    layer_locks: Arc<Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>>,
    layer_downloads: Arc<AtomicU64>,
}

impl RegistryClient {
    /// `insecure_registries` (`host` or `host:port`) are spoken to over plain
    /// HTTP, as are loopback registries; everything else uses HTTPS.
    pub fn new(insecure_registries: Vec<String>) -> Result<Self, RegistryError> {
        let auths =
            DockerAuths::load_default().map_err(|e| RegistryError::Credentials(Arc::new(e)))?;
        Self::with_auths(insecure_registries, auths)
    }

    pub(crate) fn with_auths(
        insecure: Vec<String>,
        auths: DockerAuths,
    ) -> Result<Self, RegistryError> {
        // No overall timeout (a big layer takes as long as it takes), but a
        // registry that stops answering is given up on, then retried.
        let stall = super::error::stall_timeout();
        let http = reqwest::Client::builder()
            .connect_timeout(stall)
            .read_timeout(stall)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mybuild/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(RegistryError::Client)?;
        Ok(RegistryClient {
            http,
            insecure: Arc::new(insecure),
            mirrors: Arc::default(),
            auths: Arc::new(auths),
            tokens: Arc::default(),
            layer_locks: Arc::default(),
            layer_downloads: Arc::default(),
        })
    }

    /// Pulls from a registry named in `mirrors` (`docker.io`, `host:port`)
    /// ask its mirrors (base URLs, `http://host:port`) first, in order, and
    /// the registry itself when none has what is asked for, as dockerd
    /// does. Mirrors are asked anonymously; pushes never go to them.
    pub fn with_mirrors(mut self, mirrors: BTreeMap<String, Vec<String>>) -> Self {
        self.mirrors = Arc::new(mirrors);
        self
    }

    /// How many layer blobs this client (and its clones) has downloaded.
    pub fn layer_downloads(&self) -> u64 {
        self.layer_downloads.load(Ordering::Relaxed)
    }

    pub(crate) fn count_layer_download(&self) {
        self.layer_downloads.fetch_add(1, Ordering::Relaxed);
    }

    /// One lock per layer digest, so concurrent pulls fetch a layer once.
    pub(crate) fn layer_lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.layer_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(digest.clone()).or_default().clone()
    }

    /// Forgets a layer's lock once no other pull holds or awaits it.
    pub(crate) fn release_layer_lock(&self, digest: &Digest, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.layer_locks.lock().unwrap_or_else(|p| p.into_inner());
        // Ours plus the map's: nobody else cloned it, and cloning needs this mutex.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(digest);
        }
    }

    /// `scheme://host/v2/` for the registry of `r`.
    pub(crate) fn base_url(&self, r: &Reference) -> Result<Url, RegistryError> {
        self.registry_base_url(&r.registry)
    }

    /// `scheme://host/v2/` for `registry` (the host form references use).
    pub(crate) fn registry_base_url(&self, registry: &str) -> Result<Url, RegistryError> {
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let plain = host_is_loopback(registry)
            || self
                .insecure
                .iter()
                .any(|i| i == registry || i == host_without_port(registry));
        let scheme = if plain { "http" } else { "https" };
        let url = format!("{scheme}://{host}/v2/");
        Url::parse(&url).map_err(|_| RegistryError::BadUrl { url })
    }

    /// GET `/v2/<path>` with auth; any non-2xx final status is an error.
    pub(crate) async fn get(
        &self,
        r: &Reference,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Response, RegistryError> {
        for mirror in self.mirrors.get(&r.registry).into_iter().flatten() {
            if let Some(resp) = self.get_from_mirror(mirror, path, accept).await {
                return Ok(resp);
            }
        }
        let base = self.base_url(r)?;
        let url = base.join(path).map_err(|_| RegistryError::BadUrl {
            url: format!("{base}{path}"),
        })?;
        let scope = format!("repository:{}:pull", r.repository);
        let mut auth = self
            .tokens
            .get(&r.registry, &scope)
            .map(|t| format!("Bearer {t}"));
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            let sent = self.send(&url, &base, accept, auth.as_deref()).await;
            // A 5xx or a dropped connection is worth another try or three.
            let transient = match &sent {
                Ok(resp) => {
                    resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(e) => matches!(e, RegistryError::Request { .. }),
            };
            if transient && attempt + 1 < super::retry::ATTEMPTS {
                tokio::time::sleep(super::retry::backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            let resp = sent?;
            if resp.status() == StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                auth = Some(self.answer_challenge(r, &url, &base, &scope, &resp).await?);
                continue;
            }
            if !resp.status().is_success() {
                return Err(status_error(url.as_str(), resp).await);
            }
            return Ok(resp);
        }
    }

    /// GET `/v2/<path>` from a mirror: its answer if it has one, `None`
    /// (ask the next, then the registry) on any failure or non-2xx status.
    async fn get_from_mirror(
        &self,
        mirror: &str,
        path: &str,
        accept: Option<&str>,
    ) -> Option<Response> {
        let base = Url::parse(&format!("{}/v2/", mirror.trim_end_matches('/'))).ok()?;
        let url = base.join(path).ok()?;
        let resp = self.send(&url, &base, accept, None).await.ok()?;
        resp.status().is_success().then_some(resp)
    }

    /// GETs a small document (a manifest, a config) whole, bounded by `limit`.
    pub async fn get_small(
        &self,
        r: &Reference,
        path: &str,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let resp = self.get(r, path, accept).await?;
        let url = resp.url().to_string();
        read_limited(&url, resp, limit).await
    }

    /// Sends one GET, following redirects by hand: the Authorization header
    /// only goes to the registry's own origin, never to blob storage.
    async fn send(
        &self,
        url: &Url,
        base: &Url,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.get(current.clone());
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some(a) = auth.filter(|_| same_origin(&current, base)) {
                req = req.header(AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|source| RegistryError::Request {
                url: current.to_string(),
                source,
            })?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            current = redirect_target(&current, &resp)?;
        }
        Err(RegistryError::TooManyRedirects {
            url: url.to_string(),
            limit: MAX_REDIRECTS,
        })
    }

    /// Turns a 401 into an Authorization header value, fetching (and
    /// caching) a Bearer token or using configured Basic credentials.
    pub(super) async fn answer_challenge(
        &self,
        r: &Reference,
        url: &Url,
        base: &Url,
        scope: &str,
        resp: &Response,
    ) -> Result<String, RegistryError> {
        let auth_err = |source| RegistryError::Auth {
            registry: r.registry.clone(),
            source,
        };
        let header = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let credential = self
            .auths
            .credential(&r.registry)
            .await
            .map_err(RegistryError::Credentials)?;
        let no_credentials = || {
            auth_err(AuthError::NoCredentials {
                url: url.to_string(),
                registry: r.registry.clone(),
            })
        };
        match Challenge::parse(url.as_str(), header).map_err(auth_err)? {
            Challenge::Basic => match credential {
                Some(Credential::Basic(pair)) => Ok(basic_header(&pair)),
                Some(Credential::IdentityToken(_)) => Err(auth_err(AuthError::TokenForBasic {
                    url: url.to_string(),
                    registry: r.registry.clone(),
                })),
                None => Err(no_credentials()),
            },
            Challenge::Bearer { realm, service } => {
                let realm = Url::parse(&realm).map_err(|_| {
                    auth_err(AuthError::BadChallenge {
                        url: url.to_string(),
                        header: header.to_string(),
                    })
                })?;
                let credential = credential.filter(|_| may_send_credentials(&realm, base));
                let service = service.as_deref();
                let (token, lifetime) = match credential {
                    Some(Credential::IdentityToken(t)) => {
                        fetch_token_refresh(&self.http, &realm, service, scope, &t).await
                    }
                    Some(Credential::Basic(pair)) => {
                        let basic = basic_header(&pair);
                        fetch_token(&self.http, &realm, service, Some(scope), Some(&basic)).await
                    }
                    None => fetch_token(&self.http, &realm, service, Some(scope), None).await,
                }
                .map_err(auth_err)?;
                self.tokens.put(&r.registry, scope, token.clone(), lifetime);
                Ok(format!("Bearer {token}"))
            }
        }
    }
}

/// `Authorization` value for a `user:password` pair.
pub(crate) fn basic_header(pair: &str) -> String {
    format!("Basic {}", super::base64::encode(pair.as_bytes()))
}

fn redirect_target(current: &Url, resp: &Response) -> Result<Url, RegistryError> {
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("");
    current
        .join(location)
        .map_err(|_| RegistryError::BadRedirect {
            url: current.to_string(),
            location: location.to_string(),
        })
}

pub(crate) async fn status_error(url: &str, resp: Response) -> RegistryError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let mut body: String = body.trim().chars().take(ERROR_BODY_LIMIT).collect();
    if body.len() >= ERROR_BODY_LIMIT {
        body.push('…');
    }
    RegistryError::Status {
        url: url.to_string(),
        status,
        body,
    }
}

/// Reads a whole body, refusing more than `limit` bytes so a hostile
/// registry cannot make us buffer without bound.
pub(crate) async fn read_limited(
    url: &str,
    mut resp: Response,
    limit: u64,
) -> Result<Vec<u8>, RegistryError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|source| RegistryError::Request {
            url: url.to_string(),
            source,
        })?
    {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let insecure = vec!["myreg:5000".to_string(), "plain.example".to_string()];
        let c = RegistryClient::with_auths(insecure, DockerAuths::default()).unwrap();
        let base = |s: &str| {
            c.base_url(&Reference::parse(s).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(base("alpine"), "https://registry-1.docker.io/v2/");
        assert_eq!(base("ghcr.io/o/r"), "https://ghcr.io/v2/");
        assert_eq!(base("myreg:5000/x"), "http://myreg:5000/v2/");
        assert_eq!(base("myreg:5001/x"), "https://myreg:5001/v2/");
        assert_eq!(
            base("plain.example:8443/x"),
            "http://plain.example:8443/v2/"
        );
        assert_eq!(base("127.0.0.1:5000/x"), "http://127.0.0.1:5000/v2/");
        assert_eq!(base("[::1]:5000/x"), "http://[::1]:5000/v2/");
        assert_eq!(base("localhost/x"), "http://localhost/v2/");
    }
}
