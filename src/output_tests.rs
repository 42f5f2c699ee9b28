//! Unit tests of `--output` parsing: every form buildx takes, and the
//! refusals it makes.

use super::*;

fn parse(spec: &str) -> Output {
    Output::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e:#}"))
}

fn err(spec: &str) -> String {
    format!("{:#}", Output::parse(spec).unwrap_err())
}

#[test]
fn parses_archive_specs() {
    let o = parse("type=oci,dest=/tmp/x.tar");
    assert_eq!(o.kind, OutputKind::Oci);
    assert_eq!(o.dest, Dest::Path("/tmp/x.tar".into()));
    assert_eq!(parse("type=docker,dest=a").kind, OutputKind::Docker);
    let z = parse("type=oci,dest=a,compression=zstd");
    assert_eq!(z.compression, Some(CompressionArg::Zstd));
    assert!(err("type=oci,dest=a,compression=lz4").contains("unsupported compression"));
    assert!(err("dest=a,compression=gzip").contains("missing type="));
    assert!(err("type=zip,dest=a").contains("unsupported type \"zip\""));
    assert!(err("type=oci,dest=a,colour=red").contains("unknown key \"colour\""));
    assert!(err("type=oci,dest").contains("expected key=value"));
    assert_eq!(
        parse("type=oci,dest=a,rewrite-timestamp=true").kind,
        OutputKind::Oci
    );
    assert!(err("type=oci,dest=a,rewrite-timestamp=yes").contains("true or false"));
}

#[test]
fn dash_or_no_dest_is_standard_output_for_file_exporters() {
    for spec in ["type=oci,dest=-", "type=oci", "type=tar", "type=tar,dest=-"] {
        assert_eq!(parse(spec).dest, Dest::Stdout, "{spec}");
    }
    assert_eq!(parse("type=docker,dest=-").dest, Dest::Stdout);
    assert_eq!(parse("type=tar,dest=out.tar").kind, OutputKind::Tar);
}

#[test]
fn shorthands_are_local_and_tar_to_stdout() {
    let o = parse("out/dir");
    assert_eq!(o.kind, OutputKind::Local);
    assert_eq!(o.dest, Dest::Path("out/dir".into()));
    // As buildx: one field without `type=` is a directory, `=` or not.
    assert_eq!(parse("dest=x").dest, Dest::Path("dest=x".into()));
    let o = parse("-");
    assert_eq!((o.kind, o.dest), (OutputKind::Tar, Dest::Stdout));
}

#[test]
fn local_needs_a_directory_not_stdout() {
    let o = parse("type=local,dest=out");
    assert_eq!(
        (o.kind, o.dest),
        (OutputKind::Local, Dest::Path("out".into()))
    );
    assert_eq!(
        err("type=local,dest=-"),
        "dest cannot be stdout for local exporter"
    );
    assert_eq!(err("type=local"), "dest is required for local exporter");
    assert!(err("type=local,dest=d,compression=gzip").contains("unknown key"));
}

#[test]
fn image_and_registry_outputs() {
    let o = parse("type=image");
    assert_eq!(
        o.kind,
        OutputKind::Image {
            names: vec![],
            push: false
        }
    );
    assert_eq!(o.dest, Dest::Store);
    let o = parse("type=registry,name=localhost:5000/a:1");
    assert_eq!(
        o.kind,
        OutputKind::Image {
            names: vec!["localhost:5000/a:1".into()],
            push: true
        }
    );
    let o = parse(r#"type=image,"name=a:1,b",push=true"#);
    let names = vec![
        "docker.io/library/a:1".into(),
        "docker.io/library/b:latest".into(),
    ];
    assert_eq!(o.kind, OutputKind::Image { names, push: true });
    let o = parse(r#"type=image,name="r:5000/a,r:5000/b",push=false"#);
    assert_eq!(o.pushes(&[]), &[] as &[String]);
    assert!(err("type=image,push=maybe").contains("not a boolean"));
    assert!(err("type=registry,dest=x").contains("unknown key \"dest\""));
    assert!(err(r#"type=image,"name=a"#).contains("unterminated quote"));
    // A docker output without dest goes to the store, as `--load` does.
    assert!(matches!(
        parse("type=docker").kind,
        OutputKind::Image { push: false, .. }
    ));
}

#[test]
fn registry_pushes_its_names_else_the_tags() {
    let tags = vec!["r:5000/t:1".to_string()];
    assert_eq!(parse("type=registry").pushes(&tags), &tags[..]);
    let own = parse("type=registry,name=r:5000/own");
    assert_eq!(own.pushes(&tags), &["r:5000/own:latest".to_string()][..]);
    assert!(check_all(&[parse("type=registry")], &[]).is_err());
    assert!(check_all(&[parse("type=registry")], &tags).is_ok());
}

#[test]
fn one_output_at_most_on_stdout() {
    let two = [parse("type=tar"), parse("type=oci,dest=-")];
    let e = check_all(&two, &[]).unwrap_err().to_string();
    // Under `cargo test` stdout may be a terminal; either refusal names it.
    assert!(e.contains("stdout") || e.contains("console"), "{e}");
    assert!(uses_stdout(&two));
    assert!(!uses_stdout(&[parse("type=local,dest=d")]));
}

#[test]
fn a_local_dest_that_is_a_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("mybuild-output-test-{}", std::process::id()));
    std::fs::write(&dir, b"x").unwrap();
    let spec = format!("type=local,dest={}", dir.display());
    let e = check_all(&[parse(&spec)], &[]).unwrap_err().to_string();
    std::fs::remove_file(&dir).unwrap();
    assert!(e.contains("is a file"), "{e}");
}

#[test]
fn docker_archives_default_to_plain_tars_and_oci_to_gzip() {
    let of = |spec: &str| parse(spec).compression();
    assert_eq!(of("type=docker,dest=a"), CompressionArg::Uncompressed);
    assert_eq!(of("type=oci,dest=a"), CompressionArg::Gzip);
    assert_eq!(
        of("type=docker,dest=a,compression=gzip"),
        CompressionArg::Gzip
    );
    assert_eq!(of("type=oci,dest=a,compression=zstd"), CompressionArg::Zstd);
}

#[test]
fn force_compression_is_read_as_buildx_does() {
    assert!(!parse("type=docker,dest=a").force_compression);
    assert!(parse("type=docker,dest=a,force-compression=true").force_compression);
    assert!(parse("type=oci,dest=a,compression=zstd,force-compression=1").force_compression);
    assert!(!parse("type=oci,dest=a,force-compression=false").force_compression);
    assert!(err("type=oci,dest=a,force-compression=yes").contains("not a boolean"));
    assert!(err("type=local,dest=a,force-compression=true").contains("unknown key"));
}
