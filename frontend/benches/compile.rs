//! Compile time against Dockerfile size: ENV lines, pairs in one ENV, and
//! stage chains, each at 1k, 10k and 100k (stages at 100, 1k and 10k).
//! Linear compile shows as a flat time per item across the sizes; the
//! last column is the growth of that cost against the smallest size.
//!
//!     cargo bench -p mybuild-frontend --bench compile

use mybuild_frontend::{compile, CompileOptions, ImageResolver, ResolvedImage};
use mybuild_graph::{Digest, NetworkMode};
use std::fmt::Write;
use std::time::Instant;

struct Base;

impl ImageResolver for Base {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let config = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:00"]},"history":[]}"#;
        Ok(ResolvedImage {
            reference: reference.into(),
            pin: Digest::of(b"m"),
            config: config.as_bytes().to_vec(),
        })
    }
}

fn env_lines(n: usize) -> String {
    let mut s = String::from("FROM base\n");
    for i in 0..n {
        writeln!(s, "ENV V{i}=${{V{}:-x}}{i}", i / 2).unwrap();
    }
    s + "RUN true\n"
}

fn env_pairs(n: usize) -> String {
    let mut s = String::from("FROM base\nENV");
    for i in 0..n {
        write!(s, " V{i}={i}").unwrap();
    }
    s + "\nRUN true\n"
}

fn stage_chain(n: usize) -> String {
    let mut s = String::from("FROM base AS s0\nRUN true\n");
    for i in 1..n {
        writeln!(s, "FROM base AS s{i}\nCOPY --from=s{} / /", i - 1).unwrap();
    }
    s
}

/// Seconds for the best of three compiles.
fn time(text: &str) -> f64 {
    let opts = CompileOptions {
        filename: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        dockerignore: vec![],
        network: NetworkMode::Host,
        exec_env: Default::default(),
        no_cache_filter: vec![],
        labels: Default::default(),
        named_contexts: Default::default(),
        platform: None,
        multi_platform: false,
    };
    (0..3)
        .map(|_| {
            let start = Instant::now();
            compile(text, &opts, &Base).expect("bench Dockerfile compiles");
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    type Case = (&'static str, fn(usize) -> String, [usize; 3]);
    let cases: [Case; 3] = [
        ("ENV lines", env_lines, [1_000, 10_000, 100_000]),
        ("pairs in one ENV", env_pairs, [1_000, 10_000, 100_000]),
        ("COPY --from stage chain", stage_chain, [100, 1_000, 10_000]),
    ];
    println!(
        "{:<26}{:>9}{:>11}{:>13}{:>8}",
        "case", "n", "seconds", "us per item", "growth"
    );
    for (name, make, sizes) in cases {
        let mut first = None;
        for n in sizes {
            let secs = time(&make(n));
            let per = secs * 1e6 / n as f64;
            let growth = per / *first.get_or_insert(per);
            println!("{name:<26}{n:>9}{secs:>11.4}{per:>13.2}{growth:>8.2}");
        }
    }
}
