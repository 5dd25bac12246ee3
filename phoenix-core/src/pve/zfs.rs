//! The scripted (`-H`) forms of `zfs list`, `zfs get` and `zpool list`: one row per line,
//! fields separated by a single TAB, no header.

use super::ParseError;

/// Splits `-H` output into rows of exactly `columns` fields.
pub fn parse_tabbed(
    text: &str,
    columns: usize,
    what: &'static str,
) -> Result<Vec<Vec<String>>, ParseError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let f: Vec<String> = line.split('\t').map(str::to_string).collect();
        if f.len() != columns {
            return Err(ParseError::new(
                what,
                i + 1,
                format!(
                    "expected {columns} tab-separated fields, found {}: {line}",
                    f.len()
                ),
            ));
        }
        rows.push(f);
    }
    Ok(rows)
}

/// `zfs list -H -o name` / `zpool list -H -o name`: the names.
pub fn parse_names(text: &str) -> Result<Vec<String>, ParseError> {
    Ok(parse_tabbed(text, 1, "zfs/zpool list -H -o name")?
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect())
}

/// One row of `zfs get -H -o name,property,value,source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropRow {
    /// Dataset.
    pub name: String,
    /// Property.
    pub property: String,
    /// Value (`-` when not applicable).
    pub value: String,
    /// `local`, `default`, `inherited from <ds>`, `-`, …
    pub source: String,
}

impl PropRow {
    /// Whether the value was set on the dataset itself.
    pub fn is_local(&self) -> bool {
        self.source == "local"
    }
}

/// Parses `zfs get -H [-p] -o name,property,value,source`.
pub fn parse_get(text: &str) -> Result<Vec<PropRow>, ParseError> {
    Ok(parse_tabbed(text, 4, "zfs get -H")?
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let mut next = || it.next().unwrap_or_default();
            PropRow {
                name: next(),
                property: next(),
                value: next(),
                source: next(),
            }
        })
        .collect())
}

/// One pool of `zpool list -H -p -o name,size,alloc,free,health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRow {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Allocated bytes.
    pub alloc: u64,
    /// Free bytes.
    pub free: u64,
    /// `ONLINE`, `DEGRADED`, …
    pub health: String,
}

/// Parses `zpool list -H -p -o name,size,alloc,free,health`.
pub fn parse_zpool_list(text: &str) -> Result<Vec<PoolRow>, ParseError> {
    const WHAT: &str = "zpool list -H -p";
    parse_tabbed(text, 5, WHAT)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let num = |s: &str| {
                s.parse::<u64>().map_err(|_| {
                    ParseError::new(WHAT, i + 1, format!("`{s}` is not a byte count (use -p)"))
                })
            };
            Ok(PoolRow {
                name: r[0].clone(),
                size: num(&r[1])?,
                alloc: num(&r[2])?,
                free: num(&r[3])?,
                health: r[4].clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabbed_forms() {
        assert_eq!(
            parse_names("rpool\nrpool/data\n").unwrap(),
            ["rpool", "rpool/data"]
        );
        let g = parse_get("rpool/data\tcompression\ton\tinherited from rpool\nrpool/data/vm-100-disk-0\tvolsize\t34359738368\tlocal\n").unwrap();
        assert_eq!(g[0].source, "inherited from rpool");
        assert!(g[1].is_local());
        let p =
            parse_zpool_list("rpool\t996432412672\t1760936960\t994671475712\tONLINE\n").unwrap();
        assert_eq!(p[0].alloc, 1_760_936_960);
        assert!(
            parse_zpool_list("rpool\t928G\t1.64G\t926G\tONLINE\n")
                .unwrap_err()
                .to_string()
                .contains("use -p")
        );
        assert!(parse_get("a b c\n").is_err());
    }
}
