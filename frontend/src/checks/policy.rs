//! The `# check=` directive's value (`skip=A,B;error=true`), also given as
//! the `BUILDKIT_DOCKERFILE_CHECK` build arg.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("check directive {value:?}: {what}")]
    Invalid { value: String, what: String },
}

/// Which rules run and whether a warning fails the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckPolicy {
    pub skip_all: bool,
    pub skip: Vec<String>,
    pub error: bool,
}

impl CheckPolicy {
    /// Parses `key=value` parts separated by `;`: `skip` (rule names, comma
    /// separated, or `all`), `error` (a boolean) and `experimental` (rules
    /// mybuild does not have, so it changes nothing).
    pub fn parse(value: &str) -> Result<CheckPolicy, PolicyError> {
        let invalid = |what: String| PolicyError::Invalid {
            value: value.into(),
            what,
        };
        let mut policy = CheckPolicy::default();
        for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, val) = part
                .split_once('=')
                .ok_or_else(|| invalid(format!("{part:?} is not key=value")))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "skip" => {
                    for name in val.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if name.eq_ignore_ascii_case("all") {
                            policy.skip_all = true;
                        } else {
                            policy.skip.push(name.to_string());
                        }
                    }
                }
                "error" => {
                    policy.error = match val.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => return Err(invalid(format!("error={other} is not a boolean"))),
                    }
                }
                "experimental" => {}
                other => return Err(invalid(format!("unknown key {other:?}"))),
            }
        }
        Ok(policy)
    }

    /// Whether the rule named `name` runs.
    pub fn keeps(&self, name: &str) -> bool {
        !self.skip_all && !self.skip.iter().any(|s| s == name)
    }
}
