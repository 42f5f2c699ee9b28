//! The shell-word lexer on any word, with both escape tokens and every
//! mode. Variables expand to text that is itself full of `$`, quotes and
//! braces, so expansion results are fed through the lexer's paths too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mybuild_frontend::shell_lex::Lexer;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(word) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lexer = Lexer::new(if mode & 1 == 0 { '\\' } else { '`' });
    lexer.raw_quotes = mode & 2 != 0;
    lexer.raw_escapes = mode & 4 != 0;
    lexer.skip_unset = mode & 8 != 0;
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("${{{name}}} '\"{name}\"' \\$x")),
    };
    let one = lexer.process_word(word, &env);
    let many = lexer.process_words(word, &env);
    assert_eq!(
        one.is_ok(),
        many.is_ok(),
        "both entry points agree on {word:?}"
    );
});
