//! A fault-injecting HTTP/1.1 proxy for tests, on a random 127.0.0.1 port,
//! in front of one upstream (a registry). One request per client
//! connection: the request is logged, then either answered by a fault rule
//! or forwarded on a fresh upstream connection (`Connection: close`), the
//! whole response read and relayed with `Location`s that name the upstream
//! rewritten to name the proxy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a matching rule does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the client connection without answering.
    Drop,
    /// Answer with this status without forwarding.
    Status(u16),
    /// Forward, but flip one byte of the response body.
    CorruptBody,
}

struct Rule {
    method: String,
    path_substr: String,
    fault: Fault,
    remaining: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<(String, String)>,
}

pub struct Proxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
}

const IO_TIMEOUT: Duration = Duration::from_secs(120);

impl Proxy {
    /// Proxies to `upstream` (`host:port`) until the test process ends.
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap().to_string();
        let state: Arc<Mutex<State>> = Arc::default();
        let (st, up, me) = (state.clone(), upstream.to_string(), addr.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (st, up, me) = (st.clone(), up.clone(), me.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &st, &up, &me);
                });
            }
        });
        Proxy { addr, state }
    }

    /// The next `times` requests with `method` whose path (with query)
    /// contains `path_substr` get `fault`. Rules are tried in order added.
    pub fn fault(&self, method: &str, path_substr: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().rules.push(Rule {
            method: method.to_ascii_uppercase(),
            path_substr: path_substr.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Every request seen so far, as (method, path-with-query), in arrival order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

/// A parsed message head: the start line and the header lines, in order.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    fn is_chunked(&self) -> bool {
        self.get("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head {
        start: start.trim_end_matches(['\r', '\n']).to_string(),
        headers,
    }))
}

/// Reads a chunked body (and its trailers) into one buffer.
fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let hex = size.trim().split(';').next().unwrap_or("");
        let n = usize::from_str_radix(hex, 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size"))?;
        if n == 0 {
            // Trailers up to the empty line.
            loop {
                let mut line = String::new();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let at = body.len();
        body.resize(at + n, 0);
        r.read_exact(&mut body[at..])?;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}

fn serve(client: TcpStream, state: &Mutex<State>, upstream: &str, me: &str) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(mut head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body = read_body(&mut reader, &mut head)?;
    let mut parts = head.start.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let fault = next_fault(state, &method, &target);
    let mut client = client;
    match fault {
        Some(Fault::Drop) => {
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Some(Fault::Status(code)) => return inject_status(&mut client, code, &method),
        Some(Fault::CorruptBody) | None => {}
    }
    let Some((mut resp, mut resp_body)) = forward(head, &body, upstream)? else {
        return Ok(());
    };
    // Upload URLs are absolute: keep the client talking to the proxy.
    for (k, v) in resp.headers.iter_mut() {
        if k.eq_ignore_ascii_case("Location") {
            for scheme in ["http://", "https://"] {
                *v = v.replace(&format!("{scheme}{upstream}"), &format!("http://{me}"));
            }
        }
    }
    resp.set("Connection", "close");
    if fault == Some(Fault::CorruptBody) && !resp_body.is_empty() {
        let i = resp_body.len() / 2;
        resp_body[i] ^= 0xff;
    }
    client.write_all(&resp.encode())?;
    client.write_all(&resp_body)?;
    client.flush()?;
    let _ = client.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// The request body, de-chunked (the head then loses its
/// `Transfer-Encoding`, as the forwarded request has a length).
fn read_body(reader: &mut BufReader<TcpStream>, head: &mut Head) -> std::io::Result<Vec<u8>> {
    if head.is_chunked() {
        let b = read_chunked(reader)?;
        head.remove("Transfer-Encoding");
        return Ok(b);
    }
    let n: usize = head
        .get("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut b = vec![0; n];
    reader.read_exact(&mut b)?;
    Ok(b)
}

/// Logs the request and takes one use of the first rule it matches.
fn next_fault(state: &Mutex<State>, method: &str, target: &str) -> Option<Fault> {
    let mut st = state.lock().unwrap();
    st.log.push((method.to_string(), target.to_string()));
    st.rules
        .iter_mut()
        .find(|r| r.remaining > 0 && r.method == method && target.contains(&r.path_substr))
        .map(|r| {
            r.remaining -= 1;
            r.fault
        })
}

/// Answers with `code` and a registry-style error body, without forwarding.
fn inject_status(client: &mut TcpStream, code: u16, method: &str) -> std::io::Result<()> {
    let msg =
        format!("{{\"errors\":[{{\"code\":\"UNKNOWN\",\"message\":\"injected fault {code}\"}}]}}");
    let mut resp = format!(
        "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        msg.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(msg.as_bytes());
    }
    client.write_all(&resp)?;
    client.flush()
}

/// Sends the request upstream on a fresh connection it asks to be closed,
/// and reads the whole response (de-chunked).
fn forward(
    mut head: Head,
    body: &[u8],
    upstream: &str,
) -> std::io::Result<Option<(Head, Vec<u8>)>> {
    head.set("Host", upstream);
    head.set("Connection", "close");
    if head.get("Content-Length").is_some() || !body.is_empty() {
        head.set("Content-Length", &body.len().to_string());
    }
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.set_write_timeout(Some(IO_TIMEOUT))?;
    up.write_all(&head.encode())?;
    up.write_all(body)?;
    up.flush()?;
    let mut up_reader = BufReader::new(up);
    let Some(mut resp) = read_head(&mut up_reader)? else {
        return Ok(None);
    };
    let mut resp_body = Vec::new();
    if resp.is_chunked() {
        resp_body = read_chunked(&mut up_reader)?;
        resp.remove("Transfer-Encoding");
        resp.set("Content-Length", &resp_body.len().to_string());
    } else {
        up_reader.read_to_end(&mut resp_body)?;
    }
    Ok(Some((resp, resp_body)))
}
