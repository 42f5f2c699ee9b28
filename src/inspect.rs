//! `mybuild inspect` (like `docker image inspect`) and `mybuild history`.

use crate::store::open_store;
use crate::table::{ago, columns, truncate};
use crate::tagging::find;
use crate::template::Template;
use crate::units::human_size;
use anyhow::Context as _;
use clap::Args;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::Reference;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Names or ids of the images
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Print each image through a Go template instead: `{{.Config.Cmd}}`, `{{json .RootFS}}`, `{{index .Config.Labels "k"}}`
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Name or id of the image
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print times as RFC 3339 instead of "2 hours ago"
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
}

fn config_of(store: &Store, id: &Digest) -> anyhow::Result<Value> {
    let bytes = store.read_blob(id)?;
    serde_json::from_slice(&bytes).with_context(|| format!("image config {id}"))
}

/// The object `docker image inspect` prints for one image.
fn describe(store: &Store, id: &Digest) -> anyhow::Result<Value> {
    let config = config_of(store, id)?;
    let layers = store.image_layers(id)?;
    let mut size = 0;
    for d in &layers {
        size += store.layer_record(d)?.map_or(0, |r| r.size);
    }
    let tags: Vec<String> = store
        .names_of(id)?
        .iter()
        .map(|n| Reference::familiar_name(n))
        .collect();
    let digests: Vec<String> = store
        .repo_digests(id)?
        .iter()
        .map(|d| Reference::familiar_name(d))
        .collect();
    Ok(json!({
        "Id": id.as_str(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(Value::Null),
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": config.get("config").cloned().unwrap_or(json!({})),
        "Architecture": config.get("architecture").cloned().unwrap_or(json!("")),
        "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
        "Os": config.get("os").cloned().unwrap_or(json!("")),
        "Size": size,
        "RootFS": {"Type": "layers", "Layers": layers},
    }))
}

pub fn inspect(root: &Path, args: InspectArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let mut out = Vec::new();
    for word in &args.images {
        let found = find(&store, word)?;
        out.push(describe(&store, &found.config)?);
    }
    match &args.format {
        Some(format) => {
            // Parsed first: a bad template fails before any output.
            let template = Template::parse(format)?;
            for v in &out {
                println!("{}", template.render(v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}

pub fn history(root: &Path, args: HistoryArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let id = find(&store, &args.image)?.config;
    let config = config_of(&store, &id)?;
    let mut layers = store.image_layers(&id)?.into_iter();
    let empty = Vec::new();
    let entries = config["history"].as_array().unwrap_or(&empty);
    let mut rows = Vec::new();
    for h in entries {
        let size = if h["empty_layer"] == true {
            0
        } else {
            match layers.next() {
                Some(d) => store.layer_record(&d)?.map_or(0, |r| r.size),
                None => 0,
            }
        };
        rows.push((h, size));
    }
    let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
    let now = std::time::SystemTime::now();
    let ancestors = ancestors(&store, &id)?;
    let total = rows.len();
    for (i, (h, size)) in rows.iter().rev().enumerate() {
        // An entry is an image of its own when an ancestor (a legacy
        // build's intermediate image, or the base) ends there; the rest,
        // as in Docker for BuildKit-built images, have no id.
        let image = match (ancestors.get(&(total - i)), args.no_trunc) {
            (Some(a), true) => a.to_string(),
            (Some(a), false) => a.short().to_string(),
            (None, _) => "<missing>".to_string(),
        };
        if args.quiet {
            println!("{image}");
            continue;
        }
        let created = h["created"].as_str().unwrap_or("");
        let created = if args.human {
            ago(created, now)
        } else {
            created.to_string()
        };
        let by = h["created_by"].as_str().unwrap_or("");
        let by = if args.no_trunc {
            by.to_string()
        } else {
            truncate(by, 45)
        };
        let comment = h["comment"].as_str().unwrap_or("");
        // A tab or newline in a command would break the columns.
        let by = by.replace(['\t', '\n'], " ");
        lines.push(format!(
            "{image}\t{created}\t{by}\t{}\t{comment}",
            human_size(*size)
        ));
    }
    if !args.quiet {
        print!("{}", columns(&lines));
    }
    Ok(())
}

/// The image and its recorded parents (legacy intermediate images), by
/// the length of each one's history.
fn ancestors(
    store: &mybuild_cache::Store,
    id: &mybuild_graph::Digest,
) -> anyhow::Result<std::collections::HashMap<usize, mybuild_graph::Digest>> {
    let parents = store.intermediates()?;
    let mut out = std::collections::HashMap::new();
    let mut next = Some(id.clone());
    while let Some(cur) = next.take() {
        if !store.has_blob(&cur) || out.values().any(|d| *d == cur) {
            break;
        }
        let config = config_of(store, &cur)?;
        let len = config["history"].as_array().map_or(0, Vec::len);
        out.entry(len).or_insert_with(|| cur.clone());
        next = parents.get(&cur).cloned().flatten();
    }
    Ok(out)
}
