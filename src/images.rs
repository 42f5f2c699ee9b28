//! `mybuild images`: what the local store holds, as `docker images` shows
//! it: one row per name, untagged images as `<none>:<none>` (intermediate
//! ones, which other images were made from, only with `-a`), newest
//! first, with Docker's `--filter`, `--format`, `--digests`, `--no-trunc`
//! and `-q`.

use crate::image_filter::{in_window, Filters};
use crate::store::open_store;
use crate::table::{ago, columns, created_at, parse_time};
use crate::tagging::find;
use crate::template::Template;
use crate::units::human_size;
use clap::Args;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::Reference;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::SystemTime;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only list this repository (a `reference` filter; globs allowed)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
    /// Only show image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show intermediate images too (legacy builds make one per step)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter: dangling=true|false, before=IMAGE, since=IMAGE, label=KEY[=VALUE], reference=PATTERN
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Print with a Go template: `{{.Repository}}:{{.Tag}}`, `table {{.ID}}\t{{.Size}}`, `{{json .}}`
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
}

/// One image, with what the table and the filters read of it.
struct Image {
    id: Digest,
    /// Familiar `name:tag`s.
    names: Vec<String>,
    /// Familiar `repo@digest`s from pushes.
    digests: Vec<String>,
    created: Option<String>,
    size: u64,
    labels: Value,
}

pub fn run(root: &Path, args: ImagesArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let mut filter_args = args.filters.clone();
    if let Some(r) = &args.reference {
        filter_args.push(format!("reference={r}"));
    }
    let filters = Filters::parse(&filter_args)?;
    let images = selected(&store, &args, &filters)?;
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), false) => f.clone(),
        (None, false) if args.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                .to_string()
        }
        (None, false) => {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".to_string()
        }
    };
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for img in &images {
        rows.extend(row_values(img, &filters, args.no_trunc, now));
    }
    print!("{}", render(&format, &rows)?);
    Ok(())
}

/// Rows through the template; `table ...` adds the header and aligns the
/// columns, as Docker's formatter does (which also reads `\t`, `\n` typed
/// as two characters as a tab and a newline).
fn render(format: &str, rows: &[Value]) -> anyhow::Result<String> {
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest),
        None => (false, format),
    };
    let mut body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    if table && body.is_empty() {
        body = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into();
    }
    let template = Template::parse(&body)?;
    let mut lines = Vec::new();
    if table {
        lines.push(template.render(&header())?);
    }
    for row in rows {
        lines.push(template.render(row)?);
    }
    if table {
        return Ok(columns(&lines));
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// What each field is called in a table's header.
fn header() -> Value {
    json!({
        "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
        "Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY",
        "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
        "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    })
}

/// The image's rows: one per name that passes the reference filter (with
/// that repository's pushed digest), or one `<none>` row.
fn row_values(img: &Image, filters: &Filters, no_trunc: bool, now: SystemTime) -> Vec<Value> {
    let digest_of = |repo: &str| {
        img.digests
            .iter()
            .find(|d| d.split('@').next() == Some(repo))
            .and_then(|d| d.split_once('@').map(|(_, dg)| dg.to_string()))
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut triples = Vec::new();
    for name in &img.names {
        let (repo, tag) = split_tag(name);
        if filters.reference_matches(name, repo) {
            triples.push((repo.to_string(), tag.to_string(), digest_of(repo)));
        }
    }
    if img.names.is_empty() {
        triples.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    let id = match no_trunc {
        true => img.id.to_string(),
        false => img.id.hex()[..12].to_string(),
    };
    let created = img.created.as_deref().unwrap_or("");
    let size = human_size(img.size);
    triples
        .into_iter()
        .map(|(repo, tag, digest)| {
            json!({
                "Containers": "N/A", "CreatedAt": created_at(created),
                "CreatedSince": if created.is_empty() { "N/A".into() } else { ago(created, now) },
                "Digest": digest, "ID": id, "Repository": repo, "SharedSize": "N/A",
                "Size": size, "Tag": tag, "UniqueSize": "N/A", "VirtualSize": size,
            })
        })
        .collect()
}

/// The images to list, newest first, after every filter but `reference`
/// (which picks rows).
fn selected(store: &Store, args: &ImagesArgs, filters: &Filters) -> anyhow::Result<Vec<Image>> {
    let mut by_id: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for (name, id) in store.tags()? {
        by_id
            .entry(id)
            .or_default()
            .push(Reference::familiar_name(&name));
    }
    let untagged = store.intermediates()?;
    let parents: BTreeSet<&Digest> = untagged.values().flatten().collect();
    for id in untagged.keys() {
        // Docker hides untagged images other images were made from.
        if !by_id.contains_key(id) && store.has_blob(id) && (args.all || !parents.contains(id)) {
            by_id.insert(id.clone(), Vec::new());
        }
    }
    let time_of = |word: &Option<String>| -> anyhow::Result<Option<SystemTime>> {
        let Some(word) = word else { return Ok(None) };
        let img = load(store, find(store, word)?.config, Vec::new())?;
        Ok(img.created.as_deref().and_then(parse_time))
    };
    let (before, since) = (time_of(&filters.before)?, time_of(&filters.since)?);
    let mut out = Vec::new();
    for (id, names) in by_id {
        let dangling = names.is_empty();
        if filters.dangling.is_some_and(|d| d != dangling)
            || (dangling && !filters.references.is_empty())
        {
            continue;
        }
        let img = load(store, id, names)?;
        let created = img.created.as_deref().and_then(parse_time);
        if filters.labels_match(&img.labels) && in_window(created, before, since) {
            out.push(img);
        }
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.created.as_deref().and_then(parse_time)));
    Ok(out)
}

/// Reads an image's config for its time, labels and size.
fn load(store: &Store, id: Digest, names: Vec<String>) -> anyhow::Result<Image> {
    let config: Value = serde_json::from_slice(&store.read_blob(&id)?)?;
    let mut size = 0;
    for d in store.image_layers(&id)? {
        size += store.layer_record(&d)?.map_or(0, |r| r.size);
    }
    let digests = store
        .repo_digests(&id)?
        .iter()
        .map(|d| Reference::familiar_name(d))
        .collect();
    Ok(Image {
        names,
        digests,
        created: config["created"].as_str().map(String::from),
        size,
        labels: config["config"]["Labels"].clone(),
        id,
    })
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

    #[test]
    fn formats_render_rows_and_tables() {
        let row = json!({"Repository": "app", "Tag": "1", "ID": "0123456789ab"});
        let rows = [row.clone(), row];
        assert_eq!(
            render("{{.Repository}}:{{.Tag}}", &rows).unwrap(),
            "app:1\napp:1\n"
        );
        assert_eq!(
            render(r"table {{.Repository}}\t{{.ID}}", &rows[..1]).unwrap(),
            "REPOSITORY   IMAGE ID\napp          0123456789ab\n"
        );
        assert!(render("{{.Nope}}", &rows).is_err());
    }
}
