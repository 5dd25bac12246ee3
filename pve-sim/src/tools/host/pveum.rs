//! `pveum` (Proxmox VE user manager): `user list|add|delete|modify`, `acl list|modify|
//! delete`, over `/etc/pve/user.cfg` in Proxmox's format, with Proxmox's parameter errors
//! (exit 255).

use serde_json::{Value, json};

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::host::{Acl, PveUser};
use crate::outcome::{Effect, Outcome};
use crate::tools::{die, param_error, parse_opts, perljson, positionals, resolve};

const COMMANDS: &[(&str, &str)] = &[
    ("acl", "<delete|list|modify> ..."),
    ("group", "<add|delete|list|modify> ..."),
    ("role", "<add|delete|list|modify> ..."),
    ("user", "<add|delete|list|modify|permissions|tfa|token> ..."),
];

const USER: &[(&str, &str)] = &[
    ("add", "<userid> [OPTIONS]"),
    ("delete", "<userid>"),
    ("list", " [OPTIONS] [FORMAT_OPTIONS]"),
    ("modify", "<userid> [OPTIONS]"),
];

const ACL: &[(&str, &str)] = &[
    ("delete", "<path> --roles <string> [OPTIONS]"),
    ("list", " [FORMAT_OPTIONS]"),
    ("modify", "<path> --roles <string> [OPTIONS]"),
];

/// Roles a fresh Proxmox VE 8 knows.
pub const ROLES: &[&str] = &[
    "Administrator",
    "NoAccess",
    "PVEAdmin",
    "PVEAuditor",
    "PVEDatastoreAdmin",
    "PVEDatastoreUser",
    "PVEMappingAdmin",
    "PVEMappingUser",
    "PVEPoolAdmin",
    "PVEPoolUser",
    "PVESDNAdmin",
    "PVESDNUser",
    "PVESysAdmin",
    "PVETemplateUser",
    "PVEUserAdmin",
    "PVEVMAdmin",
    "PVEVMUser",
];

/// Realms of a fresh installation.
const REALMS: &[&str] = &["pam", "pve"];

const FORMAT_OPTS: &[(&str, Kind)] = &[
    ("output-format", Kind::Value),
    ("noborder", Kind::Bool),
    ("noheader", Kind::Bool),
    ("human-readable", Kind::Bool),
    ("quiet", Kind::Bool),
];

/// Runs `pveum <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match resolve("pveum", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let table = match cmd {
        "user" => USER,
        "acl" => ACL,
        other => return die(format!("pveum {other}: not simulated")),
    };
    let tool = format!("pveum {cmd}");
    let sub = match resolve(&tool, args.get(1).map(String::as_str), table) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let rest = if args.len() > 2 { &args[2..] } else { &[] };
    let r = match (cmd, sub) {
        ("user", "list") => user_list(ctx, rest),
        ("user", "add") => user_add(ctx, rest),
        ("acl", "list") => acl_list(ctx, rest),
        ("acl", "modify") => acl_modify(ctx, rest, false),
        ("acl", "delete") => acl_modify(ctx, rest, true),
        _ => Err(die(format!("pveum {cmd} {sub}: not simulated"))),
    };
    let mut o = r.unwrap_or_else(|o| o);
    if o.secs == 0.0 {
        o.secs = ctx.knobs.cost(if o.effect == Effect::Mutate {
            "host.write"
        } else {
            "host.read"
        });
    }
    o
}

type R = Result<Outcome, Outcome>;

fn usage(cmd: &str, sub: &str) -> String {
    let table = if cmd == "user" { USER } else { ACL };
    let u = table.iter().find(|(c, _)| *c == sub).map_or("", |(_, u)| u);
    format!("pveum {cmd} {sub} {u}")
}

/// Prints a result in the `--output-format` asked for.
fn output(v: &Value, p: &Parsed, u: &str) -> R {
    match p.get("output-format").unwrap_or("text") {
        "json" => Ok(Outcome::read(format!("{}\n", perljson::compact(v)))),
        "json-pretty" => Ok(Outcome::read(perljson::pretty(v))),
        // The product reads pveum's JSON only; the text table is not simulated.
        "text" | "yaml" => Err(die(format!(
            "{u}: only --output-format json or json-pretty is simulated"
        ))),
        other => Err(param_error(
            &[(
                "output-format".into(),
                format!(
                    "value '{other}' does not have a value in the enumeration 'text, json, json-pretty, yaml'"
                ),
            )],
            u,
        )),
    }
}

fn user_json(id: &str, u: &PveUser) -> Value {
    let mut o = json!({
        "userid": id,
        "enable": i32::from(u.enable),
        "expire": u.expire,
        "realm-type": id.rsplit('@').next().unwrap_or(""),
    });
    for (k, v) in [
        ("email", &u.email),
        ("comment", &u.comment),
        ("firstname", &u.firstname),
        ("lastname", &u.lastname),
    ] {
        if !v.is_empty() {
            o[k] = json!(v);
        }
    }
    o
}

fn user_list(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("user", "list");
    let mut spec = vec![("enabled", Kind::Bool), ("full", Kind::Bool)];
    spec.extend_from_slice(FORMAT_OPTS);
    let p = parse_opts(args, &spec, &|_| None, &u)?;
    positionals(&p, 0, &u)?;
    let list: Vec<Value> = ctx
        .state
        .host
        .pve_users
        .iter()
        .filter(|(_, x)| !p.flag("enabled") || x.enable)
        .map(|(id, x)| user_json(id, x))
        .collect();
    output(&Value::Array(list), &p, &u)
}

const USER_OPTS: &[(&str, Kind)] = &[
    ("comment", Kind::Value),
    ("email", Kind::Value),
    ("enable", Kind::Bool),
    ("expire", Kind::Value),
    ("firstname", Kind::Value),
    ("lastname", Kind::Value),
    ("groups", Kind::Value),
    ("keys", Kind::Value),
    ("password", Kind::Value),
];

/// `pve-userid`: `<name>@<realm>`.
fn check_userid(id: &str) -> Result<(&str, &str), String> {
    let err = || "invalid format - value does not look like a valid user ID\n".to_string();
    let (name, realm) = id.rsplit_once('@').ok_or_else(err)?;
    let name_ok = !name.is_empty()
        && name.len() <= 60
        && !name.contains(|c: char| c.is_whitespace() || c == ':' || c == '/');
    let realm_ok = realm.len() >= 2
        && realm.starts_with(|c: char| c.is_ascii_alphabetic())
        && realm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if name_ok && realm_ok {
        Ok((name, realm))
    } else {
        Err(err())
    }
}

fn apply_user_opts(u: &mut PveUser, p: &Parsed) {
    if let Some(v) = p.get("comment") {
        u.comment = v.to_string();
    }
    if let Some(v) = p.get("email") {
        u.email = v.to_string();
    }
    if let Some(v) = p.get("firstname") {
        u.firstname = v.to_string();
    }
    if let Some(v) = p.get("lastname") {
        u.lastname = v.to_string();
    }
    if p.has("enable") {
        u.enable = p.flag("enable");
    }
    if let Some(v) = p.get("expire").and_then(|e| e.parse().ok()) {
        u.expire = v;
    }
}

fn user_add(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("user", "add");
    let p = parse_opts(args, USER_OPTS, &|_| None, &u)?;
    positionals(&p, 1, &u)?;
    let id = &p.positional[0];
    let (_, realm) = check_userid(id).map_err(|e| param_error(&[("userid".into(), e)], &u))?;
    if let Some(e) = p.get("expire") {
        crate::tools::check::int(e, Some(0), None)
            .map_err(|e| param_error(&[("expire".into(), e)], &u))?;
    }
    if ctx.state.host.pve_users.contains_key(id) {
        return Err(die(format!(
            "create user failed: user '{id}' already exists"
        )));
    }
    if !REALMS.contains(&realm) {
        return Err(die(format!(
            "create user failed: domain '{realm}' does not exist"
        )));
    }
    let mut user = PveUser {
        enable: true,
        ..PveUser::default()
    };
    apply_user_opts(&mut user, &p);
    ctx.state.host.pve_users.insert(id.clone(), user);
    save_user_cfg(ctx)?;
    Ok(Outcome::ok(Effect::Mutate))
}

fn acl_json(a: &Acl) -> Value {
    json!({
        "path": a.path,
        "roleid": a.roleid,
        "type": a.kind,
        "ugid": a.ugid,
        "propagate": i32::from(a.propagate),
    })
}

fn acl_list(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("acl", "list");
    let p = parse_opts(args, FORMAT_OPTS, &|_| None, &u)?;
    positionals(&p, 0, &u)?;
    let list: Vec<Value> = ctx.state.host.acls.iter().map(acl_json).collect();
    output(&Value::Array(list), &p, &u)
}

/// Whether an ACL path is one Proxmox knows.
pub fn valid_acl_path(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    if !p.starts_with('/') {
        return false;
    }
    match parts.as_slice() {
        [] => true,
        ["access"] | ["access", "groups"] | ["access", "realm"] => true,
        ["access", "groups" | "realm", _] => true,
        ["nodes"] | ["nodes", _] => true,
        ["pool"] | ["pool", ..] => true,
        ["storage"] | ["storage", _] => true,
        ["vms"] => true,
        ["vms", id] => id.parse::<u32>().is_ok(),
        ["sdn", ..] | ["mapping", ..] => true,
        _ => false,
    }
}

fn acl_modify(ctx: &mut Ctx, args: &[String], delete: bool) -> R {
    let sub = if delete { "delete" } else { "modify" };
    let u = usage("acl", sub);
    let p = parse_opts(
        args,
        &[
            ("roles", Kind::Value),
            ("users", Kind::Value),
            ("groups", Kind::Value),
            ("tokens", Kind::Value),
            ("propagate", Kind::Bool),
            ("delete", Kind::Bool),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 1, &u)?;
    let path = p.positional[0].clone();
    let Some(roles) = p.get("roles") else {
        return Err(param_error(
            &[(
                "roles".into(),
                "property is missing and it is not optional".into(),
            )],
            &u,
        ));
    };
    let roles: Vec<String> = roles
        .split([',', ';', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let list = |k: &str| -> Vec<String> {
        p.get(k)
            .unwrap_or("")
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (users, groups, tokens) = (list("users"), list("groups"), list("tokens"));
    if users.is_empty() && groups.is_empty() && tokens.is_empty() {
        return Err(die("either 'users', 'groups' or 'tokens' is required"));
    }
    if !valid_acl_path(&path) {
        return Err(die(format!("invalid ACL path '{path}'")));
    }
    let mut errors = Vec::new();
    for r in &roles {
        if !ROLES.contains(&r.as_str()) {
            errors.push(("roles".to_string(), format!("role '{r}' does not exist")));
        }
    }
    for usr in &users {
        if !ctx.state.host.pve_users.contains_key(usr) {
            errors.push(("users".to_string(), format!("user '{usr}' does not exist")));
        }
    }
    for g in &groups {
        errors.push(("groups".to_string(), format!("group '{g}' does not exist")));
    }
    for t in &tokens {
        errors.push(("tokens".to_string(), format!("no such token '{t}'")));
    }
    if !errors.is_empty() {
        return Err(param_error(&errors, &u));
    }
    let propagate = !p.has("propagate") || p.flag("propagate");
    let delete = delete || p.flag("delete");
    for usr in &users {
        for r in &roles {
            let pos = ctx.state.host.acls.iter().position(|a| {
                a.path == path && a.kind == "user" && a.ugid == *usr && a.roleid == *r
            });
            match (pos, delete) {
                (Some(i), true) => {
                    ctx.state.host.acls.remove(i);
                }
                (Some(i), false) => ctx.state.host.acls[i].propagate = propagate,
                (None, false) => ctx.state.host.acls.push(Acl {
                    path: path.clone(),
                    kind: "user".into(),
                    ugid: usr.clone(),
                    roleid: r.clone(),
                    propagate,
                }),
                (None, true) => {}
            }
        }
    }
    save_user_cfg(ctx)?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// `user.cfg` in Proxmox's format: user lines, then ACL lines grouped by path, propagation
/// and role.
pub fn render_user_cfg(h: &crate::host::HostState) -> String {
    let esc = |s: &str| s.replace('%', "%25").replace(':', "%3A");
    let mut out = String::new();
    for (id, u) in &h.pve_users {
        out.push_str(&format!(
            "user:{id}:{}:{}:{}:{}:{}:{}::\n",
            i32::from(u.enable),
            u.expire,
            esc(&u.firstname),
            esc(&u.lastname),
            u.email,
            esc(&u.comment),
        ));
    }
    out.push('\n');
    let mut groups: std::collections::BTreeMap<(String, bool, String), Vec<String>> =
        std::collections::BTreeMap::new();
    for a in &h.acls {
        let id = if a.kind == "group" {
            format!("@{}", a.ugid)
        } else {
            a.ugid.clone()
        };
        groups
            .entry((a.path.clone(), a.propagate, a.roleid.clone()))
            .or_default()
            .push(id);
    }
    for ((path, prop, role), mut ids) in groups {
        ids.sort();
        out.push_str(&format!(
            "acl:{}:{path}:{}:{role}:\n",
            i32::from(prop),
            ids.join(",")
        ));
    }
    if !h.acls.is_empty() {
        out.push('\n');
    }
    out
}

/// Writes `/etc/pve/user.cfg`.
pub fn save_user_cfg(ctx: &Ctx) -> Result<(), Outcome> {
    let text = render_user_cfg(&ctx.state.host);
    super::write_file(&ctx.root, "/etc/pve/user.cfg", text.as_bytes(), 0o640)
        .map_err(|e| die(format!("unable to write user.cfg: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_cfg_is_proxmox_format() {
        let mut h = crate::host::HostState::default();
        h.pve_users.insert(
            "root@pam".into(),
            PveUser {
                enable: true,
                email: "root@localhost".into(),
                ..PveUser::default()
            },
        );
        h.acls.push(Acl {
            path: "/".into(),
            kind: "user".into(),
            ugid: "root@pam".into(),
            roleid: "Administrator".into(),
            propagate: true,
        });
        assert_eq!(
            render_user_cfg(&h),
            "user:root@pam:1:0:::root@localhost:::\n\nacl:1:/:root@pam:Administrator:\n\n"
        );
    }

    #[test]
    fn user_ids_and_acl_paths() {
        assert!(check_userid("heads@pam").is_ok());
        assert!(check_userid("heads").is_err());
        assert!(check_userid("a b@pam").is_err());
        assert!(
            valid_acl_path("/") && valid_acl_path("/vms/101") && valid_acl_path("/storage/local")
        );
        assert!(!valid_acl_path("vms") && !valid_acl_path("/bogus") && !valid_acl_path("/vms/x"));
    }
}
