//! The syntax tree the parser produces: a Dockerfile, its instructions and
//! their heredoc bodies, as written.

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives (`# syntax=...`, `# escape=...`), lowercased names.
    pub directives: Vec<(String, String)>,
    /// The escape token in force (`\` or `` ` ``).
    pub escape: char,
    pub instructions: Vec<Node>,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword as written (case preserved).
    pub keyword: String,
    /// `--flag[=value]` words before the arguments, quotes removed.
    pub flags: Vec<String>,
    /// The arguments in the instruction's shape: one string for shell form,
    /// one per element for JSON form, `key value sep` triples for ENV/LABEL.
    pub args: Vec<String>,
    /// The arguments were a JSON string array (exec form).
    pub json: bool,
    /// ONBUILD's nested instruction.
    pub sub: Option<Box<Node>>,
    /// Heredoc bodies this instruction reads, in order.
    pub heredocs: Vec<Heredoc>,
    /// The logical line after continuation joining.
    pub original: String,
    /// 1-based first and last physical lines.
    pub start_line: usize,
    pub end_line: usize,
}

impl Node {
    /// The keyword lowercased, as the dispatcher compares it.
    pub fn command(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }
}

/// A `<<NAME` document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Every body line with its newline.
    pub content: String,
    /// The delimiter was unquoted, so `$VAR` in the body is expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and the terminator.
    pub chomp: bool,
    /// `3<<EOF` names a file descriptor; 0 when not given.
    pub fd: u32,
}
