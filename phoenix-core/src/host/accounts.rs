//! Users and groups as the name service reports them (`getent passwd|group|shadow`), parsed
//! from the colon-separated lines of `passwd(5)`, `group(5)` and `shadow(5)`.

use anyhow::{Context, bail};

use crate::cmd::{Cmd, Runner};

/// One `passwd` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passwd {
    /// Login name.
    pub name: String,
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Comment.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// One `group` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group ID.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// Parses a `passwd` line.
pub fn parse_passwd(line: &str) -> anyhow::Result<Passwd> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() != 7 {
        bail!("not a passwd line: {line:?}");
    }
    Ok(Passwd {
        name: f[0].into(),
        uid: f[2]
            .parse()
            .with_context(|| format!("bad uid in {line:?}"))?,
        gid: f[3]
            .parse()
            .with_context(|| format!("bad gid in {line:?}"))?,
        gecos: f[4].into(),
        home: f[5].into(),
        shell: f[6].into(),
    })
}

/// Parses a `group` line.
pub fn parse_group(line: &str) -> anyhow::Result<Group> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() != 4 {
        bail!("not a group line: {line:?}");
    }
    Ok(Group {
        name: f[0].into(),
        gid: f[2]
            .parse()
            .with_context(|| format!("bad gid in {line:?}"))?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The password field of a `shadow` line (a crypt(3) hash, `!`, `*` or empty).
pub fn parse_shadow_hash(line: &str) -> anyhow::Result<String> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 2 {
        bail!("not a shadow line");
    }
    Ok(f[1].to_string())
}

/// Whether `hash` looks like a crypt(3) hash `chpasswd -e` accepts (`$id$…`).
pub fn is_crypt_hash(hash: &str) -> bool {
    let parts: Vec<&str> = hash.split('$').collect();
    hash.starts_with('$')
        && parts.len() >= 4
        && !parts[1].is_empty()
        && parts.last().is_some_and(|p| !p.is_empty())
        && !hash.contains([':', '\n', ' '])
}

/// `getent <db> <key>`: the entry, or `None` when there is none (exit 2).
pub fn getent(runner: &Runner, db: &str, key: &str) -> anyhow::Result<Option<String>> {
    let out = runner
        .run(&Cmd::read("getent").args([db, key]).ok_codes(&[0, 2]))
        .with_context(|| format!("cannot look up {key} in the {db} database"))?;
    Ok((out.code == Some(0)).then(|| out.stdout_str().lines().next().unwrap_or("").to_string()))
}

/// The user `name`, if it exists.
pub fn user(runner: &Runner, name: &str) -> anyhow::Result<Option<Passwd>> {
    getent(runner, "passwd", name)?
        .map(|l| parse_passwd(&l))
        .transpose()
}

/// The group `name`, if it exists.
pub fn group(runner: &Runner, name: &str) -> anyhow::Result<Option<Group>> {
    getent(runner, "group", name)?
        .map(|l| parse_group(&l))
        .transpose()
}

/// The password hash of user `name` (`None`: no such user).
pub fn password_hash(runner: &Runner, name: &str) -> anyhow::Result<Option<String>> {
    getent(runner, "shadow", name)?
        .map(|l| parse_shadow_hash(&l))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_as_the_files_hold_them() {
        let p =
            parse_passwd("phoenix_admin:x:1000:1000:Phoenix admin:/home/phoenix_admin:/bin/bash\n")
                .unwrap();
        assert_eq!(
            (p.uid, p.gid, p.home.as_str()),
            (1000, 1000, "/home/phoenix_admin")
        );
        let g = parse_group("sudo:x:27:alice,bob").unwrap();
        assert_eq!(g.members, ["alice", "bob"]);
        assert!(parse_group("users:x:100:").unwrap().members.is_empty());
        assert_eq!(
            parse_shadow_hash("root:$y$j9T$abc$def:19700:0:99999:7:::").unwrap(),
            "$y$j9T$abc$def"
        );
        assert!(parse_passwd("garbage").is_err());
    }

    #[test]
    fn hashes_are_checked() {
        assert!(is_crypt_hash("$6$salt$abcdefghij"));
        assert!(is_crypt_hash(
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7"
        ));
        assert!(!is_crypt_hash("NOT_SET"));
        assert!(!is_crypt_hash("hunter2"));
        assert!(!is_crypt_hash("$6$salt$abc:def"));
    }
}
