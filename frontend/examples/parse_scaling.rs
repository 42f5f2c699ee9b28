//! Benchmark: parse and lex time against input size, for input shapes that
//! would expose super-linear behaviour (one huge continuation, a huge
//! heredoc, thousands of heredocs, long JSON and ENV lines, `${}` nested as deep as allowed).
//!
//!     cargo run --release -p mybuild-frontend --example parse_scaling
//!
//! For each shape it prints the time at 256 KiB, 512 KiB and 1 MiB and the
//! ratio 1 MiB / 256 KiB: about 4 means linear. Timings are only compared
//! within one run (shared, noisy machines).

use mybuild_frontend::shell_lex::{Lexer, MAX_NESTING};
use mybuild_frontend::{CompileOptions, ImageResolver, ResolvedImage};
use std::time::{Duration, Instant};

const KIB: usize = 1024;

fn repeat_to(size: usize, head: &str, unit: &str, tail: &str) -> String {
    let mut s = String::with_capacity(size + unit.len() + tail.len());
    s.push_str(head);
    while s.len() + tail.len() < size {
        s.push_str(unit);
    }
    s.push_str(tail);
    s
}

fn shapes(size: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "many RUN lines",
            repeat_to(size, "FROM scratch\n", "RUN echo hello world\n", ""),
        ),
        (
            "one continuation",
            repeat_to(size, "FROM scratch\nRUN a \\\n", "  b c d \\\n", "  end\n"),
        ),
        (
            "comments inside a continuation",
            repeat_to(size, "FROM scratch\nRUN a \\\n", "# note\n", "  end\n"),
        ),
        (
            "one heredoc",
            repeat_to(size, "FROM scratch\nRUN <<EOF\n", "echo line\n", "EOF\n"),
        ),
        (
            "many heredocs",
            repeat_to(size, "FROM scratch\n", "RUN <<A cat <<B\na\nA\nb\nB\n", ""),
        ),
        (
            "long JSON array",
            repeat_to(size, "FROM scratch\nCMD [\"a\"", ", \"b\\\"c\"", "]\n"),
        ),
        (
            "long ENV line",
            repeat_to(size, "FROM scratch\nENV", " k=\"v w\"", "\n"),
        ),
        (
            "long quoted shell line",
            repeat_to(size, "FROM scratch\nRUN ", "'a' \"b\" \\' ", "\n"),
        ),
    ]
}

fn lex_shapes(size: usize) -> Vec<(&'static str, String)> {
    let deepest = "${V:-".repeat(MAX_NESTING) + "x" + &"}".repeat(MAX_NESTING);
    vec![
        ("many $VAR", repeat_to(size, "", "$A ${B} \"$C\" ", "")),
        ("maximally nested ${:-}", repeat_to(size, "", &deepest, "")),
        ("quotes", repeat_to(size, "", "'a b' \"c\\\"d\" ", "")),
    ]
}

/// `FROM scratch` needs no image.
struct NoImages;

impl ImageResolver for NoImages {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("{reference}: the benchmark resolves no images").into())
    }
}

fn options() -> CompileOptions {
    CompileOptions {
        filename: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        dockerignore: Vec::new(),
        network: mybuild_graph::NetworkMode::None,
        exec_env: Default::default(),
        no_cache_filter: vec![],
        labels: Default::default(),
        named_contexts: Default::default(),
        platform: None,
        multi_platform: false,
    }
}

fn time(f: impl Fn()) -> Duration {
    // Best of three: the least disturbed by other load.
    (0..3)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(name: &str, times: &[Duration]) {
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:8.2} ms", t.as_secs_f64() * 1e3))
        .collect();
    let ratio = times[2].as_secs_f64() / times[0].as_secs_f64().max(1e-9);
    println!("{name:32} {}   x{ratio:.1}", ms.join(" "));
}

fn main() {
    let sizes = [256 * KIB, 512 * KIB, 1024 * KIB];
    println!(
        "{:32} {:>11} {:>11} {:>11}   1M/256K",
        "parse", "256 KiB", "512 KiB", "1 MiB"
    );
    for (i, (name, _)) in shapes(KIB).iter().enumerate() {
        let times: Vec<Duration> = sizes
            .iter()
            .map(|&size| {
                let text = &shapes(size)[i].1;
                time(|| {
                    let df = mybuild_frontend::parse(text).expect("benchmark input parses");
                    assert!(!df.instructions.is_empty());
                })
            })
            .collect();
        report(name, &times);
    }
    println!("compile (FROM scratch, every line a graph node)");
    let times: Vec<Duration> = sizes
        .iter()
        .map(|&size| {
            let text = &shapes(size)[0].1;
            time(|| {
                let plan = mybuild_frontend::compile(text, &options(), &NoImages)
                    .expect("benchmark input compiles");
                assert!(plan.graph.len() > 1);
            })
        })
        .collect();
    report("many RUN lines", &times);
    println!("lex");
    let env = |name: &str| (name != "V").then(|| "value".to_string());
    for (i, (name, _)) in lex_shapes(KIB).iter().enumerate() {
        let times: Vec<Duration> = sizes
            .iter()
            .map(|&size| {
                let word = &lex_shapes(size)[i].1;
                time(|| {
                    Lexer::new('\\')
                        .process_word(word, &env)
                        .expect("benchmark word expands");
                })
            })
            .collect();
        report(name, &times);
    }
}
