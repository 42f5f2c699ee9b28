//! Dockerfile to build graph: walks the stages the target needs and turns
//! each instruction into graph nodes and image-config edits.
//!
//! This file only routes; every instruction family lives in its own file.

mod arg;
mod config;
mod converter;
mod copy;
mod copy_words;
mod deps;
mod env;
mod error;
mod from;
mod legacy;
mod mount;
mod run;
mod stages;
mod state;
mod trace;
mod workdir;

pub use error::{ConvertError, FrontendError};
pub use legacy::{LegacyKind, LegacyStep};

use crate::diagnostic::Span;
use crate::instructions::{Command, Instruction};
use crate::{BuildPlan, CompileOptions, ImageResolver};
use converter::Converter;
use error::{convert_err, StepError};
use mybuild_graph::Graph;
use stages::{StageDef, Stages};
use state::Stage;
use std::collections::BTreeMap;

/// Converts a Dockerfile into a build plan.
pub fn compile(
    dockerfile: &str,
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
) -> Result<BuildPlan, FrontendError> {
    compile_with(dockerfile, opts, resolver, false).map(|(plan, _)| plan)
}

/// [`compile`] as the classic builder sees a Dockerfile: every stage up to
/// the target is built, and each instruction is listed as a step.
pub fn compile_legacy(
    dockerfile: &str,
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
) -> Result<(BuildPlan, Vec<LegacyStep>), FrontendError> {
    compile_with(dockerfile, opts, resolver, true)
}

fn compile_with(
    dockerfile: &str,
    opts: &CompileOptions,
    resolver: &dyn ImageResolver,
    legacy: bool,
) -> Result<(BuildPlan, Vec<LegacyStep>), FrontendError> {
    let file = opts.filename.clone();
    let df = crate::parser::parse(dockerfile).map_err(|error| FrontendError::Parse {
        file: file.clone(),
        span: Box::new(Span::locate(
            dockerfile,
            error.line,
            error.line,
            error.kind.needle(),
        )),
        error,
    })?;
    let mut commands = Vec::new();
    for node in &df.instructions {
        let cmd = Command::from_node(node).map_err(|error| FrontendError::Instruction {
            file: file.clone(),
            span: Box::new(Span::locate(
                dockerfile,
                node.start_line,
                node.end_line,
                error.needle(),
            )),
            error,
        })?;
        commands.push(cmd);
    }
    let stages =
        Stages::split(commands, opts).map_err(|e| convert_err(&file, dockerfile, &e.0, e.1))?;
    let target = stages
        .target(opts.target.as_deref())
        .ok_or_else(|| match &opts.target {
            Some(t) => FrontendError::TargetNotFound {
                file: file.clone(),
                target: t.clone(),
            },
            None => FrontendError::NoStages { file: file.clone() },
        })?;
    let mut conv = Converter {
        opts,
        resolver,
        graph: Graph::new(),
        context: None,
        stages,
        built: Vec::new(),
        escape: df.escape,
        source: dockerfile,
        steps: BTreeMap::new(),
        trace: legacy.then(Vec::new),
        // The classic builder has no SOURCE_DATE_EPOCH (an ordinary ARG there).
        emulated: Default::default(),
        epoch: if legacy {
            None
        } else {
            crate::epoch::source_date_epoch(&opts.build_args)?
        },
    };
    conv.built = vec![None; conv.stages.defs.len()];
    conv.trace_global_args();
    // The classic builder builds every stage up to the target, used or not.
    let first = if legacy { 0 } else { target };
    for i in first..target {
        conv.build_stage(i, &mut Vec::new())?;
    }
    let mut stage = conv.build_stage(target, &mut Vec::new())?;
    // BuildKit sets `--label`s on the target's config last, over its LABELs.
    for (key, value) in &opts.labels {
        stage
            .config
            .insert_into("Labels", key, value.clone().into());
    }
    let plan = BuildPlan {
        graph: conv.graph,
        target: stage.node,
        config: stage.config.to_value(),
        steps: conv.steps,
        emulated: conv.emulated,
    };
    Ok((plan, conv.trace.unwrap_or_default()))
}

impl Converter<'_> {
    /// Builds stage `i` (and what it needs) once.
    fn build_stage(&mut self, i: usize, visiting: &mut Vec<usize>) -> Result<Stage, FrontendError> {
        if let Some(done) = &self.built[i] {
            return Ok(done.clone());
        }
        let def: StageDef = self.stages.defs[i].clone();
        let file = self.opts.filename.clone();
        if visiting.contains(&i) {
            let name = def.name.clone().unwrap_or_else(|| i.to_string());
            return Err(convert_err(
                &file,
                self.source,
                &def.from_cmd,
                ConvertError::Circular(name),
            ));
        }
        visiting.push(i);
        // Stages this one needs are built first, one after another, so that
        // the nested calls below find them done and stay shallow.
        let named = |name: &str| self.opts.named_contexts.contains_key(name);
        let order = deps::build_order(&self.stages, i, |j| self.built[j].is_some(), &named);
        for j in order {
            if self.built[j].is_none() && !visiting.contains(&j) {
                self.build_stage(j, visiting)?;
            }
        }
        let (mut stage, base) = self.start_stage(i, &def, visiting)?;
        let from_name = self.graph.node(stage.node).name.clone();
        self.steps
            .entry(from_name)
            .or_insert((def.from_cmd.line, def.from_cmd.end_line));
        for trigger in stage.config.take_onbuild() {
            let cmd = self
                .trigger_command(&def, &trigger)
                .map_err(|e| convert_err(&file, self.source, &def.from_cmd, e))?;
            self.dispatch(&mut stage, &cmd, visiting)?;
        }
        self.trace(i, &def.from_cmd, &stage, base);
        let uncached = self.ignores_cache(&def);
        for cmd in &def.commands {
            let before = stage.node;
            self.dispatch(&mut stage, cmd, visiting)?;
            if uncached && stage.node != before {
                self.graph.ignore_cache(stage.node);
            }
            self.trace(i, cmd, &stage, trace::kind_of(cmd));
        }
        visiting.pop();
        self.built[i] = Some(stage.clone());
        Ok(stage)
    }

    /// Whether `--no-cache-filter` names the stage: as BuildKit, by its
    /// `AS` name in any case; an unnamed stage is never matched.
    fn ignores_cache(&self, def: &StageDef) -> bool {
        let filter = &self.opts.no_cache_filter;
        def.name
            .as_deref()
            .is_some_and(|name| filter.iter().any(|f| f.eq_ignore_ascii_case(name)))
    }

    fn dispatch(
        &mut self,
        stage: &mut Stage,
        cmd: &Command,
        visiting: &mut Vec<usize>,
    ) -> Result<(), FrontendError> {
        let file = self.opts.filename.clone();
        let before = stage.node;
        let result = match &cmd.instruction {
            Instruction::Run(r) => self.run(stage, cmd, r, visiting),
            Instruction::Copy(c) => self.copy(stage, cmd, c, visiting),
            Instruction::Workdir(p) => self.workdir(stage, cmd, p),
            Instruction::Env(pairs) => env::env(stage, pairs, self.escape),
            Instruction::Arg(args) => {
                arg::arg(stage, args, self.opts, &self.stages.meta, self.escape)
            }
            Instruction::From(_) => Err(ConvertError::NoStage.into()),
            other => config::apply(stage, other, self.escape),
        };
        result.map_err(|e| match e {
            StepError::Convert(error) => convert_err(&file, self.source, cmd, error),
            StepError::Frontend(f) => *f,
        })?;
        if stage.node != before {
            let name = self.graph.node(stage.node).name.clone();
            self.steps.entry(name).or_insert((cmd.line, cmd.end_line));
        }
        Ok(())
    }
}

#[cfg(test)]
mod platform_tests;
#[cfg(test)]
mod tests;
