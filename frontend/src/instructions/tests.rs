use super::*;
use crate::parser::parse;

fn commands(text: &str) -> Result<Vec<Instruction>, InstructionError> {
    let df = parse(text).unwrap();
    df.instructions
        .iter()
        .map(|n| Command::from_node(n).map(|c| c.instruction))
        .collect()
}

#[test]
fn types_common_instructions() {
    let cmds = commands(
        "FROM a AS Build\nRUN --network=none echo\nCOPY --from=x --chown=1:2 a b /d/\nARG X Y=1\n",
    )
    .unwrap();
    assert_eq!(
        cmds[0],
        Instruction::From(From {
            image: "a".into(),
            name: Some("build".into()),
            platform: None
        })
    );
    let Instruction::Run(run) = &cmds[1] else {
        panic!("{:?}", cmds[1])
    };
    assert_eq!(
        (run.cmd.clone(), run.network.as_deref()),
        (CmdLine::Shell("echo".into()), Some("none"))
    );
    let Instruction::Copy(c) = &cmds[2] else {
        panic!()
    };
    assert_eq!(
        (c.srcs.clone(), c.dest.as_str(), c.from.as_deref()),
        (vec!["a".into(), "b".into()], "/d/", Some("x"))
    );
    assert_eq!(
        cmds[3],
        Instruction::Arg(vec![("X".into(), None), ("Y".into(), Some("1".into()))])
    );
}

#[test]
fn copy_heredoc_sources_become_inline() {
    let cmds = commands("COPY <<EOF /f\nhi\nEOF\n").unwrap();
    let Instruction::Copy(c) = &cmds[0] else {
        panic!()
    };
    assert!(c.srcs.is_empty());
    assert_eq!(c.inline[0].content, "hi\n");
}

#[test]
fn rejects_bad_instructions() {
    assert_eq!(
        commands("FOO bar").unwrap_err(),
        InstructionError::Unknown("FOO".into())
    );
    assert!(commands("COPY a")
        .unwrap_err()
        .to_string()
        .contains("at least two arguments"));
    assert!(commands("COPY --bogus a b")
        .unwrap_err()
        .to_string()
        .contains("unknown flag: bogus"));
    assert!(commands("ADD --from=x a b")
        .unwrap_err()
        .to_string()
        .contains("unknown flag: from"));
    assert!(commands("SHELL sh -c").is_err());
    assert!(commands("FROM a b").is_err());
    assert!(commands("ONBUILD FROM x").is_err());
    assert!(commands("HEALTHCHECK CMD").is_err());
}

#[test]
fn healthcheck_none_and_cmd() {
    assert_eq!(
        commands("HEALTHCHECK NONE").unwrap()[0],
        Instruction::Healthcheck(Health::None)
    );
    let Instruction::Healthcheck(Health::Check { test, retries, .. }) =
        &commands("HEALTHCHECK --retries=3 CMD [\"x\"]").unwrap()[0]
    else {
        panic!()
    };
    assert_eq!(
        (test.clone(), retries.as_deref()),
        (CmdLine::Exec(vec!["x".into()]), Some("3"))
    );
}
