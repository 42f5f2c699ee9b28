//! An error's message and causes as mybuild prints them. Errors that quote
//! their source in their own message (`open x: No such file ...`) also
//! return it as their cause; a cause the message above already says is
//! left out, so each is printed once.

/// The error's message, then each cause not already said by the one before.
pub(crate) fn messages(err: &anyhow::Error) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut said = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            out.push(text.clone());
        }
        said = text;
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("open /x: {source}")]
    struct Open {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_quotes_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = anyhow::Error::new(Open { source: io }).context("loading /x");
        assert_eq!(
            super::messages(&err),
            ["loading /x", "open /x: entity not found"]
        );
    }
}
