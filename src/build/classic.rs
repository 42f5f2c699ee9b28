//! `--legacy` (or `DOCKER_BUILDKIT=0`): hands the resolved build to the
//! classic builder, refusing the flags it has no counterpart for.

use super::inputs::{read_secrets, Definition};
use super::options::BuildOptions;
use crate::legacy::{self, LegacyBuild};
use anyhow::bail;
use mybuild_cache::Store;
use mybuild_frontend::CompileOptions;
use mybuild_registry::ImageProvider;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) async fn run(
    opts: BuildOptions,
    store: Arc<Store>,
    images: Arc<ImageProvider>,
    def: Definition,
    compile: CompileOptions,
) -> anyhow::Result<()> {
    let unsupported = [
        ("--cache-to", !opts.cache_to.is_empty()),
        ("--cache-from", !opts.cache_from.is_empty()),
        ("--cache-mounts-to", !opts.cache_mounts_to.is_empty()),
        ("--cache-mounts-from", !opts.cache_mounts_from.is_empty()),
        ("--print", opts.print.is_some()),
        ("--ssh", !opts.ssh.is_empty()),
        ("--annotation", !opts.annotations.is_empty()),
        ("--metadata-file", opts.metadata_file.is_some()),
        ("--no-cache-filter", !opts.no_cache_filter.is_empty()),
        ("--explain-cache", opts.explain_cache),
        ("--build-context", !compile.named_contexts.is_empty()),
        // The classic builder's step lines go to stdout.
        (
            "--output to stdout",
            crate::output::uses_stdout(&opts.outputs),
        ),
        (
            "--output type=registry (or push=true)",
            opts.outputs
                .iter()
                .any(|o| !o.pushes(&opts.tag_names()).is_empty()),
        ),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, set)| *set) {
        bail!("{flag} needs BuildKit mode; the legacy (classic) builder has no such option");
    }
    let build = LegacyBuild {
        store,
        images,
        context: opts.context,
        dockerfile: with_label_step(def.text, &opts.labels),
        opts: compile,
        tags: opts.tags,
        no_cache: opts.no_cache,
        quiet: opts.quiet,
        policy: opts.policy,
        secrets: read_secrets(&opts.secrets)?,
        limits: opts.limits,
        outputs: opts.outputs,
        push: opts.push,
        compression: opts.compression,
        iidfile: opts.iidfile,
    };
    legacy::run(build).await
}

/// `--label`s as the classic builder applies them: one `LABEL` step added
/// after the Dockerfile's last line, keys sorted, each value single-quoted
/// so nothing in it is expanded (moby's `NodeFromLabels`). A quote inside a
/// value is closed, given double-quoted and reopened, as a shell would.
fn with_label_step(mut text: String, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return text;
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k:?}='{}'", v.replace('\'', "'\"'\"'")))
        .collect();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("LABEL {}\n", pairs.join(" ")));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_one_last_step() {
        let labels = BTreeMap::from([
            ("b".to_string(), "$HOME".to_string()),
            ("a".to_string(), "it's".to_string()),
        ]);
        assert_eq!(
            with_label_step("FROM x".into(), &labels),
            "FROM x\nLABEL \"a\"='it'\"'\"'s' \"b\"='$HOME'\n"
        );
        assert_eq!(
            with_label_step("FROM x\n".into(), &BTreeMap::new()),
            "FROM x\n"
        );
    }
}
