//! The host's own settings: GPU lists, NFS export options, time zones, login names, SSH keys,
//! Samba names, checksums, runfile URLs, PCI IDs.

/// Parses a GPU assignment: `none` or a comma list of indices (`0`, `0,1`, `0, 1`).
pub fn gpu_assignment(s: &str) -> Result<Vec<u32>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") || t.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in t.split(',') {
        let p = part.trim();
        let n: u32 = p
            .parse()
            .ok()
            .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!("{s:?} is not a GPU assignment (expected \"none\" or GPU indices like \"0\" or \"0,1\")")
            })?;
        if n > 63 {
            return Err(format!("GPU index {n} in {s:?} is out of range (0-63)"));
        }
        if out.contains(&n) {
            return Err(format!("GPU {n} is listed twice in {s:?}"));
        }
        out.push(n);
    }
    Ok(out)
}

/// An NFS export option as exportfs accepts it: a flag or `key=value` of exports(5), the
/// keywords nfs-utils' `support/nfs/exports.c` `parseopts` knows (anything else makes
/// exportfs reject the line: `unknown keyword`).
pub fn nfs_export_option(s: &str) -> Result<(), String> {
    const FLAGS: &[&str] = &[
        "rw",
        "ro",
        "sync",
        "async",
        "no_subtree_check",
        "subtree_check",
        "root_squash",
        "no_root_squash",
        "all_squash",
        "no_all_squash",
        "secure",
        "insecure",
        "wdelay",
        "no_wdelay",
        "crossmnt",
        "nohide",
        "hide",
        "secure_locks",
        "insecure_locks",
        "no_auth_nlm",
        "auth_nlm",
        "no_acl",
        "acl",
        "mountpoint",
        "mp",
        "pnfs",
        "no_pnfs",
        "security_label",
    ];
    const KEYS: &[&str] = &[
        "fsid",
        "anonuid",
        "anongid",
        "sec",
        "refer",
        "replicas",
        "mountpoint",
        "mp",
        "xprtsec",
    ];
    let ok = match s.split_once('=') {
        Some((k, v)) => KEYS.contains(&k) && !v.is_empty() && !v.contains(char::is_whitespace),
        None => FLAGS.contains(&s),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an NFS export option (exports(5))"))
    }
}

/// Checks a time zone name as tzdata spells them (`UTC`, `Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`).
pub fn timezone(s: &str) -> Result<(), String> {
    let ok = s == "UTC"
        || (s.contains('/')
            && !s.starts_with('/')
            && !s.ends_with('/')
            && !s.contains("//")
            && !s.contains("..")
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c)));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a time zone name such as Europe/Berlin or Etc/UTC"
        ))
    }
}

/// Checks a login name in `useradd`'s portable form: a lower-case letter or `_`, then
/// lower-case letters, digits, `_` and `-`, at most 32.
pub fn login_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid user name (lowercase letters, digits, _ and -, at most 32)"
        ))
    }
}

/// Checks one OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn ssh_public_key(s: &str) -> Result<(), String> {
    let mut w = s.split_whitespace();
    let kind = w.next().unwrap_or("");
    let body = w.next().unwrap_or("");
    let ok = !s.contains(['\n', '\r'])
        && (kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-"))
        && body.len() > 20
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if ok {
        Ok(())
    } else {
        Err("not one OpenSSH public key line (ssh-ed25519 AAAA… comment)".to_string())
    }
}

/// Checks a Samba share name: not empty, no brackets or line breaks, at most 80, not one of
/// the sections Samba reserves.
pub fn samba_share_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 80 || s.contains(['\n', '\r', '[', ']']) {
        return Err(format!("{s:?} is not a share name"));
    }
    if ["global", "homes", "printers"].contains(&s.to_ascii_lowercase().as_str()) {
        return Err(format!("{s:?} is reserved by Samba"));
    }
    Ok(())
}

/// Checks a NetBIOS workgroup name: letters, digits, `_` and `-`, at most 15.
pub fn workgroup(s: &str) -> Result<(), String> {
    if !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a workgroup name (letters, digits, '_' and '-', at most 15)"
        ))
    }
}

/// Checks a SHA-256 in hex.
pub fn sha256(s: &str) -> Result<(), String> {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a SHA-256 in hex (64 hex digits)"))
    }
}

/// Checks an NVIDIA runfile URL and returns the file's name: HTTPS only (the file runs as
/// root), ending in a plain `.run` name.
pub fn runfile_url(s: &str) -> Result<String, String> {
    if !s.starts_with("https://") {
        return Err(format!(
            "{s:?} is not an https:// URL (the runfile runs as root)"
        ));
    }
    let name = s.rsplit('/').next().unwrap_or("");
    if !name.ends_with(".run")
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!("{s:?} does not name a .run file"));
    }
    Ok(name.to_string())
}

/// Checks a PCI `vendor:device` ID (`10de:2204`).
pub fn pci_id(s: &str) -> Result<(), String> {
    let ok = s.len() == 9
        && s.as_bytes()[4] == b':'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a vendor:device ID such as 10de:2204"))
    }
}
