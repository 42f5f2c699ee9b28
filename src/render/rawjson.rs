//! `--progress=rawjson`: one JSON object per event, for tools.

use mybuild_solver::ProgressEvent;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn write(out: &mut impl Write, ev: &ProgressEvent) -> std::io::Result<()> {
    let value = match ev {
        ProgressEvent::Started { vertex, name, .. } => {
            serde_json::json!({"event": "started", "vertex": vertex, "name": name})
        }
        ProgressEvent::Log {
            vertex,
            stream,
            data,
            ..
        } => serde_json::json!({
            "event": "log", "vertex": vertex,
            "stream": if *stream == mybuild_solver::LogStream::Stdout { 1 } else { 2 },
            "data": String::from_utf8_lossy(data),
        }),
        ProgressEvent::Cached { vertex, name, .. } => {
            serde_json::json!({"event": "cached", "vertex": vertex, "name": name})
        }
        ProgressEvent::Bytes {
            vertex,
            id,
            current,
            total,
            ..
        } => serde_json::json!({
            "event": "bytes", "vertex": vertex, "id": id, "current": current, "total": total,
        }),
        ProgressEvent::Done { vertex, .. } => {
            serde_json::json!({"event": "done", "vertex": vertex})
        }
        ProgressEvent::Failed { vertex, error, .. } => {
            serde_json::json!({"event": "error", "vertex": vertex, "error": error})
        }
    };
    let mut value = value;
    value["time"] = serde_json::json!(unix_now());
    writeln!(out, "{value}")
}
