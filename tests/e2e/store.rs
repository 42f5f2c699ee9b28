//! End-to-end tests of the store's promises (issue 4): a build killed with
//! SIGKILL at any moment leaves a store the next build opens and trusts, and
//! several builds may share one root at once.

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Three stages, so kills land in parallel RUNs, COPYs between stages,
/// layer commits, image writes and the export.
const CRASHY: &str = r#"
FROM busybox AS a
ARG N
RUN dd if=/dev/urandom of=/a.bin bs=64k count=32 2>/dev/null && echo "a$N" > /a.txt
FROM busybox AS b
ARG N
COPY big /big
RUN echo "b$N" > /b.txt && ln /b.txt /b.link && mkdir -p /d && touch /d/f
FROM busybox
ARG N
COPY --from=a /a.txt /a.bin /
COPY --from=b /b.txt /b.link /big /
RUN rm -rf /etc/passwd && cat /a.txt /b.txt > /both && echo "c$N" >> /both
"#;

/// xorshift64: reproducible kill points without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn_build(env: &TestEnv, ctx: &Path, n: u64, no_cache: bool, dest: &Path) -> Child {
    let mut c = env.cmd();
    c.args(["build", "--progress=plain", "-t", "crash:latest"])
        .arg(format!("--build-arg=N={n}"))
        .arg(format!("--output=type=oci,dest={}", dest.display()));
    if no_cache {
        c.arg("--no-cache");
    }
    c.arg(ctx)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mybuild")
}

/// Every blob must hash to its name, every layer record must have its
/// snapshot, and nothing half-done may be left once a build ran alone.
fn verify_store(root: &Path) {
    use sha2::Digest as _;
    let v1 = root.join("v1");
    let mut blobs = 0;
    for e in std::fs::read_dir(v1.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let data = std::fs::read(e.path()).unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&data)),
            name,
            "blob {name} does not match its digest"
        );
        blobs += 1;
    }
    assert!(blobs > 0);
    for e in std::fs::read_dir(v1.join("layers")).unwrap() {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let snap = v1.join("snapshots").join(rec["snapshot"].as_str().unwrap());
        assert!(snap.is_dir(), "layer record without snapshot: {rec}");
    }
    for dir in ["tmp", "ingest"] {
        let left: Vec<_> = std::fs::read_dir(v1.join(dir)).unwrap().collect();
        assert!(left.is_empty(), "{dir}/ still holds {left:?}");
    }
}

fn check_image(archive: &Path, n: u64) {
    let img = read_oci_archive(archive);
    let both = String::from_utf8(img.file("both").expect("/both")).unwrap();
    assert_eq!(both, format!("a{n}\nb{n}\nc{n}\n"));
    assert_eq!(img.file("big").unwrap().len(), 3 << 20);
    assert_eq!(img.file("a.bin").unwrap().len(), 2 << 20);
}

#[test]
fn sigkill_at_50_random_points_leaves_a_trustworthy_store() {
    let env = TestEnv::new();
    let big: String = "0123456789abcdef".repeat((3 << 20) / 16);
    let ctx = env.context("crash", CRASHY, &[("big", big.as_str())]);
    let dest = env.work.path().join("out.tar");

    let out = spawn_build(&env, &ctx, 0, true, &dest)
        .wait_with_output()
        .unwrap();
    assert_success(&out, "reference build");
    check_image(&dest, 0);
    // How long a build with new arguments takes here, so kill points
    // spread over all of it.
    let start = Instant::now();
    let out = spawn_build(&env, &ctx, 1, false, &dest)
        .wait_with_output()
        .unwrap();
    assert_success(&out, "timed build");
    let span = start.elapsed().as_millis() as u64;

    let seed = std::env::var("MYBUILD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            t.unwrap().as_nanos() as u64 | 1
        });
    eprintln!("crash seed {seed} (MYBUILD_CRASH_SEED reproduces it), span {span} ms");
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let (mut killed, mut runs) = (0, 0);
    while killed < 50 {
        runs += 1;
        assert!(
            runs <= 200,
            "only {killed} of {runs} builds were killed mid-way"
        );
        let _ = std::fs::remove_file(&dest);
        // Mostly new arguments, so most steps really run and get killed.
        let n = rng.below(1000);
        let mut child = spawn_build(&env, &ctx, n, rng.below(4) == 0, &dest);
        std::thread::sleep(Duration::from_millis(rng.below(span)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        let status = child.wait().unwrap();
        if status.success() {
            check_image(&dest, n);
        } else if dest.exists() {
            // An export is renamed into place whole, or not at all.
            check_image(&dest, n);
        }
    }

    eprintln!("{killed} kills in {runs} runs");
    let n = 3;
    let out = spawn_build(&env, &ctx, n, false, &dest)
        .wait_with_output()
        .unwrap();
    assert_success(&out, "build after the kills");
    check_image(&dest, n);
    verify_store(env.root.path());
    let images = env.mybuild(&["images"]);
    assert!(String::from_utf8_lossy(&images.stdout).contains("crash "));
}

#[test]
fn builds_share_one_root_at_once() {
    let env = TestEnv::new();
    let big: String = "x".repeat(1 << 20);
    let ctx = env.context("shared", CRASHY, &[("big", big.as_str())]);
    let other = env.context(
        "other",
        "FROM busybox\nCOPY big /big\nRUN echo other > /o\n",
        &[("big", big.as_str())],
    );
    let mut children = Vec::new();
    for (i, c) in [&ctx, &ctx, &other, &ctx].into_iter().enumerate() {
        let dest = env.work.path().join(format!("out{i}.tar"));
        let mut cmd = env.cmd();
        cmd.args(["build", "--progress=plain", "-t"])
            .arg(format!("shared{i}:latest"))
            .arg("--build-arg=N=7")
            .arg(format!("--output=type=oci,dest={}", dest.display()))
            .arg(c)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        children.push((cmd.spawn().unwrap(), dest, c == &other));
    }
    for (child, dest, is_other) in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out, "concurrent build");
        let img = read_oci_archive(&dest);
        if is_other {
            assert_eq!(img.file("o").unwrap(), b"other\n");
        } else {
            assert_eq!(img.file("both").unwrap(), b"a7\nb7\nc7\n");
        }
        assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
    }
    let out = env.mybuild(&["images"]);
    let list = String::from_utf8_lossy(&out.stdout);
    for i in 0..4 {
        assert!(list.contains(&format!("shared{i} ")), "{list}");
    }
    // A build running alone afterwards sweeps nothing that was in use and
    // finds every layer.
    let dest = env.work.path().join("after.tar");
    let out = env.mybuild(&[
        "build",
        "--progress=plain",
        "--build-arg=N=7",
        &format!("--output=type=oci,dest={}", dest.display()),
        ctx.to_str().unwrap(),
    ]);
    assert_success(&out, "build after");
    let log = stderr(&out);
    let cached = log.lines().filter(|l| l.ends_with(" CACHED")).count();
    // Six steps and the three stages' FROMs (their layers are unpacked).
    assert_eq!(cached, 9, "every step is a cache hit:\n{log}");
    verify_store(env.root.path());
}

/// Marks every layer record as written unsynced in an earlier boot: what
/// a store looks like to the first build after a reboot.
fn simulate_reboot(root: &Path) {
    for e in std::fs::read_dir(root.join("v1/layers")).unwrap() {
        let path = e.unwrap().path();
        let mut rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(rec["boot_id"].is_string(), "record without boot id: {rec}");
        rec["boot_id"] = "00000000-0000-0000-0000-earlier-boot".into();
        rec["synced"] = false.into();
        // The record's checksum over its other fields, or it reads as torn.
        let fields = rec.as_object_mut().unwrap();
        assert!(fields.remove("checksum").is_some(), "record unsealed");
        let sum = crate::util::sha256_hex(&serde_json::to_vec(&rec).unwrap());
        rec["checksum"] = format!("sha256:{sum}").into();
        std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
    }
}

#[test]
fn after_a_reboot_a_snapshot_that_lost_pages_is_rebuilt() {
    let env = TestEnv::new();
    let ctx = env.context(
        "reboot",
        "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nRUN cat /one /two > /both\n",
        &[],
    );
    let (out, _) = env.build(&ctx, &[]);
    assert_success(&out, "first build");
    simulate_reboot(env.root.path());
    // The page holding /two never reached the disk: same size, other bytes.
    let snaps: Vec<_> = std::fs::read_dir(env.root.path().join("v1/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("two").is_file())
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    std::fs::write(snaps[0].join("two"), b"TWO\n").unwrap();

    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build after the reboot");
    let log = stderr(&out);
    let cached = crate::util::cached_steps(&log);
    assert!(cached.iter().any(|s| s.contains("RUN echo one")), "{log}");
    assert!(!cached.iter().any(|s| s.contains("RUN echo two")), "{log}");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("two").unwrap(), b"two\n");
    assert_eq!(img.file("both").unwrap(), b"one\ntwo\n");
    // Whatever was verified is now marked synced; the bad copy is gone.
    for e in std::fs::read_dir(env.root.path().join("v1/layers")).unwrap() {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let snap = env
            .root
            .path()
            .join("v1/snapshots")
            .join(rec["snapshot"].as_str().unwrap());
        if let Ok(two) = std::fs::read(snap.join("two")) {
            assert_eq!(two, b"two\n", "corrupt snapshot kept");
        }
    }
    verify_store(env.root.path());
}
