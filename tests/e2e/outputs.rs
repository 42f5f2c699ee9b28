//! End-to-end tests of buildx's `--output` forms: `type=local` (and the
//! `-o DIR` shorthand) read back from the directory, `type=tar` (and
//! `-o -`) parsed as the tar it must be, archives streamed to stdout with
//! nothing else there, `type=registry`/`type=image,push=true` read back
//! from a real registry with skopeo, and a hostile image that must not
//! write outside the local destination.

use crate::util::registry::Registry;
use crate::util::{assert_success, stderr, TestEnv};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

/// Files with a mode, an owner, a hard link and a symlink; one file made
/// and deleted in a later layer.
const APP: &str = "FROM busybox
RUN mkdir -p /app && echo kept > /app/keep && echo gone > /app/gone \\
 && chmod 750 /app/keep && chown 12:34 /app/keep \\
 && ln -s keep /app/link && ln /app/keep /app/hard
RUN rm /app/gone
";

fn build(env: &TestEnv, ctx: &Path, args: &[&str]) -> Output {
    let mut cmd = env.cmd();
    cmd.current_dir(env.work.path())
        .arg("build")
        .args(args)
        .arg(ctx);
    cmd.output().expect("run mybuild")
}

/// A tar stream's entries: path -> (type byte, mode, uid, content or link target).
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, (u8, u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().expect("a tar stream") {
        let mut e = e.expect("a tar entry");
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        match e.link_name().unwrap() {
            Some(target) => data.extend(target.to_string_lossy().bytes()),
            None => {
                e.read_to_end(&mut data).unwrap();
            }
        }
        let (kind, mode, uid) = (
            h.entry_type().as_byte(),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
        );
        out.insert(
            path.trim_end_matches('/').to_string(),
            (kind, mode, uid, data),
        );
    }
    out
}

fn assert_app_dir(dir: &Path) {
    let keep = dir.join("app/keep");
    assert_eq!(std::fs::read(&keep).unwrap(), b"kept\n");
    let meta = std::fs::symlink_metadata(&keep).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
    assert_eq!((meta.uid(), meta.gid()), (12, 34), "owner kept as root");
    let hard = std::fs::symlink_metadata(dir.join("app/hard")).unwrap();
    assert_eq!(hard.ino(), meta.ino(), "hard link kept");
    assert!(!dir.join("app/gone").exists(), "deleted file absent");
    let link = dir.join("app/link");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("keep"));
    assert!(dir.join("bin/busybox").is_file(), "base layer applied");
}

#[test]
fn local_output_writes_the_final_filesystem() {
    let env = TestEnv::new();
    let ctx = env.context("local", APP, &[]);
    let dest = env.work.path().join("out/nested");
    let spec = format!("type=local,dest={}", dest.display());
    let out = build(&env, &ctx, &["--progress=plain", "-o", &spec]);
    assert_success(&out, "build -o type=local");
    assert_app_dir(&dest);
    assert!(stderr(&out).contains(&format!("exporting to {} done", dest.display())));
}

#[test]
fn bare_path_output_is_local() {
    let env = TestEnv::new();
    let ctx = env.context("shorthand", APP, &[]);
    let out = build(&env, &ctx, &["-q", "-o", "short"]);
    assert_success(&out, "build -o DIR");
    assert_app_dir(&env.work.path().join("short"));
}

#[test]
fn tar_output_is_the_filesystem_to_a_file_or_stdout() {
    let env = TestEnv::new();
    let ctx = env.context("tar", APP, &[]);
    let file = env.work.path().join("fs.tar");
    let spec = format!("type=tar,dest={}", file.display());
    assert_success(&build(&env, &ctx, &["-q", "-o", &spec]), "-o type=tar");
    let written = std::fs::read(&file).unwrap();
    let entries = tar_entries(&written);
    // Names in byte order: `hard` is the file, `keep` a hard link to it.
    let (kind, mode, uid, data) = &entries["app/hard"];
    let file = (*kind, *mode, *uid, &data[..]);
    assert_eq!(file, (b'0', 0o750, 12, &b"kept\n"[..]));
    let keep = &entries["app/keep"];
    assert_eq!((keep.0, &keep.3[..]), (b'1', &b"app/hard"[..]), "hard link");
    assert_eq!(
        (entries["app/link"].0, &entries["app/link"].3[..]),
        (b'2', &b"keep"[..])
    );
    assert!(!entries.contains_key("app/gone"));
    assert!(entries.contains_key("bin/busybox"));
    // `-o -` and `dest=-`: the same bytes on stdout and nothing else, the
    // progress (and -q's id) kept off it.
    for args in [
        &["--progress=plain", "-o", "-"][..],
        &["-q", "-o", "type=tar,dest=-"],
    ] {
        let out = build(&env, &ctx, args);
        assert_success(&out, &format!("{args:?}"));
        assert!(out.stdout == written, "{args:?}: stdout is not the tar");
        assert!(!env.work.path().join("-").exists(), "no file named -");
    }
}

#[test]
fn archives_stream_to_stdout() {
    let env = TestEnv::new();
    let ctx = env.context("archives", APP, &[]);
    for (spec, marker) in [
        ("type=oci,dest=-", "oci-layout"),
        ("type=docker,dest=-", "manifest.json"),
    ] {
        let out = build(&env, &ctx, &["--progress=plain", "-o", spec]);
        assert_success(&out, spec);
        let entries = tar_entries(&out.stdout);
        assert!(entries.contains_key(marker), "{spec}: {:?}", entries.keys());
        assert!(entries.contains_key("index.json"), "{spec}");
        assert!(
            !env.work.path().join("-").exists(),
            "{spec}: wrote a file named -"
        );
        assert!(stderr(&out).contains("exporting to standard output done"));
    }
}

#[test]
fn refused_output_specs_say_why() {
    let env = TestEnv::new();
    let ctx = env.context("refused", APP, &[]);
    let file = env.work.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let on_file = format!("type=local,dest={}", file.display());
    let cases = [
        (
            "type=local,dest=-",
            "dest cannot be stdout for local exporter",
        ),
        (&on_file[..], "is a file"),
        ("type=registry", "needs name="),
        ("type=zip,dest=x", "unsupported type \"zip\""),
        ("type=oci,dest=x,colour=red", "unknown key \"colour\""),
    ];
    for (spec, why) in cases {
        let out = build(&env, &ctx, &["-o", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec} should fail");
        assert!(stderr(&out).contains(why), "{spec}: {}", stderr(&out));
    }
    let two = build(&env, &ctx, &["-o", "-", "-o", "type=oci,dest=-"]);
    assert!(stderr(&two).contains("multiple outputs configured to write to stdout"));
}

fn skopeo_inspect(image: &str) -> Output {
    Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .expect("skopeo not installed (apt-get install skopeo)")
}

#[test]
fn registry_and_pushing_image_outputs_push_their_names() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let ctx = env.context("registry", APP, &[]);
    let one = format!("{}/out/one:1", registry.addr);
    let out = build(
        &env,
        &ctx,
        &["-q", "-o", &format!("type=registry,name={one}")],
    );
    assert_success(&out, "-o type=registry,name=");
    assert_success(&skopeo_inspect(&one), "skopeo inspect type=registry push");
    // `name` as a quoted list; `push=true` on an image output.
    let (a, b) = (
        format!("{}/out/a:1", registry.addr),
        format!("{}/out/b:2", registry.addr),
    );
    let spec = format!("type=image,\"name={a},{b}\",push=true");
    assert_success(
        &build(&env, &ctx, &["-q", "-o", &spec]),
        "type=image,push=true",
    );
    for name in [&a, &b] {
        assert_success(&skopeo_inspect(name), name);
        assert_success(
            &env.mybuild(&["inspect", name]),
            "pushed names are in the store",
        );
    }
    // Without name=, the -t names are pushed.
    let tagged = format!("{}/out/tagged:3", registry.addr);
    let out = build(&env, &ctx, &["-q", "-t", &tagged, "-o", "type=registry"]);
    assert_success(&out, "-t with type=registry");
    assert_success(&skopeo_inspect(&tagged), "type=registry pushes -t");
    // type=image without push stores the name and pushes nothing.
    let kept = format!("{}/out/kept:4", registry.addr);
    let out = build(
        &env,
        &ctx,
        &["-q", "-o", &format!("type=image,name={kept}")],
    );
    assert_success(&out, "type=image");
    assert_success(
        &env.mybuild(&["inspect", &kept]),
        "type=image names the image",
    );
    assert!(!skopeo_inspect(&kept).status.success(), "type=image pushed");
}

/// A sentinel directory beside the destination holding one file; an
/// image whose absolute and `../` symlinks point at it, then an image
/// that writes through those names into the same destination.
#[test]
fn local_output_never_writes_outside_its_directory() {
    let env = TestEnv::new();
    let sentinel = env.work.path().join("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    std::fs::write(sentinel.join("file"), "safe").unwrap();
    let s = sentinel.display();
    let links = format!(
        "FROM busybox\nRUN ln -s {s} /abs && ln -s ../../../../../../../..{s} /rel \
         && ln -s {s}/file /victim && mkdir /d && ln -s {s} /d/up\n"
    );
    let through = "FROM busybox\nRUN mkdir -p /abs /rel /d/up && echo pwned > /abs/pwned \
         && echo pwned > /rel/pwned && echo pwned > /victim && echo pwned > /d/up/pwned\n";
    let dest = env.work.path().join("dest");
    let spec = format!("type=local,dest={}", dest.display());
    let first = env.context("links", &links, &[]);
    assert_success(&build(&env, &first, &["-q", "-o", &spec]), "links image");
    assert_eq!(std::fs::read_link(dest.join("abs")).unwrap(), sentinel);
    let second = env.context("through", through, &[]);
    assert_success(
        &build(&env, &second, &["-q", "-o", &spec]),
        "write-through image",
    );
    let names: Vec<_> = std::fs::read_dir(&sentinel)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["file"],
        "something was written into the sentinel dir"
    );
    assert_eq!(std::fs::read(sentinel.join("file")).unwrap(), b"safe");
    for p in ["abs/pwned", "rel/pwned", "victim", "d/up/pwned"] {
        assert_eq!(std::fs::read(dest.join(p)).unwrap(), b"pwned\n", "{p}");
    }
}

/// A directory removed and made again is opaque in its layer: nothing of
/// the old one shows, in either filesystem output.
#[test]
fn a_recreated_directory_hides_what_it_held() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN mkdir /o && echo old > /o/old\n\
              RUN rm -rf /o && mkdir /o && echo new > /o/new\n";
    let ctx = env.context("opaque", df, &[]);
    let out = build(&env, &ctx, &["-q", "-o", "-"]);
    assert_success(&out, "-o -");
    let entries = tar_entries(&out.stdout);
    assert_eq!(entries["o/new"].3, b"new\n");
    assert!(
        !entries.contains_key("o/old"),
        "opaque dir shows old entries"
    );
    assert!(
        !entries.keys().any(|k| k.contains(".wh.")),
        "whiteout leaked"
    );
    let dir = env.work.path().join("opaque-out");
    assert_success(
        &build(&env, &ctx, &["-q", "-o", dir.to_str().unwrap()]),
        "-o DIR",
    );
    let names: Vec<_> = std::fs::read_dir(dir.join("o"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["new"]);
}

/// Regression: `-o type=oci,dest=/dev/null` replaced the device node with
/// a regular file (the archive was renamed over it). A device, a FIFO and
/// a symlink as `dest` are written through and stay what they are.
#[test]
fn special_and_symlinked_destinations_are_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let env = TestEnv::new();
    let ctx = env.context("special", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let dir = env.work.path();
    // A null device of our own, so a failure cannot break the host's.
    let null = dir.join("null");
    let made = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status();
    assert!(made.unwrap().success(), "mknod {}", null.display());
    let out = build(
        &env,
        &ctx,
        &["-o", &format!("type=oci,dest={}", null.display())],
    );
    assert_success(&out, "build -o dest=<char device>");
    let kind = std::fs::symlink_metadata(&null).unwrap().file_type();
    assert!(
        kind.is_char_device(),
        "the device node was replaced: {kind:?}"
    );

    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success(), "mkfifo {}", fifo.display());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read the fifo"))
    };
    let out = build(
        &env,
        &ctx,
        &["-o", &format!("type=docker,dest={}", fifo.display())],
    );
    assert_success(&out, "build -o dest=<fifo>");
    let bytes = reader.join().unwrap();
    assert!(
        tar_entries(&bytes).contains_key("manifest.json"),
        "a docker archive came through the fifo"
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    let real = dir.join("real.tar");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.join("link.tar");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = build(
        &env,
        &ctx,
        &["-o", &format!("type=docker,dest={}", link.display())],
    );
    assert_success(&out, "build -o dest=<symlink>");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let bytes = std::fs::read(&real).unwrap();
    assert!(
        tar_entries(&bytes).contains_key("manifest.json"),
        "the link's target holds the archive"
    );
}
