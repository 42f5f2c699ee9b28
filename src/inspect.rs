//! `mybuild inspect` (like `docker image inspect`) and `mybuild history`.

use crate::store::open_store;
use crate::table::{ago, truncate};
use crate::tagging::find;
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
    /// Print each image through a template instead: `{{.Config.Env}}`, `{{json .RootFS}}`
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
    Ok(json!({
        "Id": id.as_str(),
        "RepoTags": tags,
        "RepoDigests": [],
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
        Some(template) => {
            for v in &out {
                println!("{}", render_template(template, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}

/// The small part of Go templates people use with inspect: `{{.A.B}}` and
/// `{{json .A}}`. Strings print bare, anything else as JSON.
fn render_template(template: &str, v: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .with_context(|| format!("--format {template:?}: unclosed {{{{"))?;
        let expr = rest[start + 2..start + end].trim();
        let (as_json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let path = path
            .strip_prefix('.')
            .with_context(|| format!("--format {template:?}: expected .Field in {expr:?}"))?;
        let mut cur = v;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            cur = cur.get(key).unwrap_or(&Value::Null);
        }
        match cur {
            Value::String(s) if !as_json => out.push_str(s),
            Value::Null if !as_json => out.push_str("<no value>"),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
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
    if !args.quiet {
        println!(
            "{:<14} {:<20} {:<46} {:<10} COMMENT",
            "IMAGE", "CREATED", "CREATED BY", "SIZE"
        );
    }
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
        println!(
            "{image:<14} {created:<20} {by:<46} {:<10} {comment}",
            human_size(*size)
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_pick_fields() {
        let v = json!({"Id": "sha256:ab", "Config": {"Env": ["A=1"]}, "Os": "linux"});
        assert_eq!(
            render_template("{{.Id}} {{.Os}}", &v).unwrap(),
            "sha256:ab linux"
        );
        assert_eq!(
            render_template("{{json .Config.Env}}", &v).unwrap(),
            r#"["A=1"]"#
        );
        assert_eq!(render_template("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(render_template("{{.Id", &v).is_err());
    }
}
