//! Paths: canonical absolute paths, the host directories and guest mount points the product
//! may use, file names.

/// An absolute path in canonical form: `//` collapsed, no trailing `/`. `.` and `..`
/// components are refused (a path given to `pct` and the one the product creates or chowns
/// must be the same; `/tank/../etc` is not `/tank/etc`), and so is a relative path.
pub fn abs_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} is not an absolute path"));
    }
    let mut parts = Vec::new();
    for c in s.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(format!(
                "{s:?} has a {c:?} component; write the path without it"
            ));
        }
        parts.push(c);
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The install root of the shell version (and this one's default), which holds operator data
/// the shell version's files bind-mount (`etc/nginx/sites-available`): not a system tree.
const INSTALL_ROOT: &str = "/usr/local/phoenix_hypervisor";

/// A host directory the product may bind-mount, export, share, create or chown: an
/// [`abs_path`] that is neither `/` nor `/var` itself, nor in a system tree (`/etc` — with
/// `/etc/pve` —, `/usr`, `/boot`, `/root`, `/proc`, `/sys`, `/dev`, `/run`, `/bin`, `/sbin`,
/// `/lib*`), except below the install root. Returns the canonical path.
pub fn host_dir(s: &str) -> Result<String, String> {
    const TREES: &[&str] = &[
        "/etc", "/usr", "/boot", "/root", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib",
        "/lib32", "/lib64", "/libx32",
    ];
    let p = abs_path(s)?;
    let under = |t: &str| p == t || p.starts_with(&format!("{t}/"));
    if under(INSTALL_ROOT) && p != INSTALL_ROOT {
        return Ok(p);
    }
    if p == "/" || p == "/var" {
        return Err(format!(
            "{p} is a system directory of the host; name a directory of your own"
        ));
    }
    if let Some(t) = TREES.iter().find(|t| under(t)) {
        return Err(format!(
            "{p} is in the host's system tree {t}; name a directory of your own (a dataset's mount point, /mnt/…)"
        ));
    }
    Ok(p)
}

/// A path inside a container a bind mount or volume may be mounted at: an [`abs_path`] that
/// is not `/` nor a system directory itself, and not inside `/proc`, `/sys` or `/dev` (the
/// kernel's interfaces). Returns the canonical path.
pub fn guest_dir(s: &str) -> Result<String, String> {
    const TOP: &[&str] = &[
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
        "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
    ];
    let p = abs_path(s)?;
    if p == "/" || TOP.contains(&p.as_str()) {
        return Err(format!(
            "{p} is a system directory of the guest; mount at a directory below it or elsewhere"
        ));
    }
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|t| p.starts_with(&format!("{t}/")))
    {
        return Err(format!(
            "{p} is inside the kernel's interfaces (/proc, /sys, /dev)"
        ));
    }
    Ok(p)
}

/// A file name (an OS template, a cloud image): one path component, not `.` or `..`.
pub fn file_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') {
        Err(format!("{s:?} is not a file name (one component, no '/')"))
    } else {
        Ok(())
    }
}
