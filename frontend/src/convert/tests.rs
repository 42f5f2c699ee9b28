use crate::{compile, BuildPlan, CompileOptions, FrontendError, ImageResolver, ResolvedImage};
use mybuild_graph::{Digest, ExecOp, FileAction, NetworkMode, Op};
use serde_json::{json, Value};

/// Serves `base` (optionally with ONBUILD triggers) and nothing else.
struct Fake(Value);

impl ImageResolver for Fake {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        if reference != "base" {
            return Err(format!("{reference}: not found").into());
        }
        let config = json!({"architecture": "amd64", "os": "linux",
            "config": self.0, "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]},
            "history": [{"created_by": "base"}]});
        Ok(ResolvedImage {
            reference: "docker.io/library/base:latest".into(),
            pin: Digest::of(b"m"),
            config: config.to_string().into_bytes(),
        })
    }
}

fn opts() -> CompileOptions {
    CompileOptions {
        filename: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        dockerignore: vec!["*.log".into()],
        network: NetworkMode::Host,
        exec_env: Default::default(),
        no_cache_filter: vec![],
        labels: Default::default(),
        named_contexts: Default::default(),
        platform: None,
        multi_platform: false,
    }
}

fn build(text: &str) -> Result<BuildPlan, FrontendError> {
    compile(
        text,
        &opts(),
        &Fake(json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]})),
    )
}

fn exec(plan: &BuildPlan) -> ExecOp {
    match &plan.graph.node(plan.target).op {
        Op::Exec(x) => x.clone(),
        other => panic!("target is {other:?}"),
    }
}

#[test]
fn history_has_one_layer_per_filesystem_step() {
    let plan =
        build("FROM base\nENV A=1\nRUN echo $A\nWORKDIR /w\nCOPY a.txt .\nCMD [\"x\"]\n").unwrap();
    let history: Vec<(String, bool)> = plan.config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap().to_string(),
                h.get("empty_layer").is_none(),
            )
        })
        .collect();
    let want = [
        ("base", true),
        ("ENV A=1", false),
        ("RUN /bin/sh -c echo $A # buildkit", true),
        ("WORKDIR /w", true),
        ("COPY a.txt . # buildkit", true),
        ("CMD [\"x\"]", false),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(s, l)| (s.to_string(), *l)).collect();
    assert_eq!(history, want);
    assert_eq!(plan.config["rootfs"]["diff_ids"], json!(["sha256:00"]));
    let names: Vec<&str> = plan.graph.iter().map(|(_, n)| n.name.as_str()).collect();
    // Names expand variables as BuildKit's vertices do (issue 12 item 7).
    assert!(names.contains(&"[2/4] RUN echo 1"), "{names:?}");
}

#[test]
fn run_gets_env_args_workdir_user_and_network() {
    let mut o = opts();
    o.build_args.insert("V".into(), "cli".into());
    o.network = NetworkMode::None;
    let text =
        "FROM base\nARG V=default\nARG U=u1\nUSER $U\nWORKDIR rel\nRUN --network=host true\n";
    let plan = compile(text, &o, &Fake(json!({"Env": ["PATH=/bin"]}))).unwrap();
    let x = exec(&plan);
    assert_eq!(x.env, vec!["PATH=/bin", "V=cli", "U=u1"]);
    assert_eq!(
        (x.cwd.as_str(), x.user.as_str(), x.network),
        ("/rel", "u1", NetworkMode::Host)
    );
    assert!(plan.config["config"].get("V").is_none());
    assert_eq!(
        plan.config["config"]["Env"],
        json!(["PATH=/bin"]),
        "ARGs never persist"
    );
    let plan = compile("FROM base\nRUN true\n", &o, &Fake(json!({}))).unwrap();
    assert_eq!(exec(&plan).network, NetworkMode::None);
    assert!(
        exec(&plan).env[0].starts_with("PATH=/usr/local/sbin"),
        "default PATH added"
    );
}

/// BuildKit (Docker 20.10) keeps one environment for RUN and expansion in
/// which the later of ENV and ARG wins; the image config keeps the ENV
/// (found by tests/differential).
#[test]
fn a_later_arg_wins_over_env_for_run_and_expansion() {
    let mut o = opts();
    o.build_args.insert("P".into(), "cli".into());
    let text = "FROM base\nENV P=1 Q=1\nARG P\nARG Q=dflt\nWORKDIR /$P\nENV Q=2\nRUN true\n";
    let plan = compile(text, &o, &Fake(json!({"Env": ["PATH=/bin"]}))).unwrap();
    let x = exec(&plan);
    assert_eq!(x.env, vec!["PATH=/bin", "P=cli", "Q=2"]);
    assert_eq!(x.cwd, "/cli");
    assert_eq!(
        plan.config["config"]["Env"],
        json!(["PATH=/bin", "P=1", "Q=2"])
    );
}

/// A stage built FROM another starts from its whole BuildKit state: the
/// parent's ARG values are in RUN's environment and expansion (never in the
/// config) until an ENV or ARG of the child replaces them (found by
/// tests/differential).
#[test]
fn from_stage_inherits_the_parents_arg_values() {
    let text = "FROM base AS one\nARG U=7:8\nARG V=v\nENV W=1\nARG W=w\n\
                FROM one\nARG U\nARG V=child\nWORKDIR /$U\nRUN true\n";
    let plan = compile(text, &opts(), &Fake(json!({"Env": ["PATH=/bin"]}))).unwrap();
    let x = exec(&plan);
    assert_eq!(x.env, vec!["PATH=/bin", "W=1", "V=child", "U=7:8"]);
    assert_eq!(x.cwd, "/7:8");
    assert_eq!(plan.config["config"]["Env"], json!(["PATH=/bin", "W=1"]));
}

/// `--chown=$X` with X unset is no --chown, as in BuildKit (found by
/// tests/differential).
#[test]
fn chown_expanding_to_nothing_is_no_chown() {
    let plan = build("FROM scratch\nARG U\nCOPY --chown=$U a /b/\n").unwrap();
    let Op::File(f) = &plan.graph.node(plan.target).op else {
        panic!()
    };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!()
    };
    assert_eq!(c.owner, None);
}

#[test]
fn context_node_only_when_read_and_carries_dockerignore() {
    let plan = build("FROM base\nRUN true\n").unwrap();
    assert!(!plan.graph.iter().any(|(_, n)| n.op.kind() == "local"));
    let plan = build("FROM scratch\nCOPY --chown=1:2 --chmod=640 a /b/\n").unwrap();
    let node = plan.graph.node(plan.target);
    let Op::File(f) = &node.op else { panic!() };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!()
    };
    assert_eq!(
        (
            c.dest.as_str(),
            c.mode,
            c.owner.as_ref().map(|o| o.user.as_str())
        ),
        ("/b/", Some(0o640), Some("1"))
    );
    let Op::Local(l) = &plan.graph.node(node.inputs[1]).op else {
        panic!()
    };
    assert_eq!(l.exclude, vec!["*.log"]);
    assert_eq!(
        plan.config["config"]["Env"],
        json!([format!("PATH={}", crate::image_config::DEFAULT_PATH)])
    );
}

#[test]
fn unneeded_stages_are_not_built_and_target_stops() {
    let text = "FROM base AS a\nRUN echo a\nFROM base AS broken\nRUN exit 1\nFROM a AS c\nRUN echo c\nFROM c\nRUN echo d\n";
    let plan = build(text).unwrap();
    assert!(!plan.graph.iter().any(|(_, n)| n.name.contains("exit 1")));
    let mut o = opts();
    o.target = Some("C".into());
    let plan = compile(text, &o, &Fake(json!({}))).unwrap();
    assert_eq!(plan.graph.node(plan.target).name, "[c 1/1] RUN echo c");
    o.target = Some("nope".into());
    assert!(matches!(
        compile(text, &o, &Fake(json!({}))),
        Err(FrontendError::TargetNotFound { .. })
    ));
}

#[test]
fn global_args_feed_from_and_can_be_redeclared() {
    let mut o = opts();
    o.build_args.insert("IMG".into(), "base".into());
    let text = "ARG IMG=other\nFROM ${IMG}\nARG IMG\nARG TARGETARCH\nRUN echo\n";
    let plan = compile(text, &o, &Fake(json!({}))).unwrap();
    let env = exec(&plan).env;
    assert!(env.contains(&"IMG=base".to_string()), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("TARGETARCH=")), "{env:?}");
}

#[test]
fn base_onbuild_triggers_run_first_and_are_cleared() {
    let fake = Fake(json!({"OnBuild": ["RUN echo trig"]}));
    let plan = compile("FROM base\nRUN echo own\n", &opts(), &fake).unwrap();
    let own = plan.graph.node(plan.target);
    assert_eq!(plan.graph.node(own.inputs[0]).name, "[2/3] RUN echo trig");
    assert!(plan.config["config"].get("OnBuild").is_none());
}

#[test]
fn entrypoint_resets_inherited_cmd_only() {
    let plan = build("FROM base\nENTRYPOINT [\"e\"]\n").unwrap();
    assert!(plan.config["config"].get("Cmd").is_none());
    let plan = build("FROM base\nCMD c\nENTRYPOINT e\n").unwrap();
    assert_eq!(plan.config["config"]["Cmd"], json!(["/bin/sh", "-c", "c"]));
    assert_eq!(
        plan.config["config"]["Entrypoint"],
        json!(["/bin/sh", "-c", "e"])
    );
}

#[test]
fn errors_name_file_line_and_text() {
    let e = build("FROM base\nFROBNICATE now\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "Dockerfile:2:1: unknown instruction: FROBNICATE\n   |\n 2 | FROBNICATE now\n   | ^^^^^^^^^^"
    );
    let e = build("FROM base\nCOPY --from=nosuch /x /y\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Dockerfile:2:13: undefined stage or image \"nosuch\""),
        "{e}"
    );
    assert!(
        e.ends_with(" 2 | COPY --from=nosuch /x /y\n   |             ^^^^^^"),
        "{e}"
    );
    let e = build("FROM base\nRUN <<EOF\nx\n").unwrap_err().to_string();
    assert!(
        e.starts_with("Dockerfile:2:7: unterminated heredoc EOF"),
        "{e}"
    );
    let e = build("FROM base\nRUN echo \\\n  --nope\nCOPY --frm=x a b\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Dockerfile:4:6: COPY: unknown flag: frm"),
        "{e}"
    );
    let e = build("FROM base\nENV A=${B\n").unwrap_err().to_string();
    assert!(e.starts_with("Dockerfile:2:7: expanding"), "{e}");
    let e = build("RUN x\n").unwrap_err().to_string();
    assert!(e.contains("no build stage"), "{e}");
}

#[test]
fn heredoc_run_executes_body_through_shell() {
    let plan = build("FROM base\nRUN <<EOF\necho a\necho b\nEOF\n").unwrap();
    assert_eq!(exec(&plan).args, vec!["/bin/sh", "-c", "echo a\necho b\n"]);
}

/// The Mkfile a copy input was made by, with what it was copied to.
fn documents(plan: &BuildPlan) -> Vec<(String, String, String)> {
    let node = plan.graph.node(plan.target);
    let Op::File(f) = &node.op else {
        panic!("target is {:?}", node.op)
    };
    f.actions
        .iter()
        .map(|a| {
            let FileAction::Copy(c) = a else {
                panic!("{a:?}")
            };
            let input = plan.graph.node(node.inputs[c.source as usize]);
            let Op::File(doc) = &input.op else {
                panic!("{:?}", input.op)
            };
            let [FileAction::Mkfile(m)] = doc.actions.as_slice() else {
                panic!("{:?}", doc.actions)
            };
            assert_eq!(c.src, vec![m.path.trim_start_matches('/').to_string()]);
            (m.path.clone(), m.data.clone(), c.dest.clone())
        })
        .collect()
}

#[test]
fn expose_history_prints_the_ports_as_buildkit_does() {
    // Docker 20.10's BuildKit: `docker history` shows a Go map of the
    // instruction's own ports, sorted and without repeats.
    let plan =
        build("FROM base\nEXPOSE 8080 53/udp 8080/tcp 9000-9001\nEXPOSE 1.2.3.4:80:81\n").unwrap();
    let history: Vec<&str> = plan.config["history"].as_array().unwrap()[1..]
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "EXPOSE map[53/udp:{} 8080/tcp:{} 9000/tcp:{} 9001/tcp:{}]",
            "EXPOSE map[81/tcp:{}]"
        ]
    );
}

fn step_names(plan: &BuildPlan) -> Vec<String> {
    let mut names: Vec<String> = plan
        .graph
        .iter()
        .map(|(_, n)| n.name.clone())
        .filter(|n| n.starts_with('[') && !n.starts_with("[internal]"))
        .collect();
    names.sort();
    names
}

#[test]
fn step_names_expand_variables_as_buildkit_does() {
    // As Docker 20.10's BuildKit printed them: COPY, ADD and WORKDIR
    // expanded like their arguments (quotes gone, unset variables empty),
    // RUN with its quotes, escapes consumed and unset variables kept.
    let plan = build(
        "FROM base\nENV D=/dst U=1:1\nARG A=a.txt\nARG UNSET\n\
         COPY   a.txt    $D/two/\nCOPY [\"a.txt\", \"$D/json dir/\"]\n\
         COPY --chown=$U   --chmod=600 $A $UNSET/three\nADD $A ${D}/b\n\
         WORKDIR   $D/w   \nWORKDIR \"/q $D\"\n\
         RUN    echo   \"$D\" '$D' \\$D $A $UNSET ${UNSET:-x} $HOME\nRUN [\"echo\", \"$D\"]\n",
    )
    .unwrap();
    assert_eq!(
        step_names(&plan),
        [
            "[1/9] FROM base",
            "[2/9] COPY   a.txt    /dst/two/",
            "[3/9] COPY [a.txt, /dst/json dir/]",
            "[4/9] COPY --chown=1:1   --chmod=600 a.txt /three",
            "[5/9] ADD a.txt /dst/b",
            "[6/9] WORKDIR   /dst/w",
            "[7/9] WORKDIR /q /dst",
            "[8/9] RUN    echo   \"/dst\" '$D' $D a.txt $UNSET ${UNSET:-x} $HOME",
            "[9/9] RUN [\"echo\", \"/dst\"]",
        ]
    );
}

#[test]
fn a_lone_stage_reading_another_image_names_its_steps_stage_0() {
    // BuildKit counts the image a step reads (and the empty one under a
    // cache mount) as a stage: then even a single stage gets its name.
    let names = |df: &str| step_names(&build(df).unwrap());
    for df in [
        "FROM base\nRUN --mount=type=cache,target=/c echo\n",
        "FROM base\nRUN --mount=type=bind,from=base,target=/m echo\n",
        "FROM base\nCOPY --from=base /a /b\n",
    ] {
        assert!(
            names(df)[1].starts_with("[stage-0 2/2] "),
            "{df}: {:?}",
            names(df)
        );
    }
    for df in [
        "FROM base\nRUN --mount=type=tmpfs,target=/t echo\n",
        "FROM base\nRUN --mount=type=secret,id=x --mount=type=bind,target=/m echo\n",
    ] {
        assert!(names(df)[1].starts_with("[2/2] "), "{df}: {:?}", names(df));
    }
    let named = names("FROM base AS app\nRUN --mount=type=cache,target=/c echo\n");
    assert!(named[1].starts_with("[app 2/2] "), "{named:?}");
}

#[test]
fn copy_heredocs_become_inline_files() {
    let plan = build(
        "FROM base\nARG WHO=you\nCOPY <<EOF <<-'RAW' /etc/\nhi $WHO \"q\" \\$HOME\nEOF\n\tkeep $WHO\n\tRAW\n",
    )
    .unwrap();
    assert_eq!(
        documents(&plan),
        vec![
            ("/EOF".into(), "hi you \"q\" $HOME\n".into(), "/etc/".into()),
            ("/RAW".into(), "keep $WHO\n".into(), "/etc/".into()),
        ]
    );
    let history = plan.config["history"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap()["created_by"],
        "COPY <<EOF <<RAW /etc/ # buildkit"
    );
    let single = build("FROM base\nWORKDIR /w\nCOPY <<EOF motd\nx\nEOF\n").unwrap();
    assert_eq!(documents(&single)[0].2, "/w/motd");
}

#[test]
fn run_mounts_become_exec_mounts_and_inputs() {
    use mybuild_graph::{CacheSharing, MountKind};
    let plan = build(
        "FROM base AS tools\nFROM base\nWORKDIR /w\nARG C=pkg\n\
         RUN --mount=type=cache,target=.cache/$C,sharing=locked \
         --mount=type=bind,from=tools,source=/usr,target=/u \
         --mount=type=secret,id=tok --mount=type=tmpfs,target=/t,size=1m make\n",
    )
    .unwrap();
    let node = plan.graph.node(plan.target);
    let x = exec(&plan);
    assert_eq!(node.inputs.len(), 2, "rootfs and the bind's stage");
    let targets: Vec<&str> = x.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, ["/w/.cache/pkg", "/u", "/run/secrets/tok", "/t"]);
    assert!(matches!(
        &x.mounts[0].kind,
        MountKind::Cache { id, sharing: CacheSharing::Locked, mode: 0o755, .. } if id == "/w/.cache/pkg"
    ));
    assert!(matches!(
        &x.mounts[1].kind,
        MountKind::Bind { input: 1, source, readwrite: false } if source == "/usr"
    ));
    assert!(
        matches!(&x.mounts[2].kind, MountKind::Secret { id, required: false, mode: 0o400, .. } if id == "tok")
    );
    assert!(matches!(
        x.mounts[3].kind,
        MountKind::Tmpfs {
            size: Some(1048576)
        }
    ));
    let e = build("FROM base\nRUN --mount=type=ssh,source=/k x\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssh mount"), "{e}");
    let e = build("FROM base\nRUN --mount=type=cache x\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("without a target"), "{e}");
}

#[test]
fn ssh_mounts_are_numbered_and_name_the_agent() {
    use mybuild_graph::MountKind;
    let plan = build(
        "FROM base\nRUN --mount=type=ssh --mount=type=ssh,id=gh,required,uid=7,mode=0660 \
         --mount=type=ssh,target=/a.sock x\n",
    )
    .unwrap();
    let x = exec(&plan);
    let targets: Vec<&str> = x.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/run/buildkit/ssh_agent.0",
            "/run/buildkit/ssh_agent.1",
            "/a.sock"
        ]
    );
    assert!(matches!(
        &x.mounts[0].kind,
        MountKind::Ssh { id, required: false, mode: 0o600, uid: 0, gid: 0 } if id == "default"
    ));
    assert!(matches!(
        &x.mounts[1].kind,
        MountKind::Ssh { id, required: true, mode: 0o660, uid: 7, .. } if id == "gh"
    ));
    assert!(x
        .env
        .contains(&"SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0".to_string()));
    let own = build("FROM base\nENV SSH_AUTH_SOCK=/mine\nRUN --mount=type=ssh x\n").unwrap();
    let env = &exec(&own).env;
    assert!(env.contains(&"SSH_AUTH_SOCK=/mine".to_string()), "{env:?}");
    assert_eq!(
        env.iter()
            .filter(|e| e.starts_with("SSH_AUTH_SOCK="))
            .count(),
        1
    );
}

#[test]
fn add_urls_become_http_sources() {
    let plan = build(
        "FROM base\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/a/tool.tgz /opt/\n",
    )
    .unwrap();
    let node = plan.graph.node(plan.target);
    let Op::Http(h) = &plan.graph.node(node.inputs[1]).op else {
        panic!("{:?}", node.inputs)
    };
    assert_eq!(h.url, "https://example.com/a/tool.tgz");
    assert_eq!(h.filename, "tool.tgz");
    assert!(h.checksum.is_some());
    let Op::File(f) = &node.op else { panic!() };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!()
    };
    assert_eq!(
        (c.src.clone(), c.dest.as_str(), c.extract_archives),
        (vec!["tool.tgz".to_string()], "/opt/", false)
    );
    let e = build("FROM base\nCOPY https://example.com/f /f\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a URL needs ADD"), "{e}");
    let e = build("FROM base\nADD --checksum=sha256:00 f /f\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("--checksum"), "{e}");
}

#[test]
fn add_git_urls_become_git_sources() {
    let text = "FROM base\nADD --keep-git-dir --checksum=ABCDEF1 https://h.example/x/y.git#v1:sub/dir/ /src\n";
    let plan = build(text).unwrap();
    let node = plan.graph.node(plan.target);
    let Op::Git(g) = &plan.graph.node(node.inputs[1]).op else {
        panic!("{:?}", node.inputs)
    };
    assert_eq!(g.remote, "https://h.example/x/y.git");
    assert_eq!(g.reference.as_deref(), Some("v1"));
    assert_eq!(g.subdir.as_deref(), Some("sub/dir"));
    assert!(g.keep_git_dir);
    assert_eq!(g.checksum.as_deref(), Some("abcdef1"));
    let Op::File(f) = &node.op else { panic!() };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!()
    };
    assert_eq!(
        (c.src.clone(), c.dest.as_str()),
        (vec![".".to_string()], "/src")
    );
    let plan = build("FROM base\nADD git@h.example:x/y.git /src\n").unwrap();
    let node = plan.graph.node(plan.target);
    let Op::Git(g) = &plan.graph.node(node.inputs[1]).op else {
        panic!()
    };
    assert_eq!((g.reference.as_ref(), g.subdir.as_ref()), (None, None));
    for (bad, says) in [
        ("ADD --checksum=xyz git://h/y.git /s", "commit hash"),
        (
            "ADD --checksum=abcdef1 git://h/y.git f /s",
            "one HTTP(S) or git",
        ),
        ("ADD git://h/y.git#main:../x /s", "no `..`"),
        ("COPY git://h/y.git /s", "a URL needs ADD"),
    ] {
        let e = build(&format!("FROM base\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn legacy_steps_list_every_stage_up_to_the_target_in_order() {
    use crate::{compile_legacy, LegacyKind};
    let text = "ARG X=1\nFROM base AS a\nRUN one\nFROM base AS unused\nRUN two\n\
                FROM a AS t\nCOPY --from=a /x /y\nENV E=2\nFROM base AS after\nRUN three\n";
    let mut o = opts();
    o.target = Some("t".into());
    let resolver = Fake(json!({"Env": ["PATH=/bin"]}));
    let (plan, steps) = compile_legacy(text, &o, &resolver).unwrap();
    let listed: Vec<(&str, usize)> = steps.iter().map(|s| (s.text.as_str(), s.stage)).collect();
    assert_eq!(
        listed,
        [
            ("ARG X=1", 0),
            ("FROM base AS a", 0),
            ("RUN one", 0),
            ("FROM base AS unused", 1),
            ("RUN two", 1),
            ("FROM a AS t", 2),
            ("COPY --from=a /x /y", 2),
            ("ENV E=2", 2),
        ]
    );
    assert_eq!(steps[0].kind, LegacyKind::GlobalArg);
    match &steps[1].kind {
        LegacyKind::From {
            image: Some(_),
            stage: None,
        } => {}
        other => panic!("FROM base is {other:?}"),
    }
    assert_eq!(
        steps[5].kind,
        LegacyKind::From {
            image: None,
            stage: Some(0)
        }
    );
    assert_eq!(steps[2].kind, LegacyKind::Run);
    assert_eq!(steps[6].kind, LegacyKind::Copy);
    assert_eq!(steps[7].kind, LegacyKind::Meta);
    // FROM a starts where stage a ended; ENV changes the config, not the tree.
    assert_eq!(steps[5].node, steps[2].node);
    assert_eq!(steps[7].node, steps[6].node);
    assert_eq!(steps[7].config["config"]["Env"][1], "E=2");
    // The plan is the target's, the same as the default mode's.
    assert_eq!(plan.target, steps[7].node);
    let default = build_with(text, &o);
    assert_eq!(plan.config, default.config);
}

fn build_with(text: &str, o: &CompileOptions) -> BuildPlan {
    compile(text, o, &Fake(json!({"Env": ["PATH=/bin"]}))).unwrap()
}

/// Runs `compile` on its own thread and fails, rather than hangs, when it
/// does not finish in `secs` (a watchdog, not a measurement: the bench in
/// `frontend/benches/compile.rs` measures).
fn build_within(text: String, secs: u64) -> Result<BuildPlan, FrontendError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(build(&text));
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("compile did not finish in {secs} s"))
}

/// Issue 12 item 4: every ENV re-parsed and rewrote the whole Env list, so
/// 10k ENV lines took 43 s and 20k never finished.
#[test]
fn a_hundred_thousand_env_lines_compile() {
    use std::fmt::Write;
    let mut text = String::from("FROM base\n");
    for i in 0..100_000 {
        writeln!(text, "ENV V{i}=${{V{}:-none}}-{i}", i / 2).unwrap();
    }
    text.push_str("ENV");
    for i in 0..20_000 {
        write!(text, " P{i}=$V{i}").unwrap();
    }
    text.push_str("\nRUN true\n");
    let plan = build_within(text, 120).unwrap();
    let env = exec(&plan).env;
    assert_eq!(env.len(), 1 + 100_000 + 20_000);
    assert_eq!(env[1], "V0=none-0");
    assert_eq!(env[4], "V3=none-0-1-3");
    assert_eq!(env[100_001 + 3], "P3=none-0-1-3");
}

/// Issue 12 item 5: each stage link was one more nested call, and 1,000
/// chained stages overflowed a 2 MiB thread stack (the runtime's workers').
#[test]
fn deep_stage_chains_compile_on_a_small_stack() {
    use std::fmt::Write;
    let mut from_chain = String::from("FROM base AS s0\n");
    let mut copy_chain = String::from("FROM base AS s0\nRUN echo > /f\n");
    for i in 1..2_000 {
        writeln!(from_chain, "FROM s{} AS s{i}\nENV N={i}", i - 1).unwrap();
        writeln!(
            copy_chain,
            "FROM base AS s{i}\nCOPY --from=s{} /f /f",
            i - 1
        )
        .unwrap();
    }
    from_chain.push_str("RUN true\n");
    let plans = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || (build(&from_chain), build(&copy_chain)))
        .unwrap()
        .join()
        .expect("compile thread crashed");
    let from_plan = plans.0.unwrap();
    assert!(exec(&from_plan).env.contains(&"N=1999".to_string()));
    let copy_plan = plans.1.unwrap();
    assert!(copy_plan.graph.len() > 2_000, "every link is a node");
}

#[test]
fn a_stage_cycle_is_still_reported() {
    let text = "FROM base AS a\nCOPY --from=b /x /x\nFROM base AS b\nCOPY --from=a /y /y\n";
    let err = build(text).unwrap_err().to_string();
    assert!(err.contains("circular dependency"), "{err}");
}

/// `--no-cache-filter` marks the steps of the stages it names (any case),
/// not their FROM and not other stages.
#[test]
fn no_cache_filter_marks_the_named_stages_steps() {
    let mut o = opts();
    o.no_cache_filter = vec!["BUILD".into()];
    let text = "FROM base AS build\nRUN make\nFROM base\nCOPY --from=build /a /a\nRUN ls\n";
    let fake = Fake(json!({"Env": ["PATH=/bin"]}));
    let plan = compile(text, &o, &fake).unwrap();
    let marked: Vec<&str> = (plan.graph.iter())
        .filter(|(id, _)| plan.graph.ignores_cache(*id))
        .map(|(_, n)| n.name.as_str())
        .collect();
    assert_eq!(marked, ["[build 2/2] RUN make"]);
}

/// Every RUN carries the build's `--add-host`/`--ulimit`/`--shm-size`.
#[test]
fn runs_carry_the_exec_env() {
    let mut o = opts();
    o.exec_env.shm_size = Some(1 << 27);
    let fake = Fake(json!({"Env": ["PATH=/bin"]}));
    let plan = compile("FROM base\nRUN true\n", &o, &fake).unwrap();
    assert_eq!(exec(&plan).env_extra.shm_size, Some(1 << 27));
}

/// `--label` lands on the target's config, over a Dockerfile LABEL.
#[test]
fn flag_labels_win_over_dockerfile_labels() {
    let mut o = opts();
    o.labels = [("a".to_string(), "flag".to_string())].into();
    let fake = Fake(json!({"Env": ["PATH=/bin"]}));
    let plan = compile("FROM base\nLABEL a=file b=file\n", &o, &fake).unwrap();
    assert_eq!(
        plan.config["config"]["Labels"],
        json!({"a": "flag", "b": "file"})
    );
}

/// `SOURCE_DATE_EPOCH` clamps every layer-making op (so it is part of
/// their cache keys) and reaches RUN only through a declared ARG.
#[test]
fn source_date_epoch_clamps_every_layer_op() {
    let text = "FROM base\nRUN one\nWORKDIR /w\nCOPY a.txt .\nCOPY <<EOF b\nx\nEOF\n\
                ARG SOURCE_DATE_EPOCH\nRUN two\n";
    let resolver = Fake(json!({}));
    let mut o = opts();
    let unclamped = compile(text, &o, &resolver).unwrap();
    o.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    let plan = compile(text, &o, &resolver).unwrap();
    let mut layer_ops = 0;
    for (_, node) in plan.graph.iter() {
        let clamp = match &node.op {
            Op::Exec(x) => x.clamp_mtime,
            Op::File(f) => f.clamp_mtime,
            _ => continue,
        };
        layer_ops += 1;
        assert_eq!(clamp, Some(1_700_000_000), "{}", node.name);
    }
    assert_eq!(layer_ops, 6, "{}", plan.graph);
    let env = exec(&plan).env;
    assert!(
        env.contains(&"SOURCE_DATE_EPOCH=1700000000".to_string()),
        "{env:?}"
    );
    assert!(!exec(&unclamped)
        .env
        .iter()
        .any(|e| e.starts_with("SOURCE_DATE_EPOCH")));
    for (_, node) in unclamped.graph.iter() {
        if let Op::Exec(x) = &node.op {
            assert_eq!(x.clamp_mtime, None);
        }
    }

    o.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "soon".into());
    let err = compile(text, &o, &resolver).unwrap_err();
    assert!(matches!(err, FrontendError::Epoch(_)), "{err}");
}

#[test]
fn build_contexts_override_stages_and_images_of_their_name() {
    use crate::NamedContext;
    let mut o = opts();
    o.named_contexts = [
        (
            "extra".to_string(),
            NamedContext::Local("context:extra".into()),
        ),
        ("tool".to_string(), NamedContext::Image("base".into())),
    ]
    .into();
    let text = "FROM nowhere AS extra\nFROM tool AS t\nFROM extra\n\
                COPY --from=extra a /a\nCOPY --from=t /b /b\n";
    let plan = compile(text, &o, &Fake(json!({}))).unwrap();
    let ops: Vec<&Op> = plan.graph.iter().map(|(_, n)| &n.op).collect();
    // The stage `extra` (FROM nowhere) is never resolved; `tool` is `base`.
    let locals: Vec<&str> = (ops.iter())
        .filter_map(|op| match op {
            Op::Local(l) => Some(l.name.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !locals.is_empty() && locals.iter().all(|n| *n == "context:extra"),
        "{locals:?}"
    );
    assert!(ops.iter().any(|op| matches!(op, Op::Image(_))), "{ops:?}");
}
