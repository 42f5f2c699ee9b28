//! `mybuild bootstrap-busybox`: a base image made from the host's static
//! busybox, so builds work offline with no registry at all.

use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_registry::Reference;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    /// Name to give the image
    #[arg(short = 't', long = "tag", default_value = "busybox:latest")]
    pub tag: String,
    /// The static busybox binary to use (Debian package busybox-static)
    #[arg(long, default_value = "/bin/busybox")]
    pub busybox: PathBuf,
    /// The platform the binary is for (linux/ARCH), e.g. linux/arm64 with
    /// Debian's busybox-static:arm64; the image is named for it alone
    #[arg(long)]
    pub platform: Option<String>,
}

pub async fn run(root: &Path, args: BootstrapArgs) -> anyhow::Result<()> {
    let name = Reference::parse(&args.tag)
        .with_context(|| format!("invalid tag {:?}", args.tag))?
        .to_string();
    let arch = match &args.platform {
        Some(p) => mybuild_graph::platform_arch(p)
            .with_context(|| format!("--platform {p}: not linux/ARCH"))?,
        None => mybuild_graph::host_arch().to_string(),
    };
    // Listing a foreign busybox's applets runs it under emulation.
    if arch != mybuild_graph::host_arch() {
        mybuild_solver::sandbox::check_emulation(&arch)?;
    }
    std::fs::create_dir_all(root)
        .with_context(|| format!("creating store root {}", root.display()))?;
    let store = crate::store::open_store(root)?;
    let busybox = args.busybox.clone();
    let id = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let layer = busybox_layer(&busybox)?;
        let diff_id = store.import_layer(std::io::Cursor::new(layer), None)?;
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.as_str()]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mybuild bootstrap-busybox"}],
        });
        let id = store.put_image(&serde_json::to_vec(&config)?)?;
        store.tag_for_arch(&name, &arch, &id)?;
        Ok(id)
    })
    .await??;
    println!("{} {}", args.tag, id);
    Ok(())
}

/// A deterministic layer: the FHS skeleton, busybox, one symlink per applet.
fn busybox_layer(busybox: &Path) -> anyhow::Result<Vec<u8>> {
    let binary = std::fs::read(busybox).with_context(|| {
        format!(
            "reading {} (install Debian package busybox-static)",
            busybox.display()
        )
    })?;
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", busybox.display()))?;
    if !list.status.success() {
        bail!(
            "{} --list failed: is it a busybox binary?",
            busybox.display()
        );
    }
    let mut applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .split_whitespace()
        .filter(|a| *a != "busybox")
        .map(String::from)
        .collect();
    applets.sort();
    applets.dedup();

    let mut tar = tar::Builder::new(Vec::new());
    for dir in [
        "bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "usr/bin", "var",
    ] {
        let mode = match dir {
            "root" => 0o700,
            "tmp" => 0o1777,
            _ => 0o755,
        };
        append(&mut tar, dir, tar::EntryType::Directory, mode, &[], None)?;
    }
    append(
        &mut tar,
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        &binary,
        None,
    )?;
    for a in &applets {
        append(
            &mut tar,
            &format!("bin/{a}"),
            tar::EntryType::Symlink,
            0o777,
            &[],
            Some("busybox"),
        )?;
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
    append(
        &mut tar,
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        passwd,
        None,
    )?;
    append(
        &mut tar,
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        b"root:x:0:\nnobody:x:65534:\n",
        None,
    )?;
    Ok(tar.into_inner()?)
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    if let Some(target) = link {
        h.set_link_name(target)?;
    }
    h.set_path(path)?;
    h.set_cksum();
    tar.append(&h, data)?;
    Ok(())
}
