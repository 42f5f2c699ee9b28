//! COPY and ADD: one file node copying from the build context, another
//! stage or an image into the stage's filesystem.

use super::converter::Converter;
use super::copy_words::{base_action, expand_sources, url_filename, Sources};
use super::error::{ConvertError, StepError};
use super::state::Stage;
use crate::instructions::{Command, Copy};
use crate::parser::{chomp_heredoc, Heredoc};
use crate::NamedContext;
use mybuild_graph::{
    CopyAction, FileAction, FileOp, HttpSource, LocalSource, MkfileAction, NodeId, Op,
};

impl Converter<'_> {
    pub(super) fn copy(
        &mut self,
        stage: &mut Stage,
        cmd: &Command,
        c: &Copy,
        visiting: &mut Vec<usize>,
    ) -> Result<(), StepError> {
        let kw = if c.add { "ADD" } else { "COPY" };
        let sources = expand_sources(stage, c, self.escape)?;
        let raw_dest = stage.expand(&c.dest, self.escape)?;
        // `--chown=$UNSET` is no --chown at all, as in BuildKit.
        let owner_spec = match &c.chown {
            Some(o) => Some(stage.expand(o, self.escape)?).filter(|o| !o.is_empty()),
            None => None,
        };
        let base = base_action(stage, c, &sources, &raw_dest, owner_spec.as_deref())?;
        let mut inputs = vec![stage.node];
        let actions = self.copy_actions(stage, c, &sources, &base, &mut inputs, visiting)?;
        let op = Op::File(FileOp {
            actions,
            clamp_mtime: self.epoch,
        });
        let name = stage.step_name_for(&cmd.original, self.escape);
        // `--link`: the copy starts from an empty tree, so its cache key
        // does not depend on the stage below. Owner names need the stage's
        // /etc/passwd, so they keep the ordinary copy.
        let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let names_free = match owner_spec.as_deref() {
            None => true,
            Some(o) => o.split(':').all(numeric),
        };
        if c.link && names_free {
            inputs[0] = self.graph.add(Op::Scratch, vec![], "FROM scratch");
            let layer = self.graph.add(op, inputs, name.clone());
            stage.node = self.graph.add(Op::Merge, vec![stage.node, layer], name);
        } else {
            stage.node = self.graph.add(op, inputs, name);
        }
        let all = sources.words(&c.inline);
        let history = format!("{kw} {} {raw_dest} # buildkit", all.join(" "));
        stage.config.push_history(&history, true);
        Ok(())
    }

    /// The copy actions, one per source input, adding each input node (the
    /// context or `--from` source, then URLs, git repositories, then
    /// heredocs) to `inputs`.
    fn copy_actions(
        &mut self,
        stage: &Stage,
        c: &Copy,
        sources: &Sources,
        base: &CopyAction,
        inputs: &mut Vec<NodeId>,
        visiting: &mut Vec<usize>,
    ) -> Result<Vec<FileAction>, StepError> {
        let mut actions = Vec::new();
        // Only the context or stage copy unpacks archives, keeps parents
        // or excludes.
        if !sources.paths.is_empty() {
            let source = match &c.from {
                Some(from) => self.copy_source(from, visiting)?,
                None => self.context_node(),
            };
            inputs.push(source);
            actions.push(FileAction::Copy(CopyAction {
                source: 1,
                src: sources.paths.clone(),
                extract_archives: c.add,
                parents: c.parents,
                exclude: sources.excludes.clone(),
                ..base.clone()
            }));
        }
        for url in &sources.urls {
            let filename = url_filename(url);
            let op = Op::Http(HttpSource {
                url: url.clone(),
                checksum: sources.checksum.clone(),
                filename: filename.clone(),
            });
            let node = self.graph.add(op, vec![], url.clone());
            actions.push(FileAction::Copy(copy_from(base, inputs, node, filename)));
        }
        for git in &sources.gits {
            let name = format!("[internal] load git source {}", git.remote);
            let node = self.graph.add(Op::Git(git.clone()), vec![], name);
            actions.push(FileAction::Copy(copy_from(base, inputs, node, ".".into())));
        }
        for doc in &c.inline {
            let node = self.document_node(stage, doc)?;
            let action = copy_from(base, inputs, node, doc.name.clone());
            actions.push(FileAction::Copy(action));
        }
        Ok(actions)
    }

    /// A heredoc of COPY as a file of its own on an empty filesystem, so
    /// the copy that follows treats it like any other source.
    fn document_node(&mut self, stage: &Stage, doc: &Heredoc) -> Result<NodeId, StepError> {
        let mut data = if doc.chomp {
            chomp_heredoc(&doc.content)
        } else {
            doc.content.clone()
        };
        if doc.expand {
            data = stage.expand_document(&data, self.escape)?;
        }
        let scratch = self.graph.add(Op::Scratch, vec![], "FROM scratch");
        let op = Op::File(FileOp {
            actions: vec![FileAction::Mkfile(MkfileAction {
                path: format!("/{}", doc.name),
                data,
                mode: 0o644,
            })],
            clamp_mtime: self.epoch,
        });
        Ok(self
            .graph
            .add(op, vec![scratch], "[internal] preparing inline document"))
    }

    pub(super) fn context_node(&mut self) -> NodeId {
        if let Some(id) = self.context {
            return id;
        }
        let op = Op::Local(LocalSource {
            name: "context".into(),
            exclude: self.opts.dockerignore.clone(),
        });
        let id = self.graph.add(op, vec![], "[internal] load build context");
        self.context = Some(id);
        id
    }

    /// The local source a `--build-context NAME=DIR` is read from.
    pub(super) fn named_local_node(&mut self, local: &str) -> NodeId {
        let op = Op::Local(LocalSource {
            name: local.to_string(),
            exclude: Vec::new(),
        });
        self.graph
            .add(op, vec![], format!("[internal] load build context {local}"))
    }

    /// A filesystem holding a named context directory's files: what
    /// `FROM NAME` starts from (BuildKit's local source as a stage).
    pub(super) fn named_local_tree(&mut self, local: &str) -> NodeId {
        let source = self.named_local_node(local);
        let scratch = self.graph.add(Op::Scratch, vec![], "FROM scratch");
        let copy = CopyAction {
            source: 1,
            src: vec!["/".into()],
            dest: "/".into(),
            owner: None,
            mode: None,
            extract_archives: false,
            parents: false,
            exclude: Vec::new(),
        };
        let op = Op::File(FileOp {
            actions: vec![FileAction::Copy(copy)],
            clamp_mtime: self.epoch,
        });
        self.graph
            .add(op, vec![scratch, source], format!("FROM {local}"))
    }

    /// `--from=`: a stage by name or index, else an image reference.
    pub(super) fn copy_source(
        &mut self,
        from: &str,
        visiting: &mut Vec<usize>,
    ) -> Result<NodeId, StepError> {
        let from = self.stages.meta.expand(from)?;
        match self.opts.named_contexts.get(&from) {
            Some(NamedContext::Local(local)) => return Ok(self.named_local_node(local)),
            Some(NamedContext::Image(reference)) => return Ok(self.image_node(reference)?),
            None => {}
        }
        if let Some(j) = self.stages.by_name_or_index(&from) {
            return match self.build_stage(j, visiting) {
                Ok(stage) => Ok(stage.node),
                Err(e) => Err(StepError::Frontend(Box::new(e))),
            };
        }
        self.image_node(&from).map_err(|e| match e {
            ConvertError::Resolve { message, .. } if looks_like_stage_name(&from) => {
                ConvertError::UndefinedStage {
                    name: from.clone(),
                    message,
                }
                .into()
            }
            other => other.into(),
        })
    }
}

/// `base` copying `src` from `node`, which becomes the next input.
fn copy_from(base: &CopyAction, inputs: &mut Vec<NodeId>, node: NodeId, src: String) -> CopyAction {
    inputs.push(node);
    CopyAction {
        source: (inputs.len() - 1) as u32,
        src: vec![src],
        ..base.clone()
    }
}

fn looks_like_stage_name(s: &str) -> bool {
    !s.contains(['/', ':', '@', '.'])
}
