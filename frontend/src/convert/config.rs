//! Config-only instructions: CMD, ENTRYPOINT, LABEL, EXPOSE, VOLUME, USER,
//! STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER. They edit the image
//! config and add an empty-layer history entry; no graph node.

use super::error::{ConvertError, StepError};
use super::state::Stage;
use crate::instructions::{CmdLine, Health, Instruction};
use crate::parser::go_quote;
use serde_json::{json, Map, Value};

pub fn apply(stage: &mut Stage, instruction: &Instruction, escape: char) -> Result<(), StepError> {
    let history = match instruction {
        Instruction::Cmd(c) => {
            let args = command_args(stage, c);
            stage.config.set_strs("Cmd", Some(&args));
            stage.cmd_set = true;
            format!("CMD {}", go_list(&args))
        }
        Instruction::Entrypoint(c) => {
            let args = command_args(stage, c);
            stage.config.set_strs("Entrypoint", Some(&args));
            if !stage.cmd_set {
                stage.config.set("Cmd", None);
            }
            format!("ENTRYPOINT {}", go_list(&args))
        }
        Instruction::Label(pairs) => label(stage, pairs, escape)?,
        Instruction::Expose(ports) => expose(stage, ports, escape)?,
        Instruction::Volume(vols) => volume(stage, vols, escape)?,
        Instruction::User(u) => {
            let u = stage.expand(u, escape)?;
            stage.config.set("User", Some(json!(u)));
            format!("USER {u}")
        }
        Instruction::StopSignal(s) => {
            let s = stage.expand(s, escape)?;
            check_signal(&s)?;
            stage.config.set("StopSignal", Some(json!(s)));
            format!("STOPSIGNAL {s}")
        }
        Instruction::Healthcheck(h) => {
            let value = health_value(h)?;
            let text = format!("HEALTHCHECK {value}");
            stage.config.set("Healthcheck", Some(value));
            text
        }
        Instruction::Shell(args) => {
            stage.config.set_strs("Shell", Some(args));
            format!("SHELL {}", go_list(args))
        }
        Instruction::Onbuild(expr) => {
            stage.config.push_onbuild(expr);
            format!("ONBUILD {expr}")
        }
        Instruction::Maintainer(m) => {
            stage.config.set_top("author", json!(m));
            format!("MAINTAINER {m}")
        }
        _ => return Ok(()),
    };
    stage.config.push_history(&history, false);
    Ok(())
}

/// LABEL: each pair expanded into the config's labels.
fn label(stage: &mut Stage, pairs: &[(String, String)], escape: char) -> Result<String, StepError> {
    let mut text = Vec::new();
    for (k, v) in pairs {
        let (k, v) = (stage.expand(k, escape)?, stage.expand(v, escape)?);
        text.push(format!("{k}={v}"));
        stage.config.insert_into("Labels", &k, json!(v));
    }
    Ok(format!("LABEL {}", text.join(" ")))
}

/// EXPOSE: every port (ranges expanded) into the config's exposed ports.
fn expose(stage: &mut Stage, ports: &[String], escape: char) -> Result<String, StepError> {
    // BuildKit's history prints this instruction's ports as a Go
    // map: `EXPOSE map[53/udp:{} 8080/tcp:{}]`, sorted, no repeats.
    let mut all = std::collections::BTreeSet::new();
    for p in ports {
        for port in expand_port(&stage.expand(p, escape)?)? {
            stage.config.insert_into("ExposedPorts", &port, json!({}));
            all.insert(port);
        }
    }
    let all: Vec<String> = all.into_iter().map(|p| format!("{p}:{{}}")).collect();
    Ok(format!("EXPOSE map[{}]", all.join(" ")))
}

/// VOLUME: every path into the config's volumes; an empty one is refused.
fn volume(stage: &mut Stage, vols: &[String], escape: char) -> Result<String, StepError> {
    let mut all = Vec::new();
    for v in vols {
        let v = stage.expand(v, escape)?;
        if v.trim().is_empty() {
            return Err(ConvertError::Invalid {
                what: "VOLUME (empty path)",
                value: v,
            }
            .into());
        }
        stage.config.insert_into("Volumes", &v, json!({}));
        all.push(v);
    }
    Ok(format!("VOLUME [{}]", all.join(" ")))
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_list(args: &[String]) -> String {
    let q: Vec<String> = args.iter().map(|a| go_quote(a)).collect();
    format!("[{}]", q.join(" "))
}

/// Shell form runs through the current SHELL, as Docker stores it.
fn command_args(stage: &Stage, c: &CmdLine) -> Vec<String> {
    match c {
        CmdLine::Exec(args) => args.clone(),
        CmdLine::Shell(line) => {
            let mut args = stage.shell();
            args.push(line.clone());
            args
        }
    }
}

/// `80` -> `80/tcp`; `8000-8002/udp` -> three ports; `ip:host:ctr` -> ctr.
fn expand_port(spec: &str) -> Result<Vec<String>, ConvertError> {
    let bad = || ConvertError::Invalid {
        what: "port",
        value: spec.into(),
    };
    let container = spec.rsplit(':').next().unwrap_or(spec);
    let (range, proto) = match container.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (container, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = range.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn check_signal(s: &str) -> Result<(), ConvertError> {
    let ok = s.parse::<u32>().is_ok()
        || s.trim_start_matches("SIG")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-');
    if s.is_empty() || !ok {
        return Err(ConvertError::Invalid {
            what: "STOPSIGNAL",
            value: s.into(),
        });
    }
    Ok(())
}

fn health_value(h: &Health) -> Result<Value, ConvertError> {
    let Health::Check {
        test,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    } = h
    else {
        return Ok(json!({"Test": ["NONE"]}));
    };
    let mut m = Map::new();
    let test = match test {
        CmdLine::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
        CmdLine::Exec(args) => std::iter::once("CMD".to_string())
            .chain(args.iter().cloned())
            .collect(),
    };
    m.insert("Test".into(), json!(test));
    for (key, flag, value) in [
        ("Interval", "--interval", interval),
        ("Timeout", "--timeout", timeout),
        ("StartPeriod", "--start-period", start_period),
        ("StartInterval", "--start-interval", start_interval),
    ] {
        if let Some(v) = value {
            let ns = parse_duration(v).ok_or_else(|| ConvertError::Invalid {
                what: "HEALTHCHECK duration",
                value: format!("{flag}={v}"),
            })?;
            if ns != 0 && ns < 1_000_000 {
                return Err(ConvertError::Invalid {
                    what: "HEALTHCHECK duration (at least 1ms)",
                    value: format!("{flag}={v}"),
                });
            }
            if ns != 0 {
                m.insert(key.into(), json!(ns));
            }
        }
    }
    if let Some(r) = retries {
        let n: i64 = r.parse().map_err(|_| ConvertError::Invalid {
            what: "HEALTHCHECK --retries",
            value: r.clone(),
        })?;
        if n < 0 {
            return Err(ConvertError::Invalid {
                what: "HEALTHCHECK --retries",
                value: r.clone(),
            });
        }
        if n != 0 {
            m.insert("Retries".into(), json!(n));
        }
    }
    Ok(Value::Object(m))
}

/// A Go duration (`1h2m3.5s`, `100ms`, `0`) in nanoseconds.
fn parse_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[unit_len..];
    }
    Some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ports() {
        assert_eq!(expand_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(
            expand_port("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(expand_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert!(expand_port("http").is_err());
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("5s"), Some(5_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("100ms"), Some(100_000_000));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration("5"), None);
    }
}
