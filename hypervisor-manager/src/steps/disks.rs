//! What the disks of a missing pool carry (pure parsers for `lsblk --json` and `wipefs
//! --json`) and whether `zpool create` may use them: a disk with no signature and no
//! partition table may be used; one that carries something only when the operator named it
//! with `--wipe-disks` (it is wiped first); a disk of an existing pool never.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One disk as `lsblk --json --bytes --nodeps -o NAME,PATH,SIZE,TYPE,TRAN,FSTYPE,PTTYPE`
/// reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BlockDevice {
    /// `sdb`.
    pub name: String,
    /// `/dev/sdb`.
    pub path: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    /// `disk`, `part`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `nvme`, `sata`, …
    pub tran: Option<String>,
    /// A signature (`zfs_member`, `ext4`), if any.
    pub fstype: Option<String>,
    /// A partition table (`gpt`, `dos`), if any.
    pub pttype: Option<String>,
}

#[derive(Deserialize)]
struct Lsblk {
    blockdevices: Vec<BlockDevice>,
}

/// Parses `lsblk --json` output.
pub fn parse_lsblk(text: &str) -> anyhow::Result<Vec<BlockDevice>> {
    let l: Lsblk = serde_json::from_str(text).context("cannot parse `lsblk --json` output")?;
    Ok(l.blockdevices)
}

/// One signature as `wipefs --no-act --json` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Signature {
    /// `sdb`.
    pub device: String,
    /// `0x3f000`.
    pub offset: String,
    /// `zfs_member`, `gpt`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Label (a pool name for `zfs_member`).
    pub label: Option<String>,
}

#[derive(Deserialize)]
struct Wipefs {
    #[serde(default)]
    signatures: Vec<Signature>,
}

/// Parses `wipefs --no-act --json` output (empty output: no signatures).
pub fn parse_wipefs(text: &str) -> anyhow::Result<Vec<Signature>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let w: Wipefs = serde_json::from_str(text).context("cannot parse `wipefs --json` output")?;
    Ok(w.signatures)
}

/// What a disk carries, for the decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskFacts {
    /// The path as configured.
    pub path: String,
    /// It exists as a block device.
    pub exists: bool,
    /// Signatures and partition tables found (`zfs_member (pool tank)`, `gpt`).
    pub carries: Vec<String>,
    /// The existing pool it belongs to, if any.
    pub in_pool: Option<String>,
}

/// The `zpool create` vdev keyword for a configured `raid_level` (`None`: a stripe).
pub fn vdev(raid_level: Option<&str>, disks: usize) -> anyhow::Result<Option<&'static str>> {
    let level = raid_level.unwrap_or("single").to_ascii_lowercase();
    let (kw, min) = match level.as_str() {
        "single" | "stripe" | "none" | "" => (None, 1),
        "mirror" => (Some("mirror"), 2),
        "raidz" | "raidz1" => (Some("raidz1"), 3),
        "raidz2" => (Some("raidz2"), 4),
        "raidz3" => (Some("raidz3"), 5),
        other => bail!("raid_level {other:?} is not single, mirror, raidz1, raidz2 or raidz3"),
    };
    if disks < min {
        bail!("raid_level {level} needs at least {min} disk(s), {disks} configured");
    }
    Ok(kw)
}

/// Which disks must be wiped before `zpool create`, or why the pool cannot be created.
pub fn decide(pool: &str, facts: &[DiskFacts], wipe: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut to_wipe = Vec::new();
    let mut refused = Vec::new();
    for d in facts {
        if !d.exists {
            refused.push(format!("{} does not exist", d.path));
            continue;
        }
        if let Some(p) = &d.in_pool {
            refused.push(format!("{} belongs to the existing pool {p}", d.path));
            continue;
        }
        if d.carries.is_empty() {
            continue;
        }
        if wipe.iter().any(|w| w.as_os_str() == d.path.as_str()) {
            to_wipe.push(d.path.clone());
        } else {
            refused.push(format!(
                "{} carries {} (name it with --wipe-disks to erase it)",
                d.path,
                d.carries.join(", ")
            ));
        }
    }
    if !refused.is_empty() {
        bail!("pool {pool} is not created: {}", refused.join("; "));
    }
    Ok(to_wipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsblk_and_wipefs_json() {
        let l = parse_lsblk(r#"{"blockdevices": [{"name":"sdb","path":"/dev/sdb","size":1000204886016,"type":"disk","tran":"sata","fstype":null,"pttype":"gpt"}]}"#).unwrap();
        assert_eq!(l[0].pttype.as_deref(), Some("gpt"));
        assert_eq!(l[0].size, Some(1_000_204_886_016));
        let w = parse_wipefs(r#"{"signatures": [{"device":"sdb","offset":"0x3f000","type":"zfs_member","uuid":"1234","label":"tank"}]}"#).unwrap();
        assert_eq!(w[0].kind, "zfs_member");
        assert_eq!(w[0].label.as_deref(), Some("tank"));
        assert!(parse_wipefs("").unwrap().is_empty());
    }

    fn disk(path: &str, carries: &[&str]) -> DiskFacts {
        DiskFacts {
            path: path.into(),
            exists: true,
            carries: carries.iter().map(|s| s.to_string()).collect(),
            in_pool: None,
        }
    }

    #[test]
    fn only_clean_disks_or_named_ones_are_used() {
        assert_eq!(
            decide("fast", &[disk("/dev/sdb", &[])], &[]).unwrap(),
            Vec::<String>::new()
        );
        let e = decide("fast", &[disk("/dev/sdb", &["ext4"])], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pool fast is not created: /dev/sdb carries ext4 (name it with --wipe-disks to erase it)"
        );
        assert_eq!(
            decide(
                "fast",
                &[disk("/dev/sdb", &["gpt"])],
                &[PathBuf::from("/dev/sdb")]
            )
            .unwrap(),
            ["/dev/sdb"]
        );
        let mut member = disk("/dev/sdc", &["zfs_member (pool tank)"]);
        member.in_pool = Some("tank".into());
        let e = decide("fast", &[member], &[PathBuf::from("/dev/sdc")]).unwrap_err();
        assert!(
            e.to_string().contains("belongs to the existing pool tank"),
            "{e}"
        );
        let missing = DiskFacts {
            exists: false,
            ..disk("/dev/sdz", &[])
        };
        assert!(
            decide("fast", &[missing], &[])
                .unwrap_err()
                .to_string()
                .contains("/dev/sdz does not exist")
        );
    }

    #[test]
    fn raid_levels() {
        assert_eq!(vdev(Some("mirror"), 2).unwrap(), Some("mirror"));
        assert_eq!(vdev(Some("RAIDZ1"), 3).unwrap(), Some("raidz1"));
        assert_eq!(vdev(None, 1).unwrap(), None);
        assert!(vdev(Some("mirror"), 1).is_err());
        assert!(
            vdev(Some("raid5"), 3)
                .unwrap_err()
                .to_string()
                .contains("raid5")
        );
    }
}
