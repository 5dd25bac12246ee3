//! `pvesm status`: a header then one row per storage,
//! `<name> <type> <active|inactive|disabled> <total KiB> <used KiB> <avail KiB> <pct>%|N/A`.

use super::ParseError;

/// One storage row.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageStatus {
    /// Storage ID.
    pub name: String,
    /// Type (`dir`, `zfspool`, `nfs`, …).
    pub kind: String,
    /// `active`, `inactive` or `disabled`.
    pub status: String,
    /// Total KiB.
    pub total_kib: u64,
    /// Used KiB.
    pub used_kib: u64,
    /// Available KiB.
    pub avail_kib: u64,
    /// Used percentage (`None` for `N/A`).
    pub percent: Option<f64>,
}

impl StorageStatus {
    /// Whether the storage is usable.
    pub fn active(&self) -> bool {
        self.status == "active"
    }
}

/// `pvesm status`, the command.
pub fn status_cmd() -> crate::cmd::Cmd {
    crate::cmd::Cmd::read("pvesm").arg("status")
}

/// `12 GiB`, `12.5 GiB`.
fn gib(bytes: u64) -> String {
    let g = bytes as f64 / f64::from(1u32 << 30);
    if g.fract() == 0.0 {
        format!("{g:.0} GiB")
    } else {
        format!("{g:.1} GiB")
    }
}

/// Whether storage `want` is listed, active and has `need` bytes available for `what` (a
/// new disk: a container's root disk, a VM's imported or fully cloned disk). The error says
/// what the host has, so a plan refuses a size no storage can hold before anything is made.
pub fn check_room(list: &[StorageStatus], want: &str, need: u64, what: &str) -> Result<(), String> {
    match list.iter().find(|s| s.name == want) {
        Some(s) if !s.active() => Err(format!("storage {want:?} is {} on this host", s.status)),
        Some(s) if s.avail_kib.saturating_mul(1024) < need => Err(format!(
            "storage {want:?} has {} available, and {what} needs {}; free space on it or ask for less",
            gib(s.avail_kib.saturating_mul(1024)),
            gib(need)
        )),
        Some(_) => Ok(()),
        None => Err(format!(
            "storage {want:?} does not exist on this host (pvesm status lists {})",
            list.iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The header's words without the `(KiB)` units PVE 9.1 added.
fn header_words(h: &str) -> Vec<&str> {
    h.split_whitespace().filter(|w| *w != "(KiB)").collect()
}

/// Parses `pvesm status`.
pub fn parse_status(text: &str) -> Result<Vec<StorageStatus>, ParseError> {
    const WHAT: &str = "pvesm status";
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        // pve-storage src/PVE/CLI/pvesm.pm:251-252 prints `Total (KiB) Used (KiB) Available
        // (KiB)` since 9.0.14 (PVE 9.1); older releases print `Total Used Available`. The
        // columns and their units are the same.
        Some((_, h))
            if header_words(h) == ["Name", "Type", "Status", "Total", "Used", "Available", "%"] => {
        }
        Some((i, h)) => {
            return Err(ParseError::new(
                WHAT,
                i + 1,
                format!("unexpected header: {h}"),
            ));
        }
        None => return Ok(Vec::new()),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 7 {
            return Err(ParseError::new(
                WHAT,
                i + 1,
                format!("expected 7 columns: {line}"),
            ));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| ParseError::new(WHAT, i + 1, format!("`{s}` is not a number")))
        };
        let percent =
            match f[6] {
                "N/A" => None,
                p => Some(p.trim_end_matches('%').parse::<f64>().map_err(|_| {
                    ParseError::new(WHAT, i + 1, format!("`{p}` is not a percentage"))
                })?),
            };
        out.push(StorageStatus {
            name: f[0].into(),
            kind: f[1].into(),
            status: f[2].into(),
            total_kib: num(f[3])?,
            used_kib: num(f[4])?,
            avail_kib: num(f[5])?,
            percent,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let text = "Name             Type     Status           Total            Used       Available        %\nlocal             dir     active        98497780         2808096        95689684    2.85%\nnfs-bak           nfs   disabled               0               0               0      N/A\n";
        let s = parse_status(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].percent, Some(2.85));
        assert!(s[0].active() && !s[1].active());
        assert_eq!(s[1].percent, None);
        assert!(parse_status("Name Type\n").is_err());
    }
}
