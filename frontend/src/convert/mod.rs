//! Dockerfile to build graph: walks the stages the target needs and turns
//! each instruction into graph nodes and image-config edits.
//!
//! This file only routes; every instruction family lives in its own file.

mod arg;
mod config;
mod copy;
mod deps;
mod env;
mod from;
mod mount;
mod run;
mod stages;
mod state;
mod trace;
mod workdir;

pub use trace::{LegacyKind, LegacyStep};

use crate::diagnostic::Span;
use crate::instructions::{Command, Instruction, InstructionError};
use crate::parser::ParseError;
use crate::shell_lex::LexError;
use crate::{BuildPlan, CompileOptions, ImageResolver};
use mybuild_graph::{Graph, NodeId};
use stages::{StageDef, Stages};
use state::Stage;
use std::collections::BTreeMap;

/// What went wrong converting one instruction.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{0}")]
    Expand(#[from] LexError),
    #[error("resolving image {reference:?}: {message}")]
    Resolve { reference: String, message: String },
    #[error("base image {reference:?}: {message}")]
    BaseConfig { reference: String, message: String },
    #[error("undefined stage or image {name:?} in --from: {message}")]
    UndefinedStage { name: String, message: String },
    #[error("circular dependency detected on stage {0:?}")]
    Circular(String),
    #[error("{0} is not supported yet")]
    Unsupported(String),
    #[error("invalid {what} {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error("ONBUILD trigger {trigger:?}: {message}")]
    Trigger { trigger: String, message: String },
    #[error("no build stage in current context")]
    NoStage,
}

impl ConvertError {
    /// The text in the instruction this error is about, to point at.
    fn needle(&self) -> Option<&str> {
        match self {
            ConvertError::Expand(e) => Some(e.word()),
            ConvertError::Resolve { reference, .. }
            | ConvertError::BaseConfig { reference, .. } => Some(reference),
            ConvertError::UndefinedStage { name, .. } | ConvertError::Circular(name) => Some(name),
            ConvertError::Invalid { value, .. } => Some(value),
            ConvertError::Unsupported(_) | ConvertError::Trigger { .. } | ConvertError::NoStage => {
                None
            }
        }
    }
}

/// A compile failure, naming the Dockerfile, line and column, and showing
/// the line with the offending text underlined.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("{file}:{}:{}: {}\n{span}", span.line, span.column, .error.kind)]
    Parse {
        file: String,
        error: ParseError,
        span: Box<Span>,
    },
    #[error("{file}:{}:{}: {error}\n{span}", span.line, span.column)]
    Instruction {
        file: String,
        error: InstructionError,
        span: Box<Span>,
    },
    #[error("{file}:{}:{}: {error}\n{span}", span.line, span.column)]
    Convert {
        file: String,
        error: Box<ConvertError>,
        span: Box<Span>,
    },
    #[error("{file}: target stage {target:?} could not be found")]
    TargetNotFound { file: String, target: String },
    #[error("{file}: the Dockerfile has no FROM instruction")]
    NoStages { file: String },
}

impl FrontendError {
    /// The line the error points at, when it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            FrontendError::Parse { span, .. }
            | FrontendError::Instruction { span, .. }
            | FrontendError::Convert { span, .. } => Some(span.line),
            _ => None,
        }
    }
}

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
    };
    conv.built = vec![None; conv.stages.defs.len()];
    conv.trace_global_args();
    // The classic builder builds every stage up to the target, used or not.
    let first = if legacy { 0 } else { target };
    for i in first..target {
        conv.build_stage(i, &mut Vec::new())?;
    }
    let stage = conv.build_stage(target, &mut Vec::new())?;
    let plan = BuildPlan {
        graph: conv.graph,
        target: stage.node,
        config: stage.config.to_value(),
        steps: conv.steps,
    };
    Ok((plan, conv.trace.unwrap_or_default()))
}

fn convert_err(file: &str, source: &str, cmd: &Command, error: ConvertError) -> FrontendError {
    FrontendError::Convert {
        file: file.into(),
        span: Box::new(Span::locate(source, cmd.line, cmd.end_line, error.needle())),
        error: Box::new(error),
    }
}

/// Conversion state shared by all stages.
pub(crate) struct Converter<'a> {
    opts: &'a CompileOptions,
    resolver: &'a dyn ImageResolver,
    graph: Graph,
    /// The build context node, added on first use.
    context: Option<NodeId>,
    stages: Stages,
    /// Finished stages by index.
    built: Vec<Option<Stage>>,
    escape: char,
    /// The Dockerfile text, for pointing errors at a column.
    source: &'a str,
    /// Lines of each step node, by name (see [`BuildPlan::steps`]).
    steps: BTreeMap<String, (usize, usize)>,
    /// The legacy mode's step list, when asked for.
    trace: Option<Vec<LegacyStep>>,
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
        let order = deps::build_order(&self.stages, i, |j| self.built[j].is_some());
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
        for cmd in &def.commands {
            self.dispatch(&mut stage, cmd, visiting)?;
            self.trace(i, cmd, &stage, trace::kind_of(cmd));
        }
        visiting.pop();
        self.built[i] = Some(stage.clone());
        Ok(stage)
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

/// Errors of a step: its own, or one from a stage it pulled in.
pub(crate) enum StepError {
    Convert(ConvertError),
    Frontend(Box<FrontendError>),
}

impl From<ConvertError> for StepError {
    fn from(e: ConvertError) -> Self {
        StepError::Convert(e)
    }
}

impl From<LexError> for StepError {
    fn from(e: LexError) -> Self {
        StepError::Convert(e.into())
    }
}

#[cfg(test)]
mod tests;
