//! The user's subordinate id range from `/etc/subuid` or `/etc/subgid`
//! (`NAME_OR_ID:START:COUNT` lines, as shadow-utils writes them).

use super::error::RootlessError;
use std::path::Path;

/// One `START:COUNT` range of subordinate ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub count: u32,
}

/// The first range `path` gives the user `name` (or their numeric `id`).
pub fn lookup(path: &Path, name: &str, id: u32) -> Result<Range, RootlessError> {
    let text = std::fs::read_to_string(path).map_err(|source| RootlessError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    first_range(&text, name, id).ok_or_else(|| RootlessError::NoRange {
        path: path.to_path_buf(),
        user: name.to_string(),
    })
}

fn first_range(text: &str, name: &str, id: u32) -> Option<Range> {
    let id = id.to_string();
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        let mine = owner == name || owner == id;
        (mine && count > 0 && fields.next().is_none()).then_some(Range { start, count })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_first_valid_line_by_name_or_id() {
        let text = "alice:100000:65536\n# c\nbob:x:1\nbob:0:0\nbob:200000:65536\n1001:300000:10\n";
        let range = |start, count| Some(Range { start, count });
        assert_eq!(first_range(text, "alice", 1000), range(100000, 65536));
        assert_eq!(first_range(text, "bob", 1002), range(200000, 65536));
        assert_eq!(first_range(text, "carol", 1001), range(300000, 10));
        assert_eq!(first_range(text, "dave", 1003), None);
    }
}
