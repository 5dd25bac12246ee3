//! `pct listsnapshot <id>` / `qm listsnapshot <id>`: the snapshot tree.
//!
//! Each line is `<prefix> <name> <YYYY-MM-DD HH:MM:SS> <description>` where the prefix is
//! `` `-> `` preceded by one space per tree level; the last line is `current` ("You are
//! here!"). Names are padded to 30 minus the prefix length; `current` has no time.

use super::ParseError;

/// One snapshot (or `current`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Name (`current` for the live state).
    pub name: String,
    /// The snapshot this one derives from (tree parent).
    pub parent: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`, absent for `current`.
    pub time: Option<String>,
    /// First line of the description (`no-description` when empty).
    pub description: String,
}

/// Parses the tree. The result excludes nothing: `current` is the last entry when present.
pub fn parse_listsnapshot(text: &str) -> Result<Vec<SnapshotEntry>, ParseError> {
    const WHAT: &str = "listsnapshot";
    let mut out: Vec<SnapshotEntry> = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some(arrow) = line.find("`->") else {
            return Err(ParseError::new(
                WHAT,
                i + 1,
                format!("no `` `-> `` marker: {line}"),
            ));
        };
        if !line[..arrow].chars().all(|c| c == ' ') {
            return Err(ParseError::new(
                WHAT,
                i + 1,
                format!("unexpected text before the marker: {line}"),
            ));
        }
        let depth = arrow;
        let rest = line[arrow + 3..].trim_start();
        let (name, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if name.is_empty() {
            return Err(ParseError::new(WHAT, i + 1, "missing snapshot name"));
        }
        let after = after.trim_start();
        let looks_like_time = after.len() >= 19
            && after.as_bytes()[4] == b'-'
            && after.as_bytes()[13] == b':'
            && after[..4].bytes().all(|b| b.is_ascii_digit());
        let (time, description) = if looks_like_time {
            (
                Some(after[..19].to_string()),
                after[19..].trim().to_string(),
            )
        } else {
            (None, after.trim().to_string())
        };
        while stack.last().is_some_and(|(d, _)| *d >= depth) {
            stack.pop();
        }
        let parent = stack.last().map(|(_, n)| n.clone());
        stack.push((depth, name.to_string()));
        out.push(SnapshotEntry {
            name: name.to_string(),
            parent,
            time,
            description,
        });
    }
    Ok(out)
}

/// Snapshot names only (without `current`).
pub fn snapshot_names(entries: &[SnapshotEntry]) -> Vec<&str> {
    entries
        .iter()
        .filter(|e| e.name != "current")
        .map(|e| e.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees() {
        let text = "`-> first                       2024-11-10 12:00:00     no-description\n `-> second                     2024-11-11 09:30:00     before upgrade\n  `-> current                                           You are here!\n";
        let e = parse_listsnapshot(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].parent.as_deref(), Some("first"));
        assert_eq!(e[1].description, "before upgrade");
        assert_eq!(e[2].time, None);
        assert_eq!(snapshot_names(&e), ["first", "second"]);
        let only = parse_listsnapshot(
            "`-> current                                               You are here!\n",
        )
        .unwrap();
        assert!(snapshot_names(&only).is_empty());
        assert!(parse_listsnapshot("first 2024\n").is_err());
    }
}
