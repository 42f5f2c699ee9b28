//! The OCI/Docker image config a stage builds up: inherited from the base
//! image, edited by ENV, CMD, LABEL..., with one history entry per
//! instruction.
//!
//! It is kept as JSON so fields this builder does not know about survive from
//! the base image untouched. serde_json's map is ordered, so the output is
//! deterministic.

use serde_json::{json, Map, Value};

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
    root: Map<String, Value>,
}

impl ImageConfig {
    /// The config of `FROM scratch`.
    pub fn scratch(arch: &str, os: &str) -> Self {
        let root = json!({
            "architecture": arch,
            "os": os,
            "config": {"Env": [format!("PATH={DEFAULT_PATH}")]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        ImageConfig {
            root: root.as_object().cloned().unwrap_or_default(),
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
        Ok(ImageConfig { root })
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.root.clone())
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
        let list = self.get_strs("Env").unwrap_or_default();
        list.iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    pub fn env_get(&self, key: &str) -> Option<String> {
        self.env()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Replaces the variable in place, or appends it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        }
        let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.set_strs("Env", Some(&list));
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
