//! Samba: `testparm` (parses `smb.conf`, reports unknown parameters, prints the normalised
//! configuration), `pdbedit -L` and `smbpasswd` over a passdb that keeps only a SHA-256 of
//! each password. Starting `smbd`/`nmbd` fails on a configuration `testparm` rejects.
//!
//! As Samba does, parameters before the first section belong to `[global]`; a malformed
//! section header fails with `Error loading services.`.

use super::{answer, changed, fail, file_arg, getopt_long, o, sha256_hex};
use crate::Ctx;
use crate::host::SambaUser;
use crate::outcome::Outcome;

/// Parameters only `[global]` may hold.
const GLOBAL_ONLY: &[&str] = &[
    "workgroup",
    "server string",
    "server role",
    "netbios name",
    "log file",
    "max log size",
    "logging",
    "log level",
    "panic action",
    "obey pam restrictions",
    "unix password sync",
    "passwd program",
    "passwd chat",
    "pam password change",
    "map to guest",
    "usershare allow guests",
    "security",
    "interfaces",
    "bind interfaces only",
    "dns proxy",
    "server min protocol",
    "server max protocol",
    "client min protocol",
    "client max protocol",
    "load printers",
    "printing",
    "printcap name",
    "disable spoolss",
    "smb ports",
    "unix extensions",
    "wins support",
    "wins server",
    "local master",
    "domain master",
    "preferred master",
    "os level",
    "passdb backend",
    "socket options",
    "realm",
    "idmap config",
    "restrict anonymous",
    "ntlm auth",
    "server signing",
    "smb encrypt",
    "allow insecure wide links",
];

/// Share (service) parameters.
const SERVICE: &[&str] = &[
    "path",
    "comment",
    "read only",
    "browseable",
    "guest ok",
    "guest only",
    "valid users",
    "invalid users",
    "admin users",
    "write list",
    "read list",
    "create mask",
    "directory mask",
    "force create mode",
    "force directory mode",
    "force user",
    "force group",
    "printable",
    "include",
    "hosts allow",
    "hosts deny",
    "inherit permissions",
    "inherit acls",
    "vfs objects",
    "veto files",
    "delete veto files",
    "hide dot files",
    "follow symlinks",
    "wide links",
    "oplocks",
    "level2 oplocks",
    "strict locking",
    "available",
    "preexec",
    "postexec",
    "root preexec",
    "ea support",
    "store dos attributes",
    "map archive",
    "map hidden",
    "map system",
    "case sensitive",
    "preserve case",
    "short preserve case",
    "fruit:metadata",
    "fruit:resource",
    "fruit:encoding",
    "spotlight",
    "acl allow execute always",
    "csc policy",
    "durable handles",
    "kernel share modes",
    "posix locking",
    "create mode",
    "directory mode",
];

/// Boolean parameters (printed `Yes`/`No`).
const BOOLEANS: &[&str] = &[
    "read only",
    "browseable",
    "guest ok",
    "guest only",
    "printable",
    "obey pam restrictions",
    "unix password sync",
    "pam password change",
    "usershare allow guests",
    "bind interfaces only",
    "inherit permissions",
    "inherit acls",
    "follow symlinks",
    "wide links",
    "oplocks",
    "level2 oplocks",
    "hide dot files",
    "delete veto files",
    "available",
    "dns proxy",
    "load printers",
    "disable spoolss",
    "unix extensions",
    "wins support",
    "local master",
    "domain master",
    "preferred master",
    "ea support",
    "store dos attributes",
    "map archive",
    "map hidden",
    "map system",
    "case sensitive",
    "preserve case",
    "short preserve case",
    "spotlight",
    "acl allow execute always",
    "durable handles",
    "kernel share modes",
    "posix locking",
    "allow insecure wide links",
];

/// A parsed `smb.conf`: sections in order with canonical parameter names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmbConf {
    /// `(section, [(parameter, value)])`; `global` first.
    pub sections: Vec<(String, Vec<(String, String)>)>,
    /// Warnings testparm prints.
    pub warnings: Vec<String>,
}

fn bool_value(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Some(true),
        "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// The canonical name of a parameter and whether its boolean value is inverted.
fn canonical(key: &str) -> (String, bool) {
    match key {
        "writable" | "writeable" | "write ok" => ("read only".into(), true),
        "browsable" => ("browseable".into(), false),
        "public" => ("guest ok".into(), false),
        "allow hosts" => ("hosts allow".into(), false),
        "deny hosts" => ("hosts deny".into(), false),
        "print ok" => ("printable".into(), false),
        "exec" => ("preexec".into(), false),
        "create mode" => ("create mask".into(), false),
        "directory mode" => ("directory mask".into(), false),
        k => (k.to_string(), false),
    }
}

fn known(key: &str) -> bool {
    GLOBAL_ONLY.contains(&key)
        || SERVICE.contains(&key)
        || key.starts_with("idmap config ")
        || key.contains(':')
}

/// Parses `smb.conf`. `Err`: the configuration cannot be loaded.
pub fn parse_smb(text: &str) -> Result<SmbConf, String> {
    let mut c = SmbConf {
        sections: vec![("global".into(), Vec::new())],
        warnings: Vec::new(),
    };
    let mut cur = 0;
    let mut pending = String::new();
    for raw in text.lines() {
        let l = raw.trim();
        if pending.is_empty() && (l.is_empty() || l.starts_with('#') || l.starts_with(';')) {
            continue;
        }
        if let Some(b) = l.strip_suffix('\\') {
            pending.push_str(b);
            continue;
        }
        let line = format!("{pending}{l}");
        pending.clear();
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest
                .strip_suffix(']')
                .map(str::trim)
                .filter(|n| !n.is_empty())
            else {
                return Err(format!("Bad section name: {line}"));
            };
            if name.contains(['[', ']']) {
                return Err(format!("Bad section name: {line}"));
            }
            let lower = name.to_ascii_lowercase();
            cur = match c
                .sections
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&lower))
            {
                Some(i) => i,
                None => {
                    c.sections.push((name.to_string(), Vec::new()));
                    c.sections.len() - 1
                }
            };
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            c.warnings.push(format!(
                "Ignoring badly formed line in configuration file: {line}"
            ));
            continue;
        };
        let key = k
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let v = v.trim().to_string();
        let (name, invert) = canonical(&key);
        if !known(&name) {
            c.warnings
                .push(format!("Unknown parameter encountered: \"{key}\""));
            c.warnings
                .push(format!("Ignoring unknown parameter \"{key}\""));
            continue;
        }
        if cur != 0 && GLOBAL_ONLY.contains(&name.as_str()) {
            c.warnings
                .push(format!("Global parameter {key} found in service section!"));
            continue;
        }
        let value = if BOOLEANS.contains(&name.as_str()) {
            match bool_value(&v) {
                Some(b) => (if b != invert { "Yes" } else { "No" }).to_string(),
                None => {
                    c.warnings.push(format!(
                        "ERROR: Badly formed boolean in configuration file: \"{v}\"."
                    ));
                    continue;
                }
            }
        } else {
            v
        };
        let params = &mut c.sections[cur].1;
        match params.iter_mut().find(|(k, _)| *k == name) {
            Some(p) => p.1 = value,
            None => params.push((name, value)),
        }
    }
    Ok(c)
}

/// The configuration as `testparm -s` prints it.
pub fn render(c: &SmbConf) -> String {
    let mut out = String::from("# Global parameters\n");
    for (i, (name, params)) in c.sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("[{name}]\n"));
        let mut p = params.clone();
        p.sort();
        for (k, v) in p {
            out.push_str(&format!("\t{k} = {v}\n"));
        }
    }
    out
}

fn role(c: &SmbConf) -> &'static str {
    let r = c.sections[0]
        .1
        .iter()
        .find(|(k, _)| k == "server role")
        .map_or("standalone server", |(_, v)| v.as_str());
    match r {
        "member server" => "ROLE_DOMAIN_MEMBER",
        "active directory domain controller" => "ROLE_ACTIVE_DIRECTORY_DC",
        "classic primary domain controller" => "ROLE_DOMAIN_PDC",
        "classic backup domain controller" => "ROLE_DOMAIN_BDC",
        _ => "ROLE_STANDALONE",
    }
}

/// What starting `smbd`/`nmbd` checks.
pub fn service_check(ctx: &mut Ctx) -> Result<(), String> {
    let text = std::fs::read_to_string(ctx.root.host("/etc/samba/smb.conf"))
        .map_err(|_| "Can't load /etc/samba/smb.conf - run testparm to debug it".to_string())?;
    parse_smb(&text).map(|_| ())
}

/// `testparm [-s|--suppress-prompt] [--section-name S --parameter-name P] [file]`.
pub fn testparm(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("suppress-prompt", Some('s'), false),
        o("verbose", Some('v'), false),
        o("section-name", None, true),
        o("parameter-name", None, true),
        o("show-all-parameters", None, false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!(
                    "testparm: {e}\nUsage: testparm [-sv?] [-l|--show-all-parameters] [--parameter-name=STRING] [--section-name=STRING] [<config filename>]"
                ),
            );
        }
    };
    let secs = ctx.knobs.cost("host.read");
    let file = p
        .operands
        .first()
        .cloned()
        .unwrap_or_else(|| "/etc/samba/smb.conf".into());
    let mut err = format!("Load smb config files from {file}\n");
    let Ok(text) = std::fs::read_to_string(file_arg(&ctx.root, &file)) else {
        err.push_str(&format!(
            "Can't find include file {file}\nError loading services.\n"
        ));
        return fail(1, err).secs(secs);
    };
    let c = match parse_smb(&text) {
        Ok(c) => c,
        Err(e) => {
            err.push_str(&format!("{e}\nError loading services.\n"));
            return fail(1, err).secs(secs);
        }
    };
    for w in &c.warnings {
        err.push_str(w);
        err.push('\n');
    }
    err.push_str(&format!(
        "Loaded services file OK.\nServer role: {}\n\n",
        role(&c)
    ));
    if let Some(param) = p.value("parameter-name") {
        let section = p.value("section-name").unwrap_or("global");
        let (name, _) = canonical(&param.to_ascii_lowercase());
        let v = c
            .sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(section))
            .and_then(|(_, ps)| ps.iter().find(|(k, _)| *k == name))
            .map(|(_, v)| v.clone());
        return match v {
            Some(v) => answer(0, format!("{v}\n"), err).secs(secs),
            None => fail(
                1,
                format!("{err}Parameter {param} unknown for section {section}\n"),
            )
            .secs(secs),
        };
    }
    let mut out = String::new();
    if !p.has("suppress-prompt") {
        out.push_str("Press enter to see a dump of your service definitions\n\n");
    }
    out.push_str(&render(&c));
    answer(0, out, err).secs(secs)
}

/// `pdbedit -L [-v]` / `pdbedit -x -u USER`.
pub fn pdbedit(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("list", Some('L'), false),
        o("verbose", Some('v'), false),
        o("delete", Some('x'), false),
        o("user", Some('u'), true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("pdbedit: {e}")),
    };
    let user = p
        .value("user")
        .map(str::to_string)
        .or_else(|| p.operands.first().cloned());
    if p.has("delete") {
        let Some(u) = user else {
            return fail(1, "pdbedit: -x needs a user name (-u USER)");
        };
        if ctx.state.host.samba_users.remove(&u).is_none() {
            return fail(1, format!("Failed to delete entry for user {u}."));
        }
        return changed("").secs(ctx.knobs.cost("host.write"));
    }
    if !p.has("list") {
        return fail(1, "pdbedit: pve-sim knows -L (list) and -x (delete)");
    }
    let mut out = String::new();
    for (n, s) in &ctx.state.host.samba_users {
        if user.as_ref().is_some_and(|u| u != n) {
            continue;
        }
        if p.has("verbose") {
            out.push_str(&format!(
                "Unix username:        {n}\nNT username:          \nAccount Flags:        [{}          ]\nUser SID:             S-1-5-21-1-2-3-{}\nFull Name:            {}\n---------------\n",
                if s.disabled { "DU" } else { "U" },
                1000 + s.uid * 2,
                s.full_name
            ));
        } else {
            out.push_str(&format!("{n}:{}:{}\n", s.uid, s.full_name));
        }
    }
    Outcome::read(out).secs(ctx.knobs.cost("host.read"))
}

/// `smbpasswd [-s] -a|-x|-d|-e USER`: new passwords come from stdin (two lines).
pub fn smbpasswd(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("", Some('a'), false),
        o("", Some('x'), false),
        o("", Some('d'), false),
        o("", Some('e'), false),
        o("", Some('s'), false),
        o("", Some('n'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("smbpasswd: {e}\nWhen run by root:\n    smbpasswd [options] [username]\n"),
            );
        }
    };
    let [user] = p.operands.as_slice() else {
        return fail(
            1,
            "When run by root:\n    smbpasswd [options] [username]\notherwise:\n    smbpasswd [options]\n",
        );
    };
    let secs = ctx.knobs.cost("host.write");
    let h = &mut ctx.state.host;
    if p.has("x") {
        if h.samba_users.remove(user).is_none() {
            return fail(
                1,
                format!(
                    "Failed to find entry for user {user}.\nFailed to delete entry for user {user}."
                ),
            );
        }
        return changed(format!("Deleted user {user}.\n")).secs(secs);
    }
    if p.has("d") || p.has("e") {
        let Some(s) = h.samba_users.get_mut(user) else {
            return fail(1, format!("Failed to find entry for user {user}."));
        };
        s.disabled = p.has("d");
        let word = if p.has("d") { "Disabled" } else { "Enabled" };
        return changed(format!("{word} user {user}.\n")).secs(secs);
    }
    let add = p.has("a");
    if !add && !h.samba_users.contains_key(user) {
        return fail(1, format!("Failed to find entry for user {user}."));
    }
    let input = super::stdin_of(ctx);
    let text = String::from_utf8_lossy(&input).into_owned();
    let mut lines = text.lines();
    let prompts = if p.has("s") {
        ""
    } else {
        "New SMB password:\nRetype new SMB password:\n"
    };
    let (Some(a), Some(b)) = (lines.next(), lines.next()) else {
        return Outcome {
            stdout: prompts.into(),
            ..fail(1, "Unable to get new password.")
        };
    };
    if a != b {
        return Outcome {
            stdout: prompts.into(),
            ..fail(
                1,
                "Mismatch - password unchanged.\nUnable to get new password.",
            )
        };
    }
    let Some(unix) = ctx.state.host.users.get(user).cloned() else {
        return Outcome {
            stdout: prompts.into(),
            ..fail(1, format!("Failed to add entry for user {user}."))
        };
    };
    let hash = sha256_hex(a.as_bytes());
    let h = &mut ctx.state.host;
    let out = match h.samba_users.get_mut(user) {
        Some(s) => {
            s.password_sha256 = hash;
            String::new()
        }
        None => {
            h.samba_users.insert(
                user.clone(),
                SambaUser {
                    uid: unix.uid,
                    full_name: unix.gecos.split(',').next().unwrap_or("").to_string(),
                    password_sha256: hash,
                    disabled: false,
                },
            );
            format!("Added user {user}.\n")
        }
    };
    changed(format!("{prompts}{out}")).secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debians_smb_conf_loads() {
        let c = parse_smb(super::super::catalogue::SMB_CONF).unwrap();
        let names: Vec<&str> = c.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["global", "homes", "printers", "print$"]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(role(&c), "ROLE_STANDALONE");
    }

    #[test]
    fn parameters_are_normalised_and_checked() {
        let c = parse_smb(
            "workgroup = LAB\n[share]\n  path = /tank/share\n  writeable = yes\n  browsable = no\n  bogus thing = 1\n  workgroup = X\n",
        )
        .unwrap();
        assert_eq!(
            render(&c),
            "# Global parameters\n[global]\n\tworkgroup = LAB\n\n[share]\n\tbrowseable = No\n\tpath = /tank/share\n\tread only = No\n"
        );
        assert_eq!(
            c.warnings,
            [
                "Unknown parameter encountered: \"bogus thing\"",
                "Ignoring unknown parameter \"bogus thing\"",
                "Global parameter workgroup found in service section!"
            ]
        );
        assert!(parse_smb("[broken\npath = /x\n").is_err());
        assert!(parse_smb("[]\n").is_err());
    }
}
