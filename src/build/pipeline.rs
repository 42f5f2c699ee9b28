//! A BuildKit-mode build up to its solved layers: the definition vertices,
//! compiling the Dockerfile, the worker and its caches, and the solve.

use super::failure::BuildFailure;
use super::inputs::{read_secrets, Definition};
use super::session::Session;
use super::ssh::{self, SshAgents};
use crate::resolve::StoreResolver;
use crate::{cache_mounts, cachespec};
use anyhow::Context as _;
use mybuild_frontend::{compile, BuildPlan, CompileOptions, Span};
use mybuild_graph::{Digest, Graph, NodeId};
use mybuild_registry::remote_cache::CacheLocation;
use mybuild_solver::sandbox::Sandbox;
use mybuild_solver::{BuildWorker, Scheduler, SolveOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Session<'_> {
    /// Builds the image: its id, or "" when `--print` showed the graph.
    /// With several `--platform`s, one image per platform and an index
    /// of them (its digest).
    pub(super) async fn build(
        &self,
        def: Definition,
        mut opts: CompileOptions,
    ) -> Result<String, BuildFailure> {
        self.announce(&def);
        if self.opts.platforms.len() > 1 {
            return self.build_platforms(&def, opts).await;
        }
        opts.platform = self.opts.platforms.first().cloned();
        let Some((config, chain)) = self.build_one(&def, opts).await? else {
            return Ok(String::new());
        };
        Ok(self.export(config, chain).await?.to_string())
    }

    /// Compiles and solves one platform's image: its config and layers, or
    /// `None` when `--print` showed the graph instead.
    pub(super) async fn build_one(
        &self,
        def: &Definition,
        opts: CompileOptions,
    ) -> Result<Option<(serde_json::Value, Vec<Digest>)>, BuildFailure> {
        let plan = self.compile(def, opts).await?;
        if let Some(what) = &self.opts.print {
            if what != "graph" {
                return Err(anyhow::anyhow!("--print={what}: only `graph` is supported").into());
            }
            print!("{}", plan.graph);
            return Ok(None);
        }
        // Before any step runs: a foreign platform's RUN needs an emulator.
        for arch in &plan.emulated {
            mybuild_solver::sandbox::check_emulation(arch).map_err(anyhow::Error::from)?;
        }
        let sandbox = Arc::new(Sandbox::new()?.with_limits(self.opts.limits.clone()));
        let cache_from = (self.opts.cache_from.iter())
            .map(|s| cachespec::parse_from(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cache_to = (self.opts.cache_to.iter())
            .map(|s| cachespec::parse_to(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let specs = self.opts.ssh.clone();
        // Serving until the build is done; stopped on drop.
        let agents = tokio::task::spawn_blocking(move || ssh::start(&specs))
            .await
            .context("ssh agent thread panicked")??;
        let client = self.images.client();
        let from = &self.opts.cache_mounts_from;
        cache_mounts::import_all(&self.store, client, from, self.progress).await;
        let scheduler = self.scheduler(sandbox, &cache_from, &agents).await?;
        let BuildPlan {
            graph,
            target,
            mut config,
            steps,
            ..
        } = plan;
        let mount_ids = cache_mounts::mount_ids(&graph);
        let chain = self.solve(&scheduler, graph, target, &steps, def).await?;
        let to = &self.opts.cache_mounts_to;
        cache_mounts::export_all(&self.store, client, to, mount_ids, self.progress).await?;
        // Every step's whole chain, listed only when a cache export needs
        // them: at 500 steps that is 125k diff_ids.
        let records = match cache_to.is_empty() {
            true => Vec::new(),
            false => scheduler.records(),
        };
        if let Some((key, value)) = cachespec::inline_records(&cache_to, &records, &chain) {
            config[key] = value;
        }
        cachespec::export_all(
            &cache_to,
            &self.store,
            client,
            records,
            &chain,
            self.progress,
        )
        .await?;
        Ok(Some((config, chain)))
    }

    /// BuildKit's first vertices: the Dockerfile and .dockerignore (by
    /// their base names), each with a status line of its size.
    fn announce(&self, def: &Definition) {
        let vertex = "load-definition";
        let base = std::path::Path::new(&def.filename)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let progress = self.progress;
        progress.started(
            vertex,
            &format!("[internal] load build definition from {base}"),
        );
        let size = def.text.len();
        self.progress
            .status(vertex, &format!("transferring dockerfile: {size}B done\n"));
        if let Some(frontend) = mybuild_frontend::external_frontend(&def.text) {
            self.progress.status(
                vertex,
                &format!(
                    "WARNING: # syntax={frontend} names an external frontend; \
                     mybuild builds with its built-in Dockerfile frontend instead\n"
                ),
            );
        }
        progress.done(vertex);
        let ignore = "load-dockerignore";
        progress.started(ignore, "[internal] load .dockerignore");
        let bytes = def.ignore_bytes;
        self.progress
            .status(ignore, &format!("transferring context: {bytes}B done\n"));
        progress.done(ignore);
    }

    /// The Dockerfile compiled to a graph, base images resolved through
    /// the store (and the registry).
    async fn compile(&self, def: &Definition, opts: CompileOptions) -> anyhow::Result<BuildPlan> {
        let resolver = StoreResolver::new(
            self.images.clone(),
            tokio::runtime::Handle::current(),
            self.progress.clone(),
        );
        let text = def.text.clone();
        let plan = tokio::task::spawn_blocking(move || compile(&text, &opts, &resolver))
            .await
            .context("frontend thread panicked")??;
        Ok(plan)
    }

    /// The scheduler over a worker with the context, the secrets, the ssh
    /// agents and the imported `--cache-from` caches (unless `--no-cache`).
    async fn scheduler(
        &self,
        sandbox: Arc<Sandbox>,
        cache_from: &[CacheLocation],
        agents: &SshAgents,
    ) -> anyhow::Result<Scheduler<BuildWorker>> {
        let mut locals = self.opts.locals.clone();
        locals.insert("context".to_string(), self.opts.context.clone());
        let mut worker = BuildWorker::new(
            self.store.clone(),
            sandbox,
            self.images.clone(),
            locals,
            self.progress.clone(),
        )
        .with_secrets(read_secrets(&self.opts.secrets)?)
        .with_ssh_agents(agents.sockets());
        if self.opts.debug_shell {
            let shell = crate::run::ShellOnTty::new(tokio::runtime::Handle::current());
            worker = worker.with_debug_shell(Arc::new(shell));
        }
        if !self.opts.no_cache {
            let client = self.images.client();
            if let Some(remote) = cachespec::import_all(cache_from, client, self.progress).await {
                worker = worker.with_remote_cache(remote);
            }
        }
        let mut solve_opts = SolveOptions {
            no_cache: self.opts.no_cache,
            explain: self.opts.explain_cache,
            ..Default::default()
        };
        if let Some(j) = self.opts.jobs {
            solve_opts.jobs = j;
        }
        Ok(Scheduler::new(
            Arc::new(worker),
            solve_opts,
            self.progress.clone(),
        ))
    }

    /// Solves the target: its layer chain, or the failed step with its
    /// place in the Dockerfile.
    async fn solve(
        &self,
        scheduler: &Scheduler<BuildWorker>,
        graph: Graph,
        target: NodeId,
        steps: &BTreeMap<String, (usize, usize)>,
        def: &Definition,
    ) -> Result<Vec<Digest>, BuildFailure> {
        let value = scheduler
            .solve(Arc::new(graph), target)
            .await
            .map_err(|e| {
                let at = steps.get(e.step()).map(|&(first, last)| {
                    let span = Span::locate(&def.text, first, last, e.needle());
                    (def.filename.clone(), span)
                });
                BuildFailure::Solve(e, at)
            })?;
        let chain = value
            .layers()
            .context("the build target is not a filesystem")?;
        Ok(chain.to_vec())
    }
}
