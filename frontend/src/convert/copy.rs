//! COPY and ADD: one file node copying from the build context, another
//! stage or an image into the stage's filesystem.

use super::converter::Converter;
use super::error::{ConvertError, StepError};
use super::state::{resolve_path, Stage};
use crate::instructions::{Command, Copy};
use crate::parser::{chomp_heredoc, Heredoc};
use mybuild_graph::{
    CopyAction, Digest, FileAction, FileOp, HttpSource, LocalSource, MkfileAction, NodeId, Op,
    Owner,
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
        let excludes = c
            .exclude
            .iter()
            .map(|p| stage.expand(p, self.escape))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut srcs, mut urls) = (Vec::new(), Vec::new());
        for s in &c.srcs {
            let s = stage.expand(s, self.escape)?;
            match remote_kind(&s) {
                None => srcs.push(s),
                Some(_) if !c.add => {
                    return Err(invalid("COPY source (a URL needs ADD)", &s).into())
                }
                Some(Remote::Http) => urls.push(s),
                Some(Remote::Git) => {
                    return Err(ConvertError::Unsupported(format!("ADD from git ({s})")).into())
                }
            }
        }
        let checksum = match &c.checksum {
            None => None,
            Some(_) if !srcs.is_empty() || urls.len() != 1 => {
                return Err(invalid(
                    "ADD --checksum (needs one HTTP(S) source)",
                    &c.srcs.join(" "),
                )
                .into())
            }
            Some(sum) => {
                let sum = stage.expand(sum, self.escape)?;
                Some(Digest::parse(&sum).map_err(|_| invalid("ADD --checksum", &sum))?)
            }
        };
        let raw_dest = stage.expand(&c.dest, self.escape)?;
        let dest = dest_path(&stage.workdir(), &raw_dest);
        // `--chown=$UNSET` is no --chown at all, as in BuildKit.
        let owner_spec = match &c.chown {
            Some(o) => Some(stage.expand(o, self.escape)?).filter(|o| !o.is_empty()),
            None => None,
        };
        let owner = owner_spec.as_deref().map(parse_owner).transpose()?;
        let mode = c.chmod.as_deref().map(parse_chmod).transpose()?;
        // Several sources go one after the other to the same path, as in
        // BuildKit (Docker 20.10), which has no check for a missing `/`;
        // documents, which it lacks, always go into a directory.
        let several = srcs.len() + urls.len() + c.inline.len() > 1;
        let dest = if several && !c.inline.is_empty() && !dest.ends_with('/') {
            format!("{dest}/")
        } else {
            dest
        };
        let mut inputs = vec![stage.node];
        let mut actions = Vec::new();
        // One copy action per source input; only the context or stage copy
        // unpacks archives, keeps parents or excludes.
        let base = CopyAction {
            source: 0,
            src: Vec::new(),
            dest,
            owner,
            mode,
            extract_archives: false,
            parents: false,
            exclude: Vec::new(),
        };
        let copy_from = |inputs: &mut Vec<NodeId>, node: NodeId, src: String| {
            inputs.push(node);
            CopyAction {
                source: (inputs.len() - 1) as u32,
                src: vec![src],
                ..base.clone()
            }
        };
        if !srcs.is_empty() {
            let source = match &c.from {
                Some(from) => self.copy_source(from, visiting)?,
                None => self.context_node(),
            };
            inputs.push(source);
            actions.push(FileAction::Copy(CopyAction {
                source: 1,
                src: srcs.clone(),
                extract_archives: c.add,
                parents: c.parents,
                exclude: excludes,
                ..base.clone()
            }));
        }
        for url in &urls {
            let filename = url_filename(url);
            let op = Op::Http(HttpSource {
                url: url.clone(),
                checksum: checksum.clone(),
                filename: filename.clone(),
            });
            let node = self.graph.add(op, vec![], url.clone());
            actions.push(FileAction::Copy(copy_from(&mut inputs, node, filename)));
        }
        for doc in &c.inline {
            let node = self.document_node(stage, doc)?;
            actions.push(FileAction::Copy(copy_from(
                &mut inputs,
                node,
                doc.name.clone(),
            )));
        }
        let op = Op::File(FileOp { actions });
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
        let docs = c.inline.iter().map(|d| format!("<<{}", d.name));
        let all: Vec<String> = srcs.iter().chain(&urls).cloned().chain(docs).collect();
        let history = format!("{kw} {} {raw_dest} # buildkit", all.join(" "));
        stage.config.push_history(&history, true);
        Ok(())
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

    /// `--from=`: a stage by name or index, else an image reference.
    pub(super) fn copy_source(
        &mut self,
        from: &str,
        visiting: &mut Vec<usize>,
    ) -> Result<NodeId, StepError> {
        let from = self.stages.meta.expand(from)?;
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

fn looks_like_stage_name(s: &str) -> bool {
    !s.contains(['/', ':', '@', '.'])
}

enum Remote {
    Http,
    Git,
}

fn remote_kind(src: &str) -> Option<Remote> {
    if src.starts_with("http://") || src.starts_with("https://") {
        let git = src
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .ends_with(".git");
        return Some(if git { Remote::Git } else { Remote::Http });
    }
    ["git@", "git://", "ssh://"]
        .iter()
        .any(|p| src.starts_with(p))
        .then_some(Remote::Git)
}

fn invalid(what: &'static str, value: &str) -> ConvertError {
    ConvertError::Invalid {
        what,
        value: value.into(),
    }
}

/// The file name `ADD <url> dir/` gives: the URL path's last segment.
fn url_filename(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    // Never a name that walks out of the directory it is written into.
    match path.split_once('/') {
        Some((_, p)) => p
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != "." && *n != ".."),
        None => None,
    }
    .unwrap_or("__unnamed__")
    .to_string()
}

/// The absolute destination; a trailing `/` (or `.`) means "into".
fn dest_path(workdir: &str, dest: &str) -> String {
    let mut path = if dest.starts_with('/') {
        dest.to_string()
    } else {
        resolve_path(workdir, dest)
    };
    let into = dest.ends_with('/') || dest == "." || dest.is_empty() || dest.ends_with("/.");
    if into && !path.ends_with('/') {
        path.push('/');
    }
    path
}

fn parse_owner(spec: &str) -> Result<Owner, ConvertError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g.to_string())),
        None => (spec, None),
    };
    if user.is_empty() || group.as_deref() == Some("") {
        return Err(ConvertError::Invalid {
            what: "--chown",
            value: spec.into(),
        });
    }
    Ok(Owner {
        user: user.into(),
        group,
    })
}

fn parse_chmod(spec: &str) -> Result<u32, ConvertError> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ConvertError::Invalid {
            what: "--chmod (expected octal)",
            value: spec.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_come_from_the_url_path() {
        assert_eq!(url_filename("https://h/a/b/tool.tgz?x=1"), "tool.tgz");
        assert_eq!(url_filename("http://h:8080/f#frag"), "f");
        assert_eq!(url_filename("https://h/"), "__unnamed__");
        assert_eq!(url_filename("https://h"), "__unnamed__");
        assert_eq!(url_filename("https://h/a/.."), "__unnamed__");
        assert_eq!(url_filename("https://h/a/."), "__unnamed__");
    }

    #[test]
    fn dest_is_absolute_and_keeps_into_slash() {
        assert_eq!(dest_path("/e", "."), "/e/");
        assert_eq!(dest_path("/w", "sub/"), "/w/sub/");
        assert_eq!(dest_path("/w", "f"), "/w/f");
        assert_eq!(dest_path("/", "/dst/"), "/dst/");
    }

    #[test]
    fn parses_owner_and_mode() {
        assert_eq!(
            parse_owner("1:2").unwrap(),
            Owner {
                user: "1".into(),
                group: Some("2".into())
            }
        );
        assert_eq!(
            parse_owner("nobody").unwrap(),
            Owner {
                user: "nobody".into(),
                group: None
            }
        );
        assert!(parse_owner(":x").is_err());
        assert_eq!(parse_chmod("0640").unwrap(), 0o640);
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("99").is_err());
    }
}
