use super::*;

fn one(text: &str) -> Node {
    let df = parse(text).unwrap();
    assert_eq!(df.instructions.len(), 1, "{text:?}");
    df.instructions.into_iter().next().unwrap()
}

#[test]
fn joins_continuations_dropping_comments_and_blank_lines() {
    let n = one("RUN a \\\n# c\n\n   b \\\n  c\n");
    assert_eq!(n.args, vec!["a    b   c"]);
    assert_eq!((n.start_line, n.end_line), (1, 5));
}

#[test]
fn handles_bom_crlf_and_escape_directive() {
    let df = parse("\u{feff}# escape=`\r\nFROM a `\r\n  b\r\n").unwrap();
    assert_eq!(df.escape, '`');
    assert_eq!(df.instructions[0].args, vec!["a", "b"]);
}

#[test]
fn shapes_arguments_per_instruction() {
    assert!(one("CMD [\"a\", \"b\"]").json);
    assert_eq!(one("CMD [\"a\", b]").args, vec!["[\"a\", b]"]);
    assert_eq!(
        one("ENV a=1 b=\"x y\"").args,
        vec!["a", "1", "=", "b", "\"x y\"", "="]
    );
    assert_eq!(one("ENV a  x y").args, vec!["a", "x y", ""]);
    assert_eq!(one("EXPOSE 1 \t 2").args, vec!["1", "2"]);
    assert_eq!(one("COPY --from=x -- a b").flags, vec!["--from=x"]);
}

#[test]
fn keeps_heredoc_bodies() {
    let n = one("RUN <<-EOF\n\tx\n\tEOF\n");
    assert_eq!(n.heredocs[0].content, "\tx\n");
    assert!(n.heredocs[0].chomp);
    assert!(
        one("RUN [\"<<EOF\"]").heredocs.is_empty(),
        "exec form has no heredocs"
    );
}

#[test]
fn reports_errors_with_lines() {
    let e = parse("FROM a\nENV X\n").unwrap_err();
    assert_eq!(
        (e.line, e.kind.clone()),
        (2, ParseErrorKind::MissingValue("ENV".into()))
    );
    assert_eq!(
        parse("# only\n\n").unwrap_err().kind,
        ParseErrorKind::NoInstructions
    );
    assert!(matches!(
        parse("CMD [1]").unwrap_err().kind,
        ParseErrorKind::NotStringArray(_)
    ));
    let e = parse("FROM a\nRUN <<EOF\nx\n").unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (2, ParseErrorKind::UnterminatedHeredoc("EOF".into()))
    );
}
