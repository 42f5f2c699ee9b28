//! Completing the image config the frontend produced: the solved layer
//! chain becomes `rootfs.diff_ids`, and creation times are stamped.

use anyhow::{bail, Context as _};
use mybuild_graph::Digest;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One layer of the solved chain: its diff_id and when the store made it.
pub struct ChainLayer {
    pub diff_id: Digest,
    pub created: Option<SystemTime>,
}

/// [`finalize`] over a solved chain, with each layer's time from its store
/// record, or every new time `epoch` (`SOURCE_DATE_EPOCH`) when given.
pub fn finalize_chain(
    store: &mybuild_cache::Store,
    config: Value,
    chain: &[Digest],
    epoch: Option<u64>,
) -> anyhow::Result<Vec<u8>> {
    let layers = chain
        .iter()
        .map(|diff_id| {
            let created = store
                .layer_record(diff_id)?
                .and_then(|r| r.created)
                .map(|s| UNIX_EPOCH + Duration::from_secs(s));
            Ok(ChainLayer {
                diff_id: diff_id.clone(),
                created,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let epoch = epoch.map(|s| UNIX_EPOCH + Duration::from_secs(s));
    finalize(config, &layers, epoch)
}

/// Fills in `rootfs` and the creation times the frontend left open. Times
/// come from the layers, not the clock, so an unchanged rebuild writes the
/// same config and therefore the same image id (BuildKit's behaviour). A
/// history entry without a layer takes the time of the layer before it.
/// With `epoch` (`SOURCE_DATE_EPOCH`) every time this build sets is that
/// one, as BuildKit does; the base image's history keeps its own.
pub fn finalize(
    mut config: Value,
    chain: &[ChainLayer],
    epoch: Option<SystemTime>,
) -> anyhow::Result<Vec<u8>> {
    let now = epoch.unwrap_or_else(SystemTime::now);
    let time_of = |i: usize| match epoch {
        Some(t) => rfc3339(t),
        None => rfc3339(chain.get(i).and_then(|l| l.created).unwrap_or(now)),
    };
    let obj = config
        .as_object_mut()
        .context("frontend produced an image config that is not an object")?;
    let diff_ids: Vec<&str> = chain.iter().map(|l| l.diff_id.as_str()).collect();
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let last = chain
        .len()
        .checked_sub(1)
        .map_or_else(|| rfc3339(now), time_of);
    obj.insert("created".into(), Value::String(last));
    let history = obj.entry("history").or_insert_with(|| Value::Array(vec![]));
    let entries = history
        .as_array_mut()
        .context("image config history is not a list")?;
    let mut layer = 0usize;
    for h in entries.iter_mut() {
        let empty = h.get("empty_layer").and_then(Value::as_bool) == Some(true);
        let at = if empty {
            layer.saturating_sub(1)
        } else {
            layer
        };
        if let Some(h) = h.as_object_mut() {
            h.entry("created")
                .or_insert_with(|| Value::String(time_of(at)));
        }
        layer += usize::from(!empty);
    }
    if layer != chain.len() {
        bail!(
            "image config: {layer} history entries with layers, but the build produced {} layers",
            chain.len()
        );
    }
    Ok(serde_json::to_vec(&config)?)
}

/// UTC timestamp in RFC 3339 to the second (`2024-01-02T03:04:05Z`), as
/// image configs carry it.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(representable(t)).to_string()
}

/// [`rfc3339`] with nanoseconds (always nine digits), so records made
/// within one second still sort in the order they were made.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(representable(t)).to_string()
}

/// `t` within what RFC 3339 can write (1970 to the end of year 9999):
/// a clock before the epoch reads as the epoch, as it always has here.
fn representable(t: SystemTime) -> SystemTime {
    // 9999-12-31T23:59:59Z, humantime's last formattable second.
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    t.clamp(UNIX_EPOCH, UNIX_EPOCH + LAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_309_261)),
            "2026-11-22T01:01:01Z"
        );
        // Before the epoch: the epoch.
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn formats_nanoseconds_with_nine_digits() {
        let t = UNIX_EPOCH + Duration::new(1_795_309_261, 5_000);
        assert_eq!(rfc3339_nanos(t), "2026-11-22T01:01:01.000005000Z");
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 999_999_999);
        assert_eq!(rfc3339_nanos(t), "2000-02-29T00:00:00.999999999Z");
    }

    fn layer(name: &[u8], secs: u64) -> ChainLayer {
        ChainLayer {
            diff_id: Digest::of(name),
            created: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    #[test]
    fn fills_diff_ids_and_checks_history() {
        let chain = vec![layer(b"a", 60), layer(b"b", 120)];
        let cfg = json!({"history": [{"created_by": "base"}, {"created_by": "ENV", "empty_layer": true}, {"created_by": "RUN"}]});
        let out: Value = serde_json::from_slice(&finalize(cfg, &chain, None).unwrap()).unwrap();
        assert_eq!(out["rootfs"]["diff_ids"][1], chain[1].diff_id.as_str());
        assert_eq!(out["history"][0]["created"], "1970-01-01T00:01:00Z");
        assert_eq!(out["history"][1]["created"], "1970-01-01T00:01:00Z");
        assert_eq!(out["history"][2]["created"], "1970-01-01T00:02:00Z");
        assert_eq!(out["created"], "1970-01-01T00:02:00Z");
        let bad = json!({"history": [{"created_by": "RUN"}]});
        assert!(finalize(bad, &chain, None).is_err());
    }

    #[test]
    fn same_layers_give_the_same_config() {
        let cfg =
            json!({"history": [{"created_by": "RUN"}, {"created_by": "CMD", "empty_layer": true}]});
        let a = finalize(cfg.clone(), &[layer(b"a", 7)], None).unwrap();
        let b = finalize(cfg, &[layer(b"a", 7)], None).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_epoch_sets_every_new_time_and_keeps_the_base_ones() {
        let cfg = json!({"history": [
            {"created_by": "base", "created": "2020-01-01T00:00:00Z"},
            {"created_by": "RUN"},
            {"created_by": "CMD", "empty_layer": true},
        ]});
        let chain = [layer(b"a", 60), layer(b"b", 120)];
        let epoch = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let out = finalize(cfg, &chain, Some(epoch)).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["created"], "2023-11-14T22:13:20Z");
        assert_eq!(out["history"][0]["created"], "2020-01-01T00:00:00Z");
        assert_eq!(out["history"][1]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(out["history"][2]["created"], "2023-11-14T22:13:20Z");
    }
}
