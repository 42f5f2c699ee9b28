//! End-to-end tests of the live tty view: `mybuild build` on a real
//! pseudo-terminal redraws BuildKit's frame in place and leaves a summary;
//! without a usable terminal `auto` means plain output.

use crate::util::{assert_success, stderr, TestEnv};
use std::process::ExitStatus;

const STEP: &str = "[2/2] RUN echo one && sleep 1 && echo two";
const DOCKERFILE: &str = "FROM busybox\nRUN echo one && sleep 1 && echo two\n";

/// Runs `mybuild ARGS` with stdin, stdout and stderr on a `cols` x 30
/// pseudo-terminal; returns all it wrote there and how it exited.
fn run_on_pty(env: &TestEnv, cols: u16, term: &str, args: &[&str]) -> (String, ExitStatus) {
    let mut cmd = env.cmd();
    cmd.args(args).env("TERM", term).env_remove("NO_COLOR");
    crate::util::pty::run_on_pty(cmd, (cols, 30), None)
}

/// Whether `out` moves the cursor up (`ESC [ n A`): the frame is redrawn
/// in place rather than printed line after line.
fn moves_cursor_up(out: &str) -> bool {
    out.match_indices("\x1b[").any(|(i, _)| {
        let rest = &out[i + 2..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('A')
    })
}

/// The text with colours removed and every other escape sequence, `\r`
/// and `\n` turned into a line break, so frames read as lines.
fn text_of(out: &str) -> String {
    let mut text = String::new();
    let mut chars = out.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                let mut seq = String::new();
                for c in chars.by_ref() {
                    seq.push(c);
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                if !seq.ends_with('m') {
                    text.push('\n');
                }
            }
            '\r' => text.push('\n'),
            c => text.push(c),
        }
    }
    text
}

/// `line` is `name`, spaces, then a time like `1.0s`, at the right edge.
fn timed(line: &str, name: &str) -> bool {
    let Some(rest) = line.trim_end().strip_prefix(name) else {
        return false;
    };
    let time = rest.trim_start();
    time.len() < rest.len()
        && time.strip_suffix('s').is_some_and(|t| {
            t.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) && b.len() == 1
            })
        })
}

/// The live frames (everything before the last header) and the summary
/// (from the last header on).
fn frames_and_summary(out: &str) -> (String, Vec<String>) {
    let text = text_of(out);
    let at = text.rfind("[+] Building").expect("a [+] Building header");
    let summary = text[at..]
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    (text[..at].to_string(), summary)
}

/// A frame line padded to the right edge: the running step's line within
/// the live text, whatever is drawn before and after it.
fn live_has_timer(live: &str, name: &str) -> bool {
    live.match_indices(name).any(|(i, _)| {
        let line: String = live[i..].chars().take(100).collect();
        timed(&line, name)
    })
}

#[test]
fn live_view_redraws_running_steps_and_leaves_a_summary() {
    let env = TestEnv::new();
    let ctx = env.context("live", DOCKERFILE, &[]);
    let (out, status) = run_on_pty(&env, 100, "xterm", &["build", ctx.to_str().unwrap()]);
    assert!(status.success(), "build failed:\n{out}");
    assert!(moves_cursor_up(&out), "no in-place redraw:\n{out:?}");
    assert!(!out.contains("#1 "), "plain output on a terminal:\n{out}");

    let (live, summary) = frames_and_summary(&out);
    assert!(live.contains("[+] Building"), "no live frame:\n{live}");
    assert!(
        live_has_timer(&live, &format!(" => {STEP}")),
        "no running step with a timer:\n{live}"
    );
    assert!(
        live.contains(" => => # one"),
        "no output under the running step:\n{live}"
    );

    let header = &summary[0];
    assert!(
        header.starts_with("[+] Building ") && header.ends_with(" FINISHED"),
        "{summary:#?}"
    );
    assert!(
        summary.iter().any(|l| timed(l, &format!(" => {STEP}"))),
        "no timed step in the summary: {summary:#?}"
    );
    assert!(
        summary.iter().all(|l| !l.starts_with(" => => #")),
        "output of finished steps stays collapsed: {summary:#?}"
    );
    assert!(
        summary.iter().all(|l| l.chars().count() <= 100),
        "{summary:#?}"
    );
}

#[test]
fn failed_step_keeps_its_last_output_in_the_summary() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN echo first-words && echo last-words && exit 3\n";
    let ctx = env.context("fails", df, &[]);
    let (out, status) = run_on_pty(&env, 100, "xterm", &["build", ctx.to_str().unwrap()]);
    assert!(!status.success(), "{out}");
    let (_, summary) = frames_and_summary(&out);
    let step = " => ERROR [2/2] RUN echo first-words && echo last-words && exit 3";
    let at = summary
        .iter()
        .position(|l| timed(l, step))
        .unwrap_or_else(|| panic!("no ERROR line: {summary:#?}"));
    assert_eq!(
        summary[at + 1..at + 3],
        [" => => # first-words", " => => # last-words"],
        "{summary:#?}"
    );
    assert!(!summary[0].ends_with("FINISHED"), "{summary:#?}");
}

#[test]
fn narrow_or_dumb_terminals_get_plain_output() {
    let env = TestEnv::new();
    let ctx = env.context("plainly", DOCKERFILE, &[]);
    let ctx = ctx.to_str().unwrap();
    for (cols, term) in [(15, "xterm"), (100, "dumb")] {
        let (out, status) = run_on_pty(&env, cols, term, &["build", "--no-cache", ctx]);
        assert!(status.success(), "{out}");
        assert!(
            out.contains("#1 "),
            "{cols} cols, TERM={term}: not plain:\n{out}"
        );
        assert!(!moves_cursor_up(&out), "{cols} cols, TERM={term}:\n{out:?}");
    }
}

#[test]
fn auto_without_a_terminal_is_plain() {
    let env = TestEnv::new();
    let ctx = env.context("piped", DOCKERFILE, &[]);
    let out = env.mybuild(&["build", "--progress=auto", ctx.to_str().unwrap()]);
    assert_success(&out, "build");
    let err = stderr(&out);
    assert!(err.starts_with("#1 ") && err.contains("\n#2 "), "{err}");
    assert!(err.contains(" DONE "), "{err}");
    assert!(
        !err.contains('\x1b'),
        "escape sequences on a pipe:\n{err:?}"
    );
}
