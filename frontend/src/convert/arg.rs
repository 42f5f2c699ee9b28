//! ARG inside a stage: declares a build arg for RUN and expansion, never
//! persisted in the image config.

use super::error::StepError;
use super::stages::MetaArgs;
use super::state::Stage;
use crate::CompileOptions;

/// The value is, in order: `--build-arg`, the default here, the global
/// ARG of the same name (or a predefined platform arg); else unset.
pub fn arg(
    stage: &mut Stage,
    args: &[(String, Option<String>)],
    opts: &CompileOptions,
    meta: &MetaArgs,
    escape: char,
) -> Result<(), StepError> {
    let mut text = Vec::new();
    for (k, default) in args {
        let default = match default {
            Some(d) => Some(stage.expand(d, escape)?),
            None => None,
        };
        text.push(match &default {
            Some(d) => format!("{k}={d}"),
            None => k.clone(),
        });
        let value = opts
            .build_args
            .get(k)
            .cloned()
            .or(default)
            .or_else(|| meta.get(k));
        stage.set_arg(k, value);
    }
    stage
        .config
        .push_history(&format!("ARG {}", text.join(" ")), false);
    Ok(())
}
