//! ENV: variables persisted in the image config (and seen by later RUNs).

use super::error::StepError;
use super::state::Stage;

/// All pairs are expanded against the env before the instruction, so
/// `ENV A=2 B=$A` gives B the old A, as Docker does.
pub fn env(stage: &mut Stage, pairs: &[(String, String)], escape: char) -> Result<(), StepError> {
    let mut expanded = Vec::new();
    for (k, v) in pairs {
        expanded.push((stage.expand(k, escape)?, stage.expand(v, escape)?));
    }
    for (k, v) in &expanded {
        stage.set_env(k, v);
    }
    let text: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
    stage
        .config
        .push_history(&format!("ENV {}", text.join(" ")), false);
    Ok(())
}
