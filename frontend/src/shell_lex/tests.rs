use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "A" => Some("1".into()),
        "E" => Some(String::new()),
        "S" => Some("x y".into()),
        _ => None,
    }
}

fn word(s: &str) -> String {
    Lexer::new('\\').process_word(s, &env).unwrap()
}

#[test]
fn expands_variables_and_modifiers() {
    assert_eq!(word("$A-${A}"), "1-1");
    assert_eq!(word("${MISSING:-fb} ${E:-fb} ${E-fb}"), "fb fb ");
    assert_eq!(
        word("${A:+set} ${E:+set} ${E+set} ${MISSING+set}"),
        "set  set "
    );
    assert_eq!(word("${MISSING}x$"), "x$");
    assert_eq!(word("${A:-${MISSING:-deep}}"), "1");
}

#[test]
fn single_quotes_are_literal_double_quotes_expand() {
    assert_eq!(word(r#"'$A \n' "$A \$A \x" a\ b"#), r"$A \n 1 $A \x a b");
}

#[test]
fn escape_token_is_configurable() {
    let lex = Lexer::new('`');
    assert_eq!(lex.process_word(r"C:\dir `$A", &env).unwrap(), r"C:\dir $A");
}

#[test]
fn splits_words_but_not_quoted_or_escaped_space() {
    let lex = Lexer::new('\\');
    assert_eq!(
        lex.process_words(r#"a "b c" d\ e $S"#, &env).unwrap(),
        vec!["a", "b c", "d e", "x", "y"]
    );
}

#[test]
fn reports_errors() {
    let lex = Lexer::new('\\');
    assert!(matches!(
        lex.process_word("'open", &env),
        Err(LexError::Unterminated { .. })
    ));
    assert!(matches!(
        lex.process_word("${A", &env),
        Err(LexError::MissingBrace { .. })
    ));
    assert!(matches!(
        lex.process_word("${}", &env),
        Err(LexError::BadSubstitution { .. })
    ));
    assert!(matches!(
        lex.process_word("${MISSING?need it}", &env),
        Err(LexError::Required { .. })
    ));
}

#[test]
fn skip_unset_keeps_references() {
    let lex = Lexer {
        skip_unset: true,
        ..Lexer::new('\\')
    };
    assert_eq!(
        lex.process_word("$NOPE ${NOPE} ${NOPE:-x} $A", &env)
            .unwrap(),
        "$NOPE ${NOPE} ${NOPE:-x} 1"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let lex = Lexer::new('\\');
    let nested = |n: usize| format!("{}x{}", "${U:-".repeat(n), "}".repeat(n));
    assert_eq!(lex.process_word(&nested(MAX_NESTING), &env).unwrap(), "x");
    let deep = nested(100_000);
    assert!(matches!(
        lex.process_word(&deep, &env),
        Err(LexError::TooDeep { .. })
    ));
}
