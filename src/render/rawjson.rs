//! `--progress=rawjson`: one JSON object per line on stderr, one line per
//! progress event, for tools.
//!
//! Every object has:
//! - `event`: `started`, `log`, `done`, `cached`, `error`, `bytes` or
//!   `cache-miss`;
//! - `vertex`: the vertex's id, stable within one build (the solver's steps
//!   are `n<N>`, the CLI's own vertices have names such as `exporting`);
//! - `time`: when the event happened, in seconds since the Unix epoch as a
//!   float (microsecond precision).
//!
//! Then, by event:
//! - `started`, `cached`: `name` (`[build 2/4] RUN make`) and `digest`
//!   (`sha256:...`, the step's cache key) when known;
//! - `log`: `stream` (1 stdout, 2 stderr, as BuildKit numbers them) and
//!   `data`, the bytes as they came, as UTF-8 text (invalid bytes become
//!   U+FFFD; `--log-dir` keeps them exact);
//! - `error`: `error`, the message;
//! - `bytes`: `id` (the blob's digest), `current` and `total` (0 when not
//!   known) bytes of a pull or push;
//! - `cache-miss` (with `--explain-cache`, after the step's `started`):
//!   `name`, and `reasons`, each an object with `kind`: `file` (`path`,
//!   `changes`: `content`, `mode`, `type`, `added` or `removed`), `env` (a
//!   build arg or ENV: `name`, `old`, `new`, null when unset), `base-image`
//!   (`reference`, `old` and `new` digests), `parent` (`name` of the input
//!   step that changed), `instruction` (`part`: `command`, `workdir`,
//!   `user`, ...), `no-record` (no earlier build of this step) or `pruned`
//!   (same inputs; the cache entry was removed).
//!
//! Fields may be added; none is removed or changes meaning. A failed build
//! prints its human-readable report after the last event.

use mybuild_solver::explain::{part_name, MissReason};
use mybuild_solver::{LogStream, ProgressEvent};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch of `at` (now, when the event has no time).
fn wall_time(at: Option<Instant>) -> f64 {
    let now = SystemTime::now();
    let when = match at {
        Some(at) => now - Instant::now().saturating_duration_since(at),
        None => now,
    };
    let secs = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    (secs.as_micros() as f64) / 1e6
}

pub fn write(out: &mut impl Write, ev: &ProgressEvent) -> std::io::Result<()> {
    writeln!(out, "{}", to_json(ev, wall_time))
}

/// The event as its JSON object, timed by `clock`.
fn to_json(ev: &ProgressEvent, clock: impl Fn(Option<Instant>) -> f64) -> Value {
    let with_digest = |mut v: Value, digest: &Option<String>| {
        if let Some(d) = digest {
            v["digest"] = json!(d);
        }
        v
    };
    let (mut value, at) = match ev {
        ProgressEvent::Started {
            vertex,
            name,
            digest,
            at,
        } => {
            let v = json!({"event": "started", "vertex": vertex, "name": name});
            (with_digest(v, digest), Some(*at))
        }
        ProgressEvent::Log {
            vertex,
            stream,
            data,
            at,
        } => {
            let stream = match stream {
                LogStream::Stdout => 1,
                LogStream::Stderr => 2,
            };
            let data = String::from_utf8_lossy(data);
            let v = json!({"event": "log", "vertex": vertex, "stream": stream, "data": data});
            (v, Some(*at))
        }
        ProgressEvent::Cached {
            vertex,
            name,
            digest,
        } => {
            let v = json!({"event": "cached", "vertex": vertex, "name": name});
            (with_digest(v, digest), None)
        }
        ProgressEvent::Bytes {
            vertex,
            id,
            current,
            total,
            at,
        } => {
            let v = json!({
                "event": "bytes", "vertex": vertex, "id": id, "current": current, "total": total,
            });
            (v, Some(*at))
        }
        ProgressEvent::Done { vertex, at } => {
            (json!({"event": "done", "vertex": vertex}), Some(*at))
        }
        ProgressEvent::Failed { vertex, error, at } => {
            let v = json!({"event": "error", "vertex": vertex, "error": error});
            (v, Some(*at))
        }
        ProgressEvent::CacheMiss {
            vertex,
            name,
            reasons,
        } => {
            let reasons: Vec<Value> = reasons.iter().map(reason_json).collect();
            let v =
                json!({"event": "cache-miss", "vertex": vertex, "name": name, "reasons": reasons});
            (v, None)
        }
    };
    value["time"] = json!(clock(at));
    value
}

/// One reason of a `cache-miss` event (see the module comment).
fn reason_json(r: &MissReason) -> Value {
    match r {
        MissReason::NoRecord => json!({"kind": "no-record"}),
        MissReason::Pruned => json!({"kind": "pruned"}),
        MissReason::File { path, changes } => {
            json!({"kind": "file", "path": path, "changes": changes})
        }
        MissReason::Env { name, old, new } => {
            json!({"kind": "env", "name": name, "old": old, "new": new})
        }
        MissReason::BaseImage {
            reference,
            old,
            new,
        } => json!({"kind": "base-image", "reference": reference, "old": old, "new": new}),
        MissReason::Parent { name } => json!({"kind": "parent", "name": name}),
        MissReason::Instruction { part } => {
            json!({"kind": "instruction", "part": part_name(part)})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plain::{assert_golden, tests as plain};
    use super::*;

    /// Renders a script with times relative to 2023-11-14T22:13:20Z; the
    /// cached events, which carry no time, get the epoch.
    fn render(script: plain::Script) -> String {
        let t0 = script.t0();
        let clock = |at: Option<Instant>| match at {
            Some(at) => 1_700_000_000.0 + (at - t0).as_secs_f64(),
            None => 0.0,
        };
        let mut out = String::new();
        for ev in &script.events {
            out += &format!("{}\n", to_json(ev, clock));
        }
        out
    }

    #[test]
    fn parallel_build_events() {
        assert_golden("rawjson-parallel.jsonl", &render(plain::parallel_build()));
    }

    #[test]
    fn failing_build_events() {
        let out = render(plain::failing_build());
        assert_golden("rawjson-failure.jsonl", &out);
        let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "error");
        assert!(last["error"].as_str().unwrap().ends_with("exit code: 3"));
    }

    #[test]
    fn wall_time_is_now_for_a_fresh_instant() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let t = wall_time(Some(Instant::now()));
        assert!((t - now.as_secs_f64()).abs() < 60.0, "{t} vs {now:?}");
    }
}
