//! `mybuild images`: what the local store holds, as `docker images` shows it.

use crate::store::open_store;
use crate::units::human_size;
use clap::Args;
use mybuild_registry::Reference;
use std::path::Path;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only show image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show intermediate images too (legacy builds make one per step)
    #[arg(short = 'a', long)]
    pub all: bool,
}

pub fn run(root: &Path, args: ImagesArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let mut images = store.images()?;
    if args.all {
        images.extend(store.untagged_intermediates()?);
        // Newest first, as `docker images` orders them.
        images.sort_by(|a, b| b.created.cmp(&a.created));
    }
    if args.quiet {
        for img in images {
            println!("{}", img.config.short());
        }
        return Ok(());
    }
    println!(
        "{:<40} {:<20} {:<14} {:<22} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"
    );
    for img in images {
        let familiar = Reference::familiar_name(&img.name);
        let (repo, tag) = match img.name.is_empty() {
            true => ("<none>", "<none>"),
            false => split_tag(&familiar),
        };
        let created = img.created.as_deref().map_or("-".into(), |c| {
            crate::table::ago(c, std::time::SystemTime::now())
        });
        println!(
            "{:<40} {:<20} {:<14} {:<22} {:>10}",
            repo,
            tag,
            img.config.short(),
            created,
            human_size(img.size)
        );
    }
    Ok(())
}

/// `host:5000/name:tag` -> (`host:5000/name`, `tag`); the tag colon is after the last `/`.
pub(crate) fn split_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "<none>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_after_the_registry_port() {
        assert_eq!(
            split_tag("127.0.0.1:5000/busybox:latest"),
            ("127.0.0.1:5000/busybox", "latest")
        );
        assert_eq!(split_tag("alpine:3"), ("alpine", "3"));
        assert_eq!(
            split_tag("127.0.0.1:5000/x"),
            ("127.0.0.1:5000/x", "<none>")
        );
    }
}
