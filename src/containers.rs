//! The legacy mode's kept containers: `ps -a`, `rm`, `diff` and `commit`,
//! shown as the classic engine shows them.

use crate::store::open_store;
use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_cache::{ContainerRecord, ContainerState, Store};
use mybuild_graph::Digest;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (without it, only running ones, and kept containers never run)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Containers to remove (ids or unique prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Container id or unique prefix
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Container id or unique prefix
    pub container: String,
    /// Name for the new image, NAME[:TAG]
    pub name: Option<String>,
}

pub fn ps(root: &Path, args: PsArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let now = std::time::SystemTime::now();
    // Kept containers are all stopped (created or exited); like `docker ps`,
    // only `-a` lists those.
    let all: Vec<ContainerRecord> = match args.all {
        true => store.containers()?,
        false => Vec::new(),
    };
    if args.quiet {
        for c in &all {
            println!("{}", if args.no_trunc { &c.id } else { &c.id[..12] });
        }
        return Ok(());
    }
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
    ]];
    for c in &all {
        let image = match (&c.image, args.no_trunc) {
            (Some(img), true) => img.to_string(),
            (Some(img), false) => image_name(&store, img),
            (None, _) => String::new(),
        };
        let (id, command) = match args.no_trunc {
            true => (c.id.clone(), shell_words(&c.command)),
            false => (
                c.id[..12].to_string(),
                crate::table::truncate(&shell_words(&c.command), 20),
            ),
        };
        rows.push([
            id,
            image,
            go_quote(&command),
            crate::table::ago(&c.created, now),
            status(&c.state, now),
        ]);
    }
    let lines: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
    print!("{}", crate::table::columns(&lines));
    Ok(())
}

/// An image's first name, else its short id, as `docker ps` shows it.
fn image_name(store: &Store, id: &Digest) -> String {
    match store.names_of(id).ok().and_then(|n| n.into_iter().next()) {
        Some(name) => mybuild_registry::Reference::familiar_name(&name),
        None => id.hex()[..12].to_string(),
    }
}

fn status(state: &ContainerState, now: std::time::SystemTime) -> String {
    match state {
        ContainerState::Created => "Created".into(),
        ContainerState::Exited { code, finished } => {
            format!("Exited ({code}) {}", crate::table::ago(finished, now))
        }
    }
}

/// Docker's command column: words with spaces single-quoted.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.chars().any(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `strconv.Quote` for the characters a command holds.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn find(store: &Store, word: &str) -> anyhow::Result<ContainerRecord> {
    store
        .find_container(word)?
        .with_context(|| format!("No such container: {word}"))
}

pub fn rm(root: &Path, args: RmArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let mut failed = Vec::new();
    for word in &args.containers {
        match find(&store, word).and_then(|c| Ok(store.remove_container(&c.id)?)) {
            Ok(()) => println!("{word}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed.push(word.as_str());
            }
        }
    }
    if !failed.is_empty() {
        bail!("could not remove {}", failed.join(", "));
    }
    Ok(())
}

/// A container's filesystem changes: its layer's snapshot or its kept
/// upper dir, in overlay form.
fn changes_dir(store: &Store, c: &ContainerRecord) -> anyhow::Result<Option<PathBuf>> {
    if let Some(layer) = &c.layer {
        let dir = store
            .snapshot_dir(layer)
            .with_context(|| format!("container {}: layer {layer} is missing", &c.id[..12]))?;
        return Ok(Some(dir));
    }
    let upper = store.container_upper(&c.id);
    Ok(upper.is_dir().then_some(upper))
}

pub fn diff(root: &Path, args: DiffArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let c = find(&store, &args.container)?;
    let Some(dir) = changes_dir(&store, &c)? else {
        return Ok(());
    };
    let lowers = match &c.image {
        Some(img) => store
            .image_layers(img)?
            .iter()
            .filter_map(|d| store.snapshot_dir(d))
            .collect(),
        None => Vec::new(),
    };
    for (kind, path) in changes(&dir, &lowers)? {
        println!("{kind} {path}");
    }
    Ok(())
}

/// `A`dded, `C`hanged and `D`eleted paths of an overlay upper dir over its
/// lower dirs, sorted by path.
fn changes(upper: &Path, lowers: &[PathBuf]) -> anyhow::Result<Vec<(char, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![(upper.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
            let meta = entry.metadata().with_context(|| format!("stat {path}"))?;
            let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
            let in_lower = lowers
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(&path[1..])).is_ok());
            let kind = match (whiteout, in_lower) {
                (true, _) => 'D',
                (false, true) => 'C',
                (false, false) => 'A',
            };
            out.push((kind, path.clone()));
            if meta.is_dir() {
                stack.push((entry.path(), path));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

pub fn commit(root: &Path, args: CommitArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let mut c = find(&store, &args.container)?;
    if c.layer.is_none() {
        let upper = store.container_upper(&c.id);
        if upper.is_dir() {
            c.layer = Some(store.commit_upper(&upper)?);
            store.put_container(&c)?;
        }
    }
    let config = committed_config(&store, &c)?;
    let id = store.put_image(&config)?;
    if let Some(name) = &args.name {
        let r = mybuild_registry::Reference::parse(name)
            .with_context(|| format!("invalid image name {name:?}"))?;
        store.tag(&r.to_string(), &id)?;
    } else {
        store.put_intermediate(&id, c.image.as_ref())?;
    }
    println!("{id}");
    Ok(())
}

/// The container's image config with its layer on top.
fn committed_config(store: &Store, c: &ContainerRecord) -> anyhow::Result<Vec<u8>> {
    let mut config: serde_json::Value = match &c.image {
        Some(img) => serde_json::from_slice(&store.read_blob(img)?)
            .with_context(|| format!("image {img}: config is not JSON"))?,
        None => {
            serde_json::json!({"architecture": mybuild_graph::host_arch(), "os": "linux",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": []}})
        }
    };
    let now = crate::config::rfc3339(std::time::SystemTime::now());
    let obj = config
        .as_object_mut()
        .context("image config is not an object")?;
    obj.insert("created".into(), now.clone().into());
    let mut entry = serde_json::json!({"created": now, "created_by": c.command.join(" ")});
    match &c.layer {
        Some(layer) => {
            let ids = obj
                .get_mut("rootfs")
                .and_then(|r| r.get_mut("diff_ids"))
                .and_then(|d| d.as_array_mut())
                .context("image config has no rootfs.diff_ids")?;
            ids.push(layer.to_string().into());
        }
        None => entry["empty_layer"] = true.into(),
    }
    let history = obj
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(h) = history.as_array_mut() {
        h.push(entry);
    }
    Ok(serde_json::to_vec(&config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_like_docker_ps() {
        let cmd: Vec<String> = ["/bin/sh", "-c", "echo \"some output\" && exit 3"]
            .map(String::from)
            .into();
        assert_eq!(
            go_quote(&crate::table::truncate(&shell_words(&cmd), 20)),
            r#""/bin/sh -c 'echo \"s…""#
        );
        let nop: Vec<String> = ["/bin/sh", "-c", "#(nop) ", "CMD [\"redis-server\"]"]
            .map(String::from)
            .into();
        assert_eq!(
            go_quote(&shell_words(&nop)),
            r#""/bin/sh -c '#(nop) ' 'CMD [\"redis-server\"]'""#
        );
    }

    #[test]
    fn lists_added_changed_and_deleted_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/old"), b"x").unwrap();
        std::fs::write(lower.join("gone"), b"x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/new"), b"y").unwrap();
        std::fs::write(upper.join("etc/old"), b"z").unwrap();
        nix::sys::stat::mknod(
            &upper.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let got = changes(&upper, &[lower]).unwrap();
        let want = [
            ('C', "/etc"),
            ('A', "/etc/new"),
            ('C', "/etc/old"),
            ('D', "/gone"),
        ];
        assert_eq!(got, want.map(|(k, p)| (k, p.to_string())).to_vec());
    }
}
