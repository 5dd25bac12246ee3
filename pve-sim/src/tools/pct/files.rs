//! `pct push|pull|exec`: files and commands inside a container.

use super::*;

pub(super) fn perms_mode(perms: Option<&str>) -> Result<u32, String> {
    match perms {
        None => Ok(0o644),
        Some(p) => {
            let p = if p.starts_with('0') {
                p.to_string()
            } else {
                format!("0{p}")
            };
            let r = if let Some(h) = p.strip_prefix("0x") {
                u32::from_str_radix(h, 16)
            } else {
                u32::from_str_radix(&p, 8)
            };
            r.map_err(|_| format!("invalid mode: '{p}'"))
        }
    }
}

/// `pct push <vmid> <file> <destination>` (the source is a path on the host).
pub(super) fn push(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("push");
    let p = parse_opts(
        args,
        &[
            ("perms", Kind::Value),
            ("user", Kind::Value),
            ("group", Kind::Value),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (file, dest) = (p.positional[1].clone(), p.positional[2].clone());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die("can only push files to a running CT"));
    }
    let data = match std::fs::read(&file) {
        Ok(d) => d,
        Err(_) => {
            return Ok(task_error_exit0(
                format!("failed to open {file} for reading"),
                Effect::Read,
            )
            .guest(id));
        }
    };
    let mode = match perms_mode(p.get("perms")) {
        Ok(m) => m,
        Err(e) => return Ok(task_error_exit0(e, Effect::Read).guest(id)),
    };
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    // A booted real guest has its own mounts (a tmpfs on /tmp): pct writes through the
    // container's view of its file system, as pve-container does for a running CT.
    let target =
        crate::real::view(&ctx.root.data(), id, &dest).unwrap_or_else(|| fs.host_path(&dest));
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::write(&target, &data)
        .and_then(|()| std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)))
    {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        return Ok(task_error_exit0(
            format!("failed to create file: {dest}: {reason}"),
            Effect::Read,
        )
        .guest(id));
    }
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.push"))
        .guest(id))
}

/// `pct pull <vmid> <path> <destination>` (the destination is a path on the host).
pub(super) fn pull(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("pull");
    let p = parse_opts(
        args,
        &[
            ("perms", Kind::Value),
            ("user", Kind::Value),
            ("group", Kind::Value),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (path, dest) = (p.positional[1].clone(), p.positional[2].clone());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(
            "can only pull files from a running VM at /usr/share/perl5/PVE/CLI/pct.pm line 493.",
        ));
    }
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    let from =
        crate::real::view(&ctx.root.data(), id, &path).unwrap_or_else(|| fs.host_path(&path));
    let data = match std::fs::read(from) {
        Ok(d) => d,
        Err(_) => {
            return Ok(task_error_exit0(
                format!("failed to open {path}: No such file or directory"),
                Effect::Read,
            )
            .guest(id));
        }
    };
    if let Err(e) = std::fs::write(&dest, &data) {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        return Ok(task_error_exit0(
            format!("failed to create file: {dest}: {reason}"),
            Effect::Read,
        )
        .guest(id));
    }
    Ok(Outcome::ok(Effect::Read)
        .secs(cost(ctx, "pct.pull"))
        .guest(id))
}

/// `pct exec <vmid> -- <command>`: the command's own status and output.
pub(super) fn exec(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("exec");
    let p = parse_opts(args, &[("keep-env", Kind::Bool)], &|_| None, &u)?;
    if p.positional.is_empty() {
        return Err(Outcome::refuse(format!("400 not enough arguments\n{u}\n")));
    }
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut cmd: Vec<String> = p.positional[1..].to_vec();
    cmd.extend(p.rest.iter().cloned());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(format!("container '{id}' not running!")));
    }
    if cmd.is_empty() {
        return Err(die(
            "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 260.",
        ));
    }
    if crate::real::tarball().is_some() {
        let (code, stdout, stderr) = crate::real::exec(&ctx.root.data(), id, &cmd).map_err(die)?;
        return Ok(Outcome {
            code,
            stdout,
            stderr,
            effect: if crate::real::reads_only(&cmd) {
                Effect::Read
            } else {
                Effect::Mutate
            },
            secs: cost(ctx, "pct.exec"),
            guest: Some(id),
            ..Outcome::ok(Effect::Read)
        });
    }
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    let r = fs.exec(&cmd, &ctx.rules, id);
    let effect = if r.mutates {
        Effect::Mutate
    } else {
        Effect::Read
    };
    Ok(Outcome {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        effect,
        refused: false,
        secs: cost(ctx, "pct.exec") + r.secs,
        guest: Some(id),
        storage: None,
        holds: Vec::new(),
    })
}
