//! Registry authentication: `WWW-Authenticate` challenge parsing, the
//! Bearer token flow, and a per-(registry, scope) token cache so a build
//! asks for each token once.

use reqwest::Url;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{url}: unsupported or malformed WWW-Authenticate challenge {header:?}")]
    BadChallenge { url: String, header: String },
    #[error(
        "{url}: registry requires authentication and no credentials for {registry} are configured"
    )]
    NoCredentials { url: String, registry: String },
    #[error("{url}: the registry wants Basic auth, but the credential for {registry} is an identity token")]
    TokenForBasic { url: String, registry: String },
    #[error("{url}: unauthorized: incorrect username or password for {registry}")]
    Unauthorized { url: String, registry: String },
    #[error("token request {realm}: {source}")]
    TokenRequest {
        realm: String,
        source: reqwest::Error,
    },
    #[error("token request {realm}: HTTP {status}")]
    TokenStatus { realm: String, status: u16 },
    #[error("token request {realm}: response has no token: {source}")]
    TokenParse {
        realm: String,
        source: serde_json::Error,
    },
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    pub(crate) fn parse(url: &str, header: &str) -> Result<Challenge, AuthError> {
        let bad = || AuthError::BadChallenge {
            url: url.to_string(),
            header: header.to_string(),
        };
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(bad());
        }
        let params = parse_params(params).ok_or_else(bad)?;
        let realm = params
            .iter()
            .find(|(k, v)| k == "realm" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .ok_or_else(bad)?;
        let service = params
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone());
        Ok(Challenge::Bearer { realm, service })
    }
}

/// `k="v", k2=v2` with backslash escapes inside quotes; keys lowercased.
fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().filter(|c| **c != ',') {
                value.push(*c);
                chars.next();
            }
        }
        out.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

/// Registry credentials may go to the token realm only when the realm is
/// the registry itself or is reached over TLS; never over plain HTTP to a
/// third host.
pub(crate) fn may_send_credentials(realm: &Url, registry_url: &Url) -> bool {
    realm.scheme() == "https" || same_origin(realm, registry_url)
}

pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Runs the token request for `scope` and returns (token, lifetime).
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &Url,
    service: Option<&str>,
    scope: Option<&str>,
    basic: Option<&str>,
) -> Result<(String, Duration), AuthError> {
    let mut url = realm.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        if let Some(s) = scope {
            q.append_pair("scope", s);
        }
    }
    let mut req = http.get(url);
    if let Some(b) = basic {
        req = req.header(reqwest::header::AUTHORIZATION, b);
    }
    read_token(realm, req).await
}

/// Exchanges an identity token (an OAuth2 refresh token, as credential
/// helpers hand out as user `<token>`) for an access token for `scope`,
/// as Docker's distribution client does: a form POST to the realm.
pub(crate) async fn fetch_token_refresh(
    http: &reqwest::Client,
    realm: &Url,
    service: Option<&str>,
    scope: &str,
    refresh_token: &str,
) -> Result<(String, Duration), AuthError> {
    // Url's query serialiser is the form encoder reqwest would use.
    let mut form = Url::parse("http://form.invalid/").expect("static URL parses");
    {
        let mut q = form.query_pairs_mut();
        q.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token)
            .append_pair("client_id", "mybuild")
            .append_pair("scope", scope);
        if let Some(s) = service {
            q.append_pair("service", s);
        }
    }
    let req = http
        .post(realm.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form.query().unwrap_or_default().to_string());
    read_token(realm, req).await
}

async fn read_token(
    realm: &Url,
    req: reqwest::RequestBuilder,
) -> Result<(String, Duration), AuthError> {
    let realm_s = realm.to_string();
    let resp = req.send().await.map_err(|source| AuthError::TokenRequest {
        realm: realm_s.clone(),
        source,
    })?;
    if !resp.status().is_success() {
        return Err(AuthError::TokenStatus {
            realm: realm_s,
            status: resp.status().as_u16(),
        });
    }
    let body = resp
        .bytes()
        .await
        .map_err(|source| AuthError::TokenRequest {
            realm: realm_s.clone(),
            source,
        })?;
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|source| AuthError::TokenParse {
            realm: realm_s.clone(),
            source,
        })?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| AuthError::TokenParse {
        realm: realm_s,
        source: serde::de::Error::custom("neither `token` nor `access_token` is set"),
    })?;
    // The spec's default lifetime is 60 s; renew a little early.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).saturating_sub(10).max(5));
    Ok((token, lifetime))
}

/// Bearer tokens by (registry, scope), shared by clones of the client.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl TokenCache {
    pub(crate) fn get(&self, registry: &str, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (token, expiry) = tokens.get(&(registry.to_string(), scope.to_string()))?;
        (Instant::now() < *expiry).then(|| token.clone())
    }

    pub(crate) fn put(&self, registry: &str, scope: &str, token: String, lifetime: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            (registry.to_string(), scope.to_string()),
            (token, Instant::now() + lifetime),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        assert_eq!(
            Challenge::parse("u", h).unwrap(),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        let h = r#"bearer realm=http://127.0.0.1:1/t, service="a \"q\"""#;
        assert_eq!(
            Challenge::parse("u", h).unwrap(),
            Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: Some("a \"q\"".into())
            }
        );
        assert_eq!(
            Challenge::parse("u", r#"Basic realm="x""#).unwrap(),
            Challenge::Basic
        );
        assert!(Challenge::parse("u", "Bearer service=x").is_err());
        assert!(Challenge::parse("u", "Negotiate").is_err());
        assert!(Challenge::parse("u", r#"Bearer realm="unterminated"#).is_err());
    }

    #[test]
    fn credentials_only_to_tls_or_same_origin_realms() {
        let reg = Url::parse("http://127.0.0.1:5000/v2/").unwrap();
        assert!(may_send_credentials(
            &Url::parse("https://auth.example/token").unwrap(),
            &reg
        ));
        assert!(may_send_credentials(
            &Url::parse("http://127.0.0.1:5000/token").unwrap(),
            &reg
        ));
        assert!(!may_send_credentials(
            &Url::parse("http://evil.example/token").unwrap(),
            &reg
        ));
        assert!(!may_send_credentials(
            &Url::parse("http://127.0.0.1:5001/token").unwrap(),
            &reg
        ));
    }
}
