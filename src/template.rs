//! The part of Go's `text/template` that `docker ... --format` users
//! write: `{{.A.B}}`, `{{.}}`, `{{$.A}}`, `{{json .A}}`,
//! `{{index .A "k"}}`, `{{join .A ","}}`, `{{upper .A}}`, `{{lower .A}}`,
//! pipes (`{{.A | json}}`), `{{range .A}}...{{end}}` and `{{-`/`-}}`
//! trimming, over JSON values.
//!
//! Values print as Go's `fmt` prints them, because that is what scripts
//! written against Docker parse: strings bare, slices `[a b]`, maps
//! `map[k:v]` (keys sorted), a missing value `<no value>`. A field that
//! does not exist is an error, as it is for Docker's typed structs, except
//! inside the config's maps (labels, ports, volumes), where Go returns the
//! zero value.

use serde_json::Value;

/// What was wrong with a template, in Go's words (`template: :1:2: ...`).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template: :{line}: unclosed action")]
    Unclosed { line: usize },
    #[error("template: :{line}: unexpected {{{{end}}}}")]
    UnexpectedEnd { line: usize },
    #[error("template: :{line}: unexpected EOF (a {{{{range}}}} has no {{{{end}}}})")]
    MissingEnd { line: usize },
    #[error("template: :{line}: function {name:?} not defined")]
    UnknownFunction { line: usize, name: String },
    #[error("template: :{line}: bad expression {expr:?}: {why}")]
    BadExpression {
        line: usize,
        expr: String,
        why: &'static str,
    },
    #[error(
        "template: :{line}:{column}: executing \"\" at <{expr}>: can't evaluate field {field}"
    )]
    NoField {
        line: usize,
        column: usize,
        expr: String,
        field: String,
    },
    #[error("template: :{line}:{column}: executing \"\" at <{expr}>: error calling {func}: {why}")]
    Call {
        line: usize,
        column: usize,
        expr: String,
        func: &'static str,
        why: String,
    },
}

/// Objects that are Go maps in Docker's types: a missing key is no error.
const MAP_FIELDS: [&str; 3] = ["Labels", "ExposedPorts", "Volumes"];

/// A parsed template, ready to run over any number of values.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    Range(Pipeline, Vec<Node>),
}

/// `cmd | cmd | ...`, with where it starts for errors.
#[derive(Debug)]
struct Pipeline {
    cmds: Vec<Vec<Arg>>,
    text: String,
    line: usize,
    column: usize,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (from the dot) or `$.A.B` (from the root).
    Field {
        root: bool,
        path: Vec<String>,
    },
    Str(String),
    Int(i64),
    Func(&'static str),
}

const FUNCS: [&str; 5] = ["json", "index", "join", "upper", "lower"];

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut stack: Vec<(Option<Pipeline>, Vec<Node>)> = vec![(None, Vec::new())];
        for piece in lex(src)? {
            let nodes = &mut stack.last_mut().expect("root frame").1;
            match piece {
                Piece::Text(t) => nodes.push(Node::Text(t)),
                Piece::Action { text, offset } => {
                    let (line, column) = position(src, offset);
                    if text == "end" {
                        let (Some(p), body) = stack.pop().expect("frame") else {
                            return Err(TemplateError::UnexpectedEnd { line });
                        };
                        let parent = &mut stack.last_mut().expect("root frame").1;
                        parent.push(Node::Range(p, body));
                    } else if let Some(rest) = text.strip_prefix("range ") {
                        let p = parse_pipeline(rest.trim(), line, column + 6)?;
                        stack.push((Some(p), Vec::new()));
                    } else {
                        nodes.push(Node::Action(parse_pipeline(&text, line, column)?));
                    }
                }
            }
        }
        let (open, nodes) = stack.pop().expect("root frame");
        if let Some(p) = open {
            return Err(TemplateError::MissingEnd { line: p.line });
        }
        Ok(Template { nodes })
    }

    /// The template run over `data`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        run(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }
}

enum Piece {
    Text(String),
    Action { text: String, offset: usize },
}

/// Text and `{{actions}}`, with `{{-` and `-}}` trimming the space beside them.
fn lex(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut trim_next = false;
    while let Some(start) = src[at..].find("{{").map(|i| at + i) {
        let mut text = &src[at..start];
        if trim_next {
            text = text.trim_start();
        }
        let close = src[start..]
            .find("}}")
            .map(|i| start + i)
            .ok_or(TemplateError::Unclosed {
                line: position(src, start).0,
            })?;
        let mut inner = &src[start + 2..close];
        let mut offset = start + 2;
        if let Some(rest) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = rest;
            offset += 2;
        }
        trim_next = inner.ends_with(" -");
        if trim_next {
            inner = &inner[..inner.len() - 2];
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_string()));
        }
        let lead = inner.len() - inner.trim_start().len();
        out.push(Piece::Action {
            text: inner.trim().to_string(),
            offset: offset + lead,
        });
        at = close + 2;
    }
    let mut text = &src[at..];
    if trim_next {
        text = text.trim_start();
    }
    if !text.is_empty() {
        out.push(Piece::Text(text.to_string()));
    }
    Ok(out)
}

/// 1-based line and 0-based byte column of `offset`, as Go reports them.
fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1);
    (line, column)
}

fn parse_pipeline(text: &str, line: usize, column: usize) -> Result<Pipeline, TemplateError> {
    let bad = |why| TemplateError::BadExpression {
        line,
        expr: text.to_string(),
        why,
    };
    let mut cmds = Vec::new();
    for stage in split_outside_quotes(text, '|') {
        let mut args = Vec::new();
        for word in split_outside_quotes(&stage, ' ') {
            args.push(parse_arg(&word, line).map_err(|e| e.unwrap_or_else(|| bad("bad word")))?);
        }
        if args.is_empty() {
            return Err(bad("empty command"));
        }
        cmds.push(args);
    }
    if cmds.is_empty() {
        return Err(bad("empty action"));
    }
    Ok(Pipeline {
        cmds,
        text: text.to_string(),
        line,
        column,
    })
}

/// Words of `s` split at `sep`, except inside "double quotes"; empty words dropped.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        if c == sep && !quoted {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        if quoted && c == '"' && !escaped {
            quoted = false;
        } else if !quoted && c == '"' {
            quoted = true;
        }
        escaped = quoted && c == '\\' && !escaped;
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// One word of a command; `Err(None)` when it is malformed.
fn parse_arg(word: &str, line: usize) -> Result<Arg, Option<TemplateError>> {
    let field = |rest: &str| -> Vec<String> {
        rest.split('.')
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect()
    };
    if let Some(rest) = word.strip_prefix('$') {
        if !(rest.is_empty() || rest.starts_with('.')) {
            return Err(None);
        }
        return Ok(Arg::Field {
            root: true,
            path: field(rest),
        });
    }
    if let Some(rest) = word.strip_prefix('.') {
        return Ok(Arg::Field {
            root: false,
            path: field(rest),
        });
    }
    if word.starts_with('"') {
        return serde_json::from_str(word).map(Arg::Str).map_err(|_| None);
    }
    if let Ok(n) = word.parse() {
        return Ok(Arg::Int(n));
    }
    match FUNCS.iter().find(|f| **f == word) {
        Some(f) => Ok(Arg::Func(f)),
        None => Err(Some(TemplateError::UnknownFunction {
            line,
            name: word.to_string(),
        })),
    }
}

fn run(nodes: &[Node], dot: &Value, root: &Value, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval(p, dot, root)?;
                out.push_str(&go_print(&v, true));
            }
            Node::Range(p, body) => match eval(p, dot, root)? {
                Value::Array(items) => {
                    for item in &items {
                        run(body, item, root, out)?;
                    }
                }
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for k in keys {
                        run(body, &map[k], root, out)?;
                    }
                }
                // Go ranges over nothing for nil, and refuses scalars;
                // nothing is the kinder reading here.
                _ => {}
            },
        }
    }
    Ok(())
}

fn eval(p: &Pipeline, dot: &Value, root: &Value) -> Result<Value, TemplateError> {
    let mut last: Option<Value> = None;
    for cmd in &p.cmds {
        let mut values = Vec::new();
        for arg in cmd.iter().skip(1) {
            values.push(arg_value(arg, p, dot, root)?);
        }
        values.extend(last.take());
        last = Some(match &cmd[0] {
            Arg::Func(f) => call(f, values, p)?,
            first if values.is_empty() => arg_value(first, p, dot, root)?,
            _ => {
                return Err(TemplateError::BadExpression {
                    line: p.line,
                    expr: p.text.clone(),
                    why: "only a function takes arguments",
                })
            }
        });
    }
    Ok(last.unwrap_or(Value::Null))
}

fn arg_value(arg: &Arg, p: &Pipeline, dot: &Value, root: &Value) -> Result<Value, TemplateError> {
    match arg {
        Arg::Field { root: r, path } => lookup(if *r { root } else { dot }, path, p),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Int(n) => Ok(Value::from(*n)),
        Arg::Func(f) => call(f, Vec::new(), p),
    }
}

/// `.A.B` in `v`; a missing field is an error unless its parent is a map.
fn lookup(v: &Value, path: &[String], p: &Pipeline) -> Result<Value, TemplateError> {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        let in_map = i > 0 && MAP_FIELDS.contains(&path[i - 1].as_str());
        match cur {
            Value::Object(m) => match m.get(key) {
                Some(next) => cur = next,
                None if in_map => return Ok(Value::Null),
                None => return Err(no_field(p, key)),
            },
            Value::Null => return Ok(Value::Null),
            _ => return Err(no_field(p, key)),
        }
    }
    Ok(cur.clone())
}

fn no_field(p: &Pipeline, key: &str) -> TemplateError {
    TemplateError::NoField {
        line: p.line,
        column: p.column,
        expr: p.text.clone(),
        field: key.to_string(),
    }
}

fn call(f: &'static str, args: Vec<Value>, p: &Pipeline) -> Result<Value, TemplateError> {
    let fail = |why: String| TemplateError::Call {
        line: p.line,
        column: p.column,
        expr: p.text.clone(),
        func: f,
        why,
    };
    let want = |n: usize| {
        (args.len() == n).then_some(()).ok_or_else(|| {
            fail(format!(
                "wrong number of args: want {n}, got {}",
                args.len()
            ))
        })
    };
    match f {
        "json" => {
            want(1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "upper" | "lower" => {
            want(1)?;
            let s = go_print(&args[0], true);
            Ok(Value::String(match f {
                "upper" => s.to_uppercase(),
                _ => s.to_lowercase(),
            }))
        }
        "join" => {
            want(2)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(|v| go_print(v, false)).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => return Err(fail(format!("cannot join {}", go_print(other, false)))),
            };
            Ok(Value::String(items.join(&go_print(&args[1], true))))
        }
        _ => index(&args, &fail),
    }
}

/// `index X k...`: a map's missing key is the zero value, as in Go.
fn index(args: &[Value], fail: &dyn Fn(String) -> TemplateError) -> Result<Value, TemplateError> {
    let (first, keys) = args
        .split_first()
        .ok_or_else(|| fail("index of nothing".to_string()))?;
    let mut cur = first.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Object(m), Value::String(s)) => m.get(s).cloned().unwrap_or(json_empty()),
            (Value::Null, _) => json_empty(),
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_u64().and_then(|i| usize::try_from(i).ok());
                match i.and_then(|i| a.get(i)) {
                    Some(v) => v.clone(),
                    None => return Err(fail(format!("index out of range: {n}"))),
                }
            }
            _ => {
                return Err(fail(format!(
                    "cannot index {} with {k}",
                    go_print(&cur, false)
                )))
            }
        };
    }
    Ok(cur)
}

fn json_empty() -> Value {
    Value::String(String::new())
}

/// `v` as Go's `fmt.Print` shows it; `top` is whether it stands alone
/// (a nil there prints `<no value>`, inside a slice `<nil>`).
pub fn go_print(v: &Value, top: bool) -> String {
    match v {
        Value::Null if top => "<no value>".to_string(),
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| go_print(x, false)).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_print(&m[*k], false)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> Result<String, TemplateError> {
        Template::parse(t)?.render(v)
    }

    fn image() -> Value {
        json!({
            "Id": "sha256:ab",
            "RepoTags": ["a:1", "b:2"],
            "RepoDigests": [],
            "Os": "linux",
            "Size": 1234,
            "Variant": null,
            "Config": {"Cmd": ["sh", "-c", "x y"], "Env": ["A=1"],
                       "Labels": {"k": "v", "a": "b"}},
        })
    }

    #[test]
    fn fields_print_as_go_prints_them() {
        let v = image();
        assert_eq!(render("{{.Id}} {{.Os}}", &v).unwrap(), "sha256:ab linux");
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c x y]");
        assert_eq!(render("{{.Config.Labels}}", &v).unwrap(), "map[a:b k:v]");
        assert_eq!(render("{{.RepoDigests}}", &v).unwrap(), "[]");
        assert_eq!(render("{{.Size}}", &v).unwrap(), "1234");
        assert_eq!(render("{{.Variant}}", &v).unwrap(), "<no value>");
        assert_eq!(render("{{$.Os}}", &v).unwrap(), "linux");
        assert_eq!(render("plain", &v).unwrap(), "plain");
    }

    #[test]
    fn functions_and_pipes() {
        let v = image();
        assert_eq!(render("{{json .Config.Env}}", &v).unwrap(), r#"["A=1"]"#);
        assert_eq!(render("{{.Config.Env | json}}", &v).unwrap(), r#"["A=1"]"#);
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, &v).unwrap(), "v");
        assert_eq!(render(r#"{{index .Config.Labels "no"}}"#, &v).unwrap(), "");
        assert_eq!(render("{{index .RepoTags 1}}", &v).unwrap(), "b:2");
        assert!(render("{{index .RepoTags 5}}", &v).is_err());
        assert_eq!(
            render(r#"{{join .RepoTags ", "}}"#, &v).unwrap(),
            "a:1, b:2"
        );
        assert_eq!(render("{{upper .Os}}", &v).unwrap(), "LINUX");
        assert_eq!(
            render("{{json .}}", &json!({"a": [1]})).unwrap(),
            r#"{"a":[1]}"#
        );
    }

    #[test]
    fn range_and_trimming() {
        let v = image();
        assert_eq!(
            render("{{range .RepoTags}}{{.}} {{end}}", &v).unwrap(),
            "a:1 b:2 "
        );
        assert_eq!(
            render("{{range .RepoTags}}{{$.Os}}{{end}}", &v).unwrap(),
            "linuxlinux"
        );
        assert_eq!(render("{{range .RepoDigests}}x{{end}}", &v).unwrap(), "");
        assert_eq!(
            render("{{range .Config.Labels}}{{.}},{{end}}", &v).unwrap(),
            "b,v,"
        );
        assert_eq!(render("a  {{- .Os -}}  b", &v).unwrap(), "alinuxb");
    }

    #[test]
    fn unknown_fields_and_bad_templates_fail_as_in_go() {
        let v = image();
        let err = render("x {{.Nope}}", &v).unwrap_err().to_string();
        assert_eq!(
            err,
            "template: :1:4: executing \"\" at <.Nope>: can't evaluate field Nope"
        );
        assert!(render("{{.Config.Nope}}", &v).is_err());
        assert!(render("{{.Id.Nope}}", &v).is_err());
        assert_eq!(render("{{.Config.Labels.nope}}", &v).unwrap(), "<no value>");
        assert!(matches!(
            render("{{.Id", &v),
            Err(TemplateError::Unclosed { .. })
        ));
        assert!(matches!(
            render("{{range .RepoTags}}", &v),
            Err(TemplateError::MissingEnd { .. })
        ));
        assert!(matches!(
            render("{{end}}", &v),
            Err(TemplateError::UnexpectedEnd { .. })
        ));
        assert!(matches!(
            render("{{nope .Id}}", &v),
            Err(TemplateError::UnknownFunction { .. })
        ));
    }
}
