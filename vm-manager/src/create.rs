//! How a missing VM comes to exist (planned purely from the storage configuration and the
//! source's `.conf`): a template built from a cloud image, or a clone. Also where the cloud
//! image and the cloud-init snippets live.

use std::path::PathBuf;

use phoenix_core::cmd::Cmd;
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::GuestConfig;
use phoenix_core::pve::storage::Storage;

use crate::cloudinit::snippet_name;
use crate::options::{self, Given};
use crate::qm;
use crate::spec::{Source, VmSpec};

/// Storage types whose template disks can back linked clones.
const LINKED: &[&str] = &["zfspool", "lvmthin", "rbd", "zfs"];

/// Where the VM's cloud-init snippet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnippetStore {
    /// Storage ID.
    pub storage: String,
    /// The snippet file on the host (`<path>/snippets/phoenix-vm-<id>-user.yml`).
    pub file: PathBuf,
    /// `cicustom` value.
    pub cicustom: String,
    /// The storage does not hold snippets yet: `pvesm set <id> --content <list>` first.
    pub enable: Option<String>,
}

/// Picks the snippets storage: the first active directory-backed storage that holds
/// `snippets`; else `local`, to which the `snippets` content type is added (planned).
pub fn snippet_store(
    layout: &Layout,
    storages: &[Storage],
    id: GuestId,
) -> Result<SnippetStore, String> {
    let with_path = |s: &&Storage| !s.disabled() && s.path().is_some();
    let (st, enable) = match storages
        .iter()
        .filter(with_path)
        .find(|s| s.has_content("snippets"))
    {
        Some(s) => (s, None),
        None => {
            let Some(local) = storages.iter().filter(with_path).find(|s| s.id == "local") else {
                return Err("no storage holds cloud-init snippets: add the content type `snippets` to a directory storage (e.g. `pvesm set local --content iso,vztmpl,backup,snippets`)".into());
            };
            let mut list: Vec<&str> = local.content();
            list.push("snippets");
            (local, Some(list.join(",")))
        }
    };
    let name = snippet_name(id.get());
    let dir = st.path().unwrap_or("/var/lib/vz");
    Ok(SnippetStore {
        storage: st.id.clone(),
        file: layout.host(format!("{dir}/snippets/{name}")),
        cicustom: format!("user={}:snippets/{name}", st.id),
        enable,
    })
}

/// Finds the cloud image `name` in the ISO (`template/iso/`) or import (`import/`) directory
/// of a storage. The error lists where it looked.
pub fn find_image(layout: &Layout, storages: &[Storage], name: &str) -> Result<PathBuf, String> {
    let mut looked = Vec::new();
    for s in storages.iter().filter(|s| !s.disabled()) {
        let Some(path) = s.path() else { continue };
        for (content, sub) in [("iso", "template/iso"), ("import", "import")] {
            if s.has_content(content) {
                let p = layout.host(format!("{path}/{sub}/{name}"));
                if p.is_file() {
                    return Ok(p);
                }
                looked.push(format!("{path}/{sub}/{name}"));
            }
        }
    }
    if looked.is_empty() {
        return Err(format!(
            "cloud image {name} not found: no storage holds ISO images or imports"
        ));
    }
    Err(format!(
        "cloud image {name} not found; looked in {}. Download it there first, e.g. wget -O {} https://cloud-images.ubuntu.com/noble/current/{name}",
        looked.join(", "),
        looked[0]
    ))
}

/// A planned creation.
#[derive(Clone, Debug)]
pub struct Creation {
    /// Plan lines.
    pub changes: Vec<Change>,
    /// The commands, in order.
    pub cmds: Vec<Cmd>,
    /// The main section the VM will have (what the settings are planned against before it
    /// exists).
    pub predicted: GuestConfig,
    /// Bytes the new disk takes on the VM's storage (an imported image grown to
    /// `disk_size_gb`, a full clone), checked against `pvesm status`; `None` for a linked
    /// clone, which shares its template's blocks.
    pub needs: Option<u64>,
    /// The VM a `qm clone` copies, and how Proxmox locks it meanwhile.
    pub clone_source: Option<(GuestId, phoenix_core::pve::locks::Mode)>,
}

/// Plans the creation of `spec`. `source` is the clone source's config (`None` when it does
/// not exist yet, in a dry run); `source_spec` its spec.
pub fn plan(
    spec: &VmSpec,
    snippet: &SnippetStore,
    image: Option<PathBuf>,
    storages: &[Storage],
    source: Option<&GuestConfig>,
    source_spec: Option<&VmSpec>,
) -> Result<Creation, String> {
    let id = spec.id;
    match &spec.source {
        Source::Image(name) => {
            let image = image.ok_or_else(|| format!("cloud image {name} not found"))?;
            let table = options::table(spec, &snippet.cicustom);
            let cmds = vec![
                qm::create(id, &options::given(&table, Given::Create)),
                qm::disk_import(id, &image, &spec.storage, "scsi0"),
                qm::QM.set(id, &options::given(&table, Given::AfterImport), &[]),
            ];
            Ok(Creation {
                changes: vec![
                    Change::new(
                        Op::Add,
                        "create",
                        format!("VM {id} from cloud image {name}"),
                    )
                    .to(format!("disk on {}", spec.storage)),
                ],
                cmds,
                predicted: GuestConfig {
                    main: options::written(&table, spec),
                    ..GuestConfig::default()
                },
                needs: Some(spec.disk_gb.unwrap_or(0).saturating_mul(1 << 30)),
                clone_source: None,
            })
        }
        Source::Clone { from, snapshot } => {
            let src_template = source.is_some_and(|c| c.main.is_template())
                || (source.is_none() && source_spec.is_some_and(|s| s.is_template));
            let src_storage = source
                .and_then(|c| c.main.prop("scsi0", Some("file")))
                .and_then(|p| {
                    p.get("file")
                        .and_then(|f| f.split_once(':'))
                        .map(|(s, _)| s.to_string())
                })
                .or_else(|| source_spec.map(|s| s.storage.clone()));
            let kind = storages
                .iter()
                .find(|s| Some(&s.id) == src_storage.as_ref())
                .map(|s| s.kind.clone());
            let linked = src_template
                && snapshot.is_none()
                && src_storage.as_deref() == Some(spec.storage.as_str())
                && kind.as_deref().is_some_and(|k| LINKED.contains(&k));
            let how = if linked {
                "linked clone of template".to_string()
            } else {
                format!("full clone onto {}", spec.storage)
            };
            let cmd = qm::clone(
                *from,
                id,
                &spec.name,
                (!linked).then_some(spec.storage.as_str()),
                snapshot.as_deref(),
            );
            let mut predicted = match (source, source_spec) {
                (Some(c), _) => GuestConfig {
                    main: c.main.clone(),
                    ..GuestConfig::default()
                },
                // The source's snippet is not known here; converge gives the clone its own.
                (None, Some(s)) => GuestConfig {
                    main: options::written(&options::table(s, ""), s),
                    ..GuestConfig::default()
                },
                (None, None) => return Err(format!("clone source {from} is not configured")),
            };
            predicted.main.keys.remove("template");
            predicted.main.keys.insert("name".into(), spec.name.clone());
            if !linked {
                phoenix_core::pve::storage::move_volumes(
                    &mut predicted.main,
                    storages,
                    &spec.storage,
                    id.get(),
                    false,
                );
            }
            let mut what = format!("VM {id}: {how} {from}");
            if let Some(s) = snapshot {
                what.push_str(&format!(" at snapshot {s}"));
            }
            let source_disk = source
                .and_then(|c| c.main.prop("scsi0", Some("file")))
                .and_then(|p| p.get("size").and_then(crate::plan::size_gib))
                .unwrap_or(0);
            let needs = (!linked).then(|| {
                source_disk
                    .max(spec.disk_gb.unwrap_or(0))
                    .saturating_mul(1 << 30)
            });
            Ok(Creation {
                changes: vec![Change::new(Op::Add, "create", what)],
                cmds: vec![cmd],
                predicted,
                needs,
                clone_source: Some((
                    *from,
                    phoenix_core::pve::locks::clone_source(GuestKind::Vm, src_template),
                )),
            })
        }
    }
}
