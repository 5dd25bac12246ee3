//! Files an installer run left inside a guest because removing them failed: the pushed
//! script and its 0600 inputs file, which can hold secrets. Each failed removal is a warning
//! and is recorded on the host (`$STATE_DIR/leftovers/<lxc|vm>-<id>`, one guest path per
//! line); the next converge of the guest removes them first ([`super::runtime`] plans it,
//! so a guest with nothing recorded plans nothing).

use std::path::PathBuf;

use crate::cmd::{FileSpec, Runner};
use crate::ids::{GuestId, GuestKind};
use crate::paths::Layout;

/// Where the record of guest `id` is.
pub fn path(layout: &Layout, kind: GuestKind, id: GuestId) -> PathBuf {
    layout
        .state_dir()
        .join("leftovers")
        .join(format!("{}-{id}", kind.as_str()))
}

/// The guest paths still to remove.
pub fn read(layout: &Layout, kind: GuestKind, id: GuestId) -> Vec<String> {
    crate::files::read_to_string(path(layout, kind, id))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Records `paths` as left in the guest (with those already recorded), and warns.
pub fn add(
    runner: &Runner,
    layout: &Layout,
    kind: GuestKind,
    id: GuestId,
    paths: &[String],
    why: &str,
) -> anyhow::Result<()> {
    tracing::warn!(
        "could not remove {} from {} {id} ({why}); the next converge removes them",
        paths.join(", "),
        crate::converge::apply::noun(kind)
    );
    let mut all = read(layout, kind, id);
    for p in paths {
        if !all.contains(p) {
            all.push(p.clone());
        }
    }
    let file = path(layout, kind, id);
    if let Some(dir) = file.parent() {
        runner.ensure_dir(dir, 0o755)?;
    }
    let mut text = all.join("\n");
    text.push('\n');
    runner.write_file(&file, text.as_bytes(), FileSpec::mode(0o644))?;
    Ok(())
}

/// Forgets the record (the files are gone).
pub fn clear(runner: &Runner, layout: &Layout, kind: GuestKind, id: GuestId) -> anyhow::Result<()> {
    runner.remove_file(&path(layout, kind, id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_accumulate_and_clear() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(d.path().join("root"), d.path().join("sys"));
        let r = Runner::system(false);
        let id = GuestId(101);
        assert!(read(&layout, GuestKind::Lxc, id).is_empty());
        add(
            &r,
            &layout,
            GuestKind::Lxc,
            id,
            &["/tmp/phoenix/a".into()],
            "test",
        )
        .unwrap();
        add(
            &r,
            &layout,
            GuestKind::Lxc,
            id,
            &["/tmp/phoenix/a".into(), "/tmp/phoenix/a.json".into()],
            "test",
        )
        .unwrap();
        assert_eq!(
            read(&layout, GuestKind::Lxc, id),
            ["/tmp/phoenix/a", "/tmp/phoenix/a.json"]
        );
        assert!(read(&layout, GuestKind::Vm, id).is_empty());
        clear(&r, &layout, GuestKind::Lxc, id).unwrap();
        assert!(read(&layout, GuestKind::Lxc, id).is_empty());
    }
}
