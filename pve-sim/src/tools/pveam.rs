//! `pveam` (pve-manager appliance manager): `available`, `list`, `download`, `remove`,
//! `update`, over a fixed catalogue of the system templates (no network).

use crate::Ctx;
use crate::outcome::{Effect, Outcome};
use crate::storage::StorageCfg;
use crate::tools::{die, param_error, parse_opts, positionals, resolve};

const COMMANDS: &[(&str, &str)] = &[("download", "<storage> <template>")];

/// The `system` section of the appliance index (name, size in bytes).
pub const CATALOGUE: &[(&str, u64)] = &[
    ("alpine-3.21-default_20241217_amd64.tar.xz", 3_132_760),
    ("debian-12-standard_12.7-1_amd64.tar.zst", 126_515_062),
    ("debian-13-standard_13.1-2_amd64.tar.zst", 131_072_000),
    ("rockylinux-9-default_20240912_amd64.tar.xz", 98_566_144),
    ("ubuntu-22.04-standard_22.04-1_amd64.tar.zst", 129_824_858),
    ("ubuntu-24.04-standard_24.04-2_amd64.tar.zst", 141_727_744),
];

fn usage(cmd: &str) -> String {
    let u = COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or("", |(_, u)| u);
    format!("pveam {cmd} {u}")
}

/// Runs `pveam <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match resolve("pveam", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let rest = &args[1..];
    let r = match cmd {
        "download" => download(ctx, rest),
        other => Err(die(format!("pveam {other}: not simulated"))),
    };
    r.unwrap_or_else(|o| o)
}

type R = Result<Outcome, Outcome>;

/// The template directory of a storage that holds `vztmpl`.
fn cache_dir(ctx: &Ctx, sid: &str) -> Result<std::path::PathBuf, Outcome> {
    let cfg = StorageCfg::load(&ctx.root);
    let Some(st) = cfg.get(sid) else {
        return Err(die(format!("storage '{sid}' does not exist")));
    };
    if !st.has_content("vztmpl") || st.path().is_none() {
        return Err(die(format!("storage '{sid}' does not support templates")));
    }
    Ok(ctx
        .root
        .host(st.path().unwrap_or("/"))
        .join("template/cache"))
}

fn download(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("download");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let (sid, template) = (&p.positional[0], &p.positional[1]);
    let Some((_, size)) = CATALOGUE.iter().find(|(t, _)| t == template) else {
        return Err(param_error(
            &[("template".into(), "no such template".into())],
            &u,
        ));
    };
    let dir = cache_dir(ctx, sid)?;
    let dest = dir.join(template);
    let shown = dest
        .strip_prefix(ctx.root.sysroot())
        .map(|r| std::path::Path::new("/").join(r))
        .unwrap_or(dest.clone());
    if dest.is_file() {
        return Ok(Outcome::read(
            "calculating checksum of existing file...OK, got correct file already, no need to download\n",
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| die(e.to_string()))?;
    // A small stand-in file: the simulator records the real size beside it.
    std::fs::write(&dest, format!("pve-sim template {template}\n"))
        .map_err(|e| die(e.to_string()))?;
    let url = format!("http://download.proxmox.com/images/system/{template}");
    let out = format!(
        "downloading {url} to {}\n--2026-01-01 00:00:00--  {url}\nHTTP request sent, awaiting response... 200 OK\nLength: {size}\ncalculating checksum...OK, checksum verified\ndownload of '{url}' to '{}' finished\n",
        shown.display(),
        shown.display()
    );
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(ctx.knobs.cost("pveam.download"))
        .storage(sid.clone()))
}
