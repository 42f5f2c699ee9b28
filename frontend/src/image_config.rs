//! The OCI/Docker image config a stage builds up: inherited from the base
//! image, edited by ENV, CMD, LABEL..., with one history entry per
//! instruction.
//!
//! It is kept as JSON so fields this builder does not know about survive from
//! the base image untouched. serde_json's map is ordered, so the output is
//! deterministic.

use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// BuildKit's PATH for images that have none (scratch).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ImageConfigError {
    #[error("image config of {reference}: {source}")]
    Json {
        reference: String,
        source: serde_json::Error,
    },
    #[error("image config of {reference}: not a JSON object")]
    NotObject { reference: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    /// Every field but `config.Env`.
    root: Map<String, Value>,
    env: Env,
}

/// `config.Env`, kept apart from the JSON while a stage is built so that
/// reading or setting one variable costs the same with 100k of them as with
/// one: compile time stays linear in the number of ENV instructions.
#[derive(Debug, Clone, PartialEq, Default)]
struct Env {
    /// The entries as the image has them (`K=v`, or a bare `K`).
    entries: Vec<String>,
    /// Each key's first entry, which is the one that counts.
    index: HashMap<String, usize>,
    /// The base had an `Env` list (so an empty one is written back).
    present: bool,
}

impl Env {
    fn from_entries(entries: Vec<String>, present: bool) -> Self {
        let mut env = Env {
            entries: Vec::with_capacity(entries.len()),
            index: HashMap::new(),
            present,
        };
        for e in entries {
            env.push(e);
        }
        env
    }

    fn key(entry: &str) -> &str {
        entry.split_once('=').map_or(entry, |(k, _)| k)
    }

    fn push(&mut self, entry: String) {
        let key = Env::key(&entry).to_string();
        self.index.entry(key).or_insert(self.entries.len());
        self.entries.push(entry);
    }

    fn get(&self, key: &str) -> Option<String> {
        let entry = &self.entries[*self.index.get(key)?];
        Some(entry.split_once('=').map_or("", |(_, v)| v).to_string())
    }

    fn set(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self.index.get(key) {
            Some(&i) => self.entries[i] = entry,
            None => self.push(entry),
        }
    }
}

impl ImageConfig {
    /// The config of `FROM scratch`.
    pub fn scratch(arch: &str, os: &str) -> Self {
        let root = json!({
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        ImageConfig {
            root: root.as_object().cloned().unwrap_or_default(),
            env: Env::from_entries(vec![format!("PATH={DEFAULT_PATH}")], true),
        }
    }

    /// A base image's raw config; `history` and `rootfs` are kept.
    pub fn from_bytes(reference: &str, bytes: &[u8]) -> Result<Self, ImageConfigError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| ImageConfigError::Json {
                reference: reference.into(),
                source,
            })?;
        let Value::Object(mut root) = value else {
            return Err(ImageConfigError::NotObject {
                reference: reference.into(),
            });
        };
        root.remove("created");
        root.remove("container_config");
        root.remove("container");
        if !root.get("config").is_some_and(Value::is_object) {
            root.insert("config".into(), json!({}));
        }
        if !root.get("history").is_some_and(Value::is_array) {
            root.insert("history".into(), json!([]));
        }
        let env = match root
            .get_mut("config")
            .and_then(Value::as_object_mut)
            .and_then(|c| c.remove("Env"))
        {
            Some(Value::Array(list)) => {
                let entries = list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                Env::from_entries(entries, true)
            }
            _ => Env::default(),
        };
        Ok(ImageConfig { root, env })
    }

    pub fn to_value(&self) -> Value {
        let mut root = self.root.clone();
        if self.env.present || !self.env.entries.is_empty() {
            if let Some(config) = root.get_mut("config").and_then(Value::as_object_mut) {
                config.insert("Env".into(), json!(self.env.entries));
            }
        }
        Value::Object(root)
    }

    /// The image's `architecture` (the platform its programs run on).
    pub fn architecture(&self) -> Option<&str> {
        self.root.get("architecture").and_then(Value::as_str)
    }

    pub fn set_top(&mut self, key: &str, value: Value) {
        self.root.insert(key.into(), value);
    }

    fn config(&self) -> Option<&Map<String, Value>> {
        self.root.get("config").and_then(Value::as_object)
    }

    fn config_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self.root.entry("config").or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        entry
            .as_object_mut()
            .expect("config was just made an object")
    }

    pub fn get_str(&self, key: &str) -> Option<String> {
        self.config()?.get(key)?.as_str().map(str::to_string)
    }

    pub fn get_strs(&self, key: &str) -> Option<Vec<String>> {
        let list = self.config()?.get(key)?.as_array()?;
        Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )
    }

    pub fn set(&mut self, key: &str, value: Option<Value>) {
        match value {
            Some(v) => {
                self.config_mut().insert(key.into(), v);
            }
            None => {
                self.config_mut().remove(key);
            }
        }
    }

    pub fn set_strs(&mut self, key: &str, value: Option<&[String]>) {
        self.set(key, value.map(|v| json!(v)));
    }

    /// `Env` as `(key, value)` pairs in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env
            .entries
            .iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    pub fn env_get(&self, key: &str) -> Option<String> {
        self.env.get(key)
    }

    pub fn has_env(&self, key: &str) -> bool {
        self.env.index.contains_key(key)
    }

    /// Replaces the variable in place, or appends it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.set(key, value);
    }

    /// Inserts into an object-valued field such as `Labels` or `Volumes`.
    pub fn insert_into(&mut self, field: &str, key: &str, value: Value) {
        let entry = self.config_mut().entry(field).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        if let Some(map) = entry.as_object_mut() {
            map.insert(key.into(), value);
        }
    }

    /// ONBUILD triggers inherited from the base (cleared once run).
    pub fn take_onbuild(&mut self) -> Vec<String> {
        let triggers = self.get_strs("OnBuild").unwrap_or_default();
        self.config_mut().remove("OnBuild");
        triggers
    }

    pub fn push_onbuild(&mut self, trigger: &str) {
        let mut list = self.get_strs("OnBuild").unwrap_or_default();
        list.push(trigger.to_string());
        self.set_strs("OnBuild", Some(&list));
    }

    /// One history entry, BuildKit-style.
    pub fn push_history(&mut self, created_by: &str, layer: bool) {
        let mut entry = json!({"created_by": created_by, "comment": "buildkit.dockerfile.v0"});
        if !layer {
            entry["empty_layer"] = json!(true);
        }
        if let Some(list) = self
            .root
            .entry("history")
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            list.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_base_fields_and_edits_env_in_place() {
        let base = br#"{"architecture":"arm64","os":"linux","created":"x","config":{"Env":["PATH=/bin","A=1"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"base"}]}"#;
        let mut c = ImageConfig::from_bytes("b", base).unwrap();
        c.set_env("PATH", "/x:/bin");
        c.set_env("B", "2");
        c.push_history("ENV B=2", false);
        let v = c.to_value();
        assert_eq!(v["config"]["Env"], json!(["PATH=/x:/bin", "A=1", "B=2"]));
        assert_eq!(v["rootfs"]["diff_ids"], json!(["sha256:aa"]));
        assert_eq!(
            v["history"][1],
            json!({"created_by": "ENV B=2", "comment": "buildkit.dockerfile.v0", "empty_layer": true})
        );
        assert!(v.get("created").is_none());
        assert_eq!(v["architecture"], json!("arm64"));
    }

    #[test]
    fn scratch_has_default_path() {
        let c = ImageConfig::scratch("amd64", "linux");
        assert_eq!(c.env_get("PATH").as_deref(), Some(DEFAULT_PATH));
    }
}
