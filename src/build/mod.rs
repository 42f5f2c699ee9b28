//! `mybuild build`: Dockerfile -> graph -> layers -> image, with progress.
//!
//! The flags ([`BuildArgs`]) are resolved into [`options::BuildOptions`];
//! the Dockerfile is read ([`inputs`]); then either the classic builder
//! runs ([`classic`]) or a BuildKit-mode [`session::Session`] builds
//! ([`pipeline`]) and exports ([`export`]) while the renderer shows progress.

mod args;
mod classic;
mod export;
mod failure;
mod flags;
mod inputs;
mod lint;
mod metadata;
mod options;
mod pipeline;
mod platforms;
mod session;
mod sources;
mod ssh;

pub use args::BuildArgs;

use crate::config_file::Settings;
use crate::render::{self, ProgressMode};
use anyhow::Context as _;
use mybuild_frontend::CompileOptions;
use mybuild_registry::{ImageProvider, RegistryClient};
use mybuild_solver::Progress;
use options::BuildOptions;
use session::Session;
use std::path::Path;
use std::sync::Arc;

pub async fn run(root: &Path, args: BuildArgs, settings: &Settings) -> anyhow::Result<()> {
    let inputs = inputs::gather(args.file.as_deref(), &args.context, &args.build_contexts).await?;
    let def = inputs.def;
    let mut opts = BuildOptions::resolve(args, inputs.context, settings)?;
    opts.locals = inputs.locals;
    // Fetched contexts stay on disk until the build returns.
    let _fetched = inputs.fetched;
    let compile = CompileOptions {
        filename: def.filename.clone(),
        build_args: opts.build_args.clone(),
        target: opts.target.clone(),
        dockerignore: def.dockerignore.clone(),
        network: opts.network,
        exec_env: opts.exec_env.clone(),
        no_cache_filter: opts.no_cache_filter.clone(),
        labels: opts.labels.clone(),
        named_contexts: inputs.named,
        platform: None,
        multi_platform: false,
    };

    if opts.check_only {
        return lint::check_only(&def, &opts.build_args);
    }
    // The classic builder has no build checks.
    let checked = if opts.legacy {
        None
    } else {
        lint::run(&def, &opts.build_args)?
    };
    if let Some(err) = checked.as_ref().and_then(|found| lint::fatal(&def, found)) {
        return Err(err);
    }

    std::fs::create_dir_all(root)
        .with_context(|| format!("creating store root {}", root.display()))?;
    let store = Arc::new(crate::store::open_store(root)?);
    let client = RegistryClient::new(opts.insecure_registries.clone())?
        .with_mirrors(settings.registry_mirrors.clone());
    let images = Arc::new(ImageProvider::new(store.clone(), client, opts.pull));
    if opts.legacy {
        return classic::run(opts, store, images, def, compile).await;
    }

    let (progress, events) = Progress::channel();
    let renderer = tokio::spawn(render::run(opts.progress, events, opts.log_dir.clone()));
    let session = Session {
        opts: &opts,
        store: store.clone(),
        images,
        progress: &progress,
    };
    let result = session.build(def, compile).await;
    drop(session);
    drop(progress);
    let _ = renderer.await;
    if let Some(found) = &checked {
        lint::print_summary(found, opts.progress);
    }
    let id = result.map_err(failure::BuildFailure::into_error)?;
    if let Some(keep) = settings.keep_storage {
        collect_garbage(&store, keep)?;
    }
    // An output on stdout has it to itself.
    if opts.progress == ProgressMode::Quiet && !crate::output::uses_stdout(&opts.outputs) {
        println!("{id}");
    }
    Ok(())
}

/// The config file's `[gc] keep-storage`: once a build is done, the least
/// recently used build cache goes until the store fits, as BuildKit's
/// daemon collects garbage. Images and what they use are kept.
fn collect_garbage(store: &mybuild_cache::Store, keep: u64) -> anyhow::Result<()> {
    let opts = mybuild_cache::PruneOptions {
        keep_bytes: Some(keep),
        ..Default::default()
    };
    store
        .prune(&opts)
        .context("garbage collection ([gc] keep-storage in the config file)")?;
    Ok(())
}
