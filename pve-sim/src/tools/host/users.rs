//! Users and groups: `getent`, `id`, `useradd`, `usermod`, `groupadd`, `gpasswd`,
//! `chpasswd`, with shadow-utils' texts and exit statuses (Debian 12's `useradd`: user
//! private groups, `/bin/sh` as the default shell, UIDs from 1000, system UIDs from 999
//! down). Every change re-renders `/etc/passwd`, `/etc/group` and `/etc/shadow` (0640).
//!
//! `chpasswd` reads `user:password` lines on stdin (read before the state lock); nothing it
//! reads is logged, and a clear-text password is stored only as a crypt(3)-style hash.

use super::{OptSpec, answer, changed, fail, getopt_long, o, sha256_hex, write_file};
use crate::Ctx;
use crate::host::{Group, HostState, User};
use crate::outcome::Outcome;
use crate::root::SimRoot;

/// Whether a name is a valid user or group name for shadow-utils (`[a-z_][a-z0-9_-]*[$]?`,
/// at most 32 characters).
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    let body = n.strip_suffix('$').unwrap_or(n);
    !n.is_empty()
        && n.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && body
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// Whether a shadow password field looks like crypt(3) output or a lock (`$id$…`, `!…`,
/// `*`).
pub fn valid_hash(h: &str) -> bool {
    let h = h.strip_prefix('!').unwrap_or(h);
    if h.is_empty() || h == "*" {
        return true;
    }
    let ok_chars = h
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'$' | b'=' | b','));
    let parts: Vec<&str> = h.split('$').collect();
    ok_chars
        && h.starts_with('$')
        && parts.len() >= 4
        && !parts[1].is_empty()
        && !parts.last().is_some_and(|p| p.is_empty())
}

/// A crypt(3)-looking yescrypt stand-in for a clear-text password (never the password).
fn hash_password(password: &str, salt_seed: u64) -> String {
    const B64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let salt_hex = sha256_hex(format!("salt{salt_seed}").as_bytes());
    let salt: String = salt_hex
        .bytes()
        .take(22)
        .map(|b| B64[usize::from(b) % 64] as char)
        .collect();
    let digest = sha256_hex(format!("{salt}:{password}").as_bytes());
    let body: String = digest
        .as_bytes()
        .chunks(2)
        .map(|c| B64[usize::from(c[0] ^ c[1].wrapping_mul(7)) % 64] as char)
        .chain("0123456789A".chars())
        .take(43)
        .collect();
    format!("$y$j9T${salt}${body}")
}

/// Renders `/etc/passwd`, `/etc/group` and `/etc/shadow` from the state.
pub fn render(root: &SimRoot, h: &HostState) -> Result<(), String> {
    let mut users: Vec<(&String, &User)> = h.users.iter().collect();
    users.sort_by_key(|(n, u)| (u.uid, n.as_str()));
    let mut passwd = String::new();
    let mut shadow = String::new();
    for (n, u) in &users {
        passwd.push_str(&format!("{}\n", passwd_line(n, u)));
        shadow.push_str(&format!("{}\n", shadow_line(n, u)));
    }
    let mut groups: Vec<(&String, &Group)> = h.groups.iter().collect();
    groups.sort_by_key(|(n, g)| (g.gid, n.as_str()));
    let group: String = groups
        .iter()
        .map(|(n, g)| format!("{}\n", group_line(n, g)))
        .collect();
    write_file(root, "/etc/passwd", passwd.as_bytes(), 0o644)?;
    write_file(root, "/etc/group", group.as_bytes(), 0o644)?;
    write_file(root, "/etc/shadow", shadow.as_bytes(), 0o640)
}

fn passwd_line(n: &str, u: &User) -> String {
    format!(
        "{n}:x:{}:{}:{}:{}:{}",
        u.uid, u.gid, u.gecos, u.home, u.shell
    )
}

fn shadow_line(n: &str, u: &User) -> String {
    format!("{n}:{}:{}:0:99999:7:::", u.password, u.last_change)
}

fn group_line(n: &str, g: &Group) -> String {
    format!("{n}:x:{}:{}", g.gid, g.members.join(","))
}

fn rendered(ctx: &mut Ctx, mut o: Outcome) -> Outcome {
    if let Err(e) = render(&ctx.root, &ctx.state.host) {
        return fail(1, e);
    }
    if o.secs == 0.0 {
        o.secs = ctx.knobs.cost("host.write");
    }
    o
}

fn today(ctx: &Ctx) -> u64 {
    ctx.state.now() / 86_400
}

/// The next free ID: normal ones above the highest in use in 1000–59999, system ones the
/// highest free in 100–999.
fn next_id(used: &[u32], system: bool) -> Option<u32> {
    if system {
        (100..=999).rev().find(|i| !used.contains(i))
    } else {
        let top = used
            .iter()
            .copied()
            .filter(|i| (1000..60000).contains(i))
            .max();
        let start = top.map_or(1000, |t| t + 1);
        (start..60000).find(|i| !used.contains(i))
    }
}

/// Adds a system user (what a package's maintainer script does), if absent.
pub fn add_system_user(ctx: &mut Ctx, name: &str, home: &str, group: &str) {
    let h = &mut ctx.state.host;
    if h.users.contains_key(name) {
        return;
    }
    let used: Vec<u32> = h.users.values().map(|u| u.uid).collect();
    let uid = next_id(&used, true).unwrap_or(999);
    let gid = h.groups.get(group).map_or(65534, |g| g.gid);
    let day = ctx.state.clock_ms / 86_400_000;
    ctx.state.host.users.insert(
        name.to_string(),
        User {
            uid,
            gid,
            gecos: format!("{name},,,"),
            home: home.into(),
            shell: "/usr/sbin/nologin".into(),
            password: "!".into(),
            last_change: day,
        },
    );
    let _ = render(&ctx.root, &ctx.state.host);
}

// ---------------------------------------------------------------------------------------
// getent, id

/// `getent passwd|group|shadow|hosts [key…]`.
pub fn getent(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let secs = ctx.knobs.cost("host.read");
    let p = match getopt_long(args, &[o("service", Some('s'), true)]) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!(
                    "getent: {e}\nTry `getent --help' or `getent --usage' for more information."
                ),
            );
        }
    };
    let Some((db, keys)) = p.operands.split_first() else {
        return fail(
            1,
            "getent: wrong number of arguments\nTry `getent --help' or `getent --usage' for more information.",
        );
    };
    let h = &ctx.state.host;
    let lines: Vec<(Vec<String>, String)> = match db.as_str() {
        "passwd" => {
            let mut v: Vec<(&String, &User)> = h.users.iter().collect();
            v.sort_by_key(|(_, u)| u.uid);
            v.into_iter()
                .map(|(n, u)| (vec![n.clone(), u.uid.to_string()], passwd_line(n, u)))
                .collect()
        }
        "shadow" => {
            let mut v: Vec<(&String, &User)> = h.users.iter().collect();
            v.sort_by_key(|(_, u)| u.uid);
            v.into_iter()
                .map(|(n, u)| (vec![n.clone()], shadow_line(n, u)))
                .collect()
        }
        "group" => {
            let mut v: Vec<(&String, &Group)> = h.groups.iter().collect();
            v.sort_by_key(|(_, g)| g.gid);
            v.into_iter()
                .map(|(n, g)| (vec![n.clone(), g.gid.to_string()], group_line(n, g)))
                .collect()
        }
        "hosts" => std::fs::read_to_string(ctx.root.host("/etc/hosts"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let l = l.split('#').next().unwrap_or("").trim();
                let mut f = l.split_whitespace();
                let ip = f.next()?;
                let names: Vec<String> = f.map(str::to_string).collect();
                if names.is_empty() {
                    return None;
                }
                let mut keys = vec![ip.to_string()];
                keys.extend(names.iter().cloned());
                Some((keys, format!("{ip:<15} {}", names.join(" "))))
            })
            .collect(),
        other => {
            return fail(
                1,
                format!(
                    "Unknown database: {other}\nTry `getent --help' or `getent --usage' for more information."
                ),
            );
        }
    };
    let mut out = String::new();
    let mut missing = false;
    if keys.is_empty() {
        for (_, l) in &lines {
            out.push_str(l);
            out.push('\n');
        }
    } else {
        for k in keys {
            match lines.iter().find(|(ks, _)| ks.contains(k)) {
                Some((_, l)) => {
                    out.push_str(l);
                    out.push('\n');
                }
                None => missing = true,
            }
        }
    }
    answer(if missing { 2 } else { 0 }, out, "").secs(secs)
}

/// `id [-u|-g|-G] [-n] [user]`.
pub fn id(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let secs = ctx.knobs.cost("host.read");
    let specs = [
        o("user", Some('u'), false),
        o("group", Some('g'), false),
        o("groups", Some('G'), false),
        o("name", Some('n'), false),
        o("real", Some('r'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("id: {e}\nTry 'id --help' for more information.")),
    };
    let h = &ctx.state.host;
    let name = match p.operands.as_slice() {
        [] => "root".to_string(),
        [u] => {
            if h.users.contains_key(u) {
                u.clone()
            } else if let Some((n, _)) = u.parse::<u32>().ok().and_then(|i| h.user_by_uid(i)) {
                n.to_string()
            } else {
                return answer(1, "", format!("id: '{u}': no such user\n")).secs(secs);
            }
        }
        [_, extra, ..] => {
            return fail(
                1,
                format!("id: extra operand '{extra}'\nTry 'id --help' for more information."),
            );
        }
    };
    let u = &h.users[&name];
    let primary = h
        .group_name(u.gid)
        .map_or(u.gid.to_string(), str::to_string);
    let mut groups = vec![(u.gid, primary.clone())];
    for g in h.supplementary(&name) {
        let gid = h.groups[&g].gid;
        if gid != u.gid {
            groups.push((gid, g));
        }
    }
    let names = p.has("name");
    let out = if p.has("user") {
        if names {
            name.clone()
        } else {
            u.uid.to_string()
        }
    } else if p.has("group") {
        if names { primary } else { u.gid.to_string() }
    } else if p.has("groups") {
        groups
            .iter()
            .map(|(g, n)| if names { n.clone() } else { g.to_string() })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        format!(
            "uid={}({name}) gid={}({primary}) groups={}",
            u.uid,
            u.gid,
            groups
                .iter()
                .map(|(g, n)| format!("{g}({n})"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    Outcome::read(format!("{out}\n")).secs(secs)
}

// ---------------------------------------------------------------------------------------
// useradd, usermod, groupadd, gpasswd

const USERADD_USAGE: &str = "Usage: useradd [options] LOGIN\n       useradd -D\n       useradd -D [options]\n\nOptions:\n  -c, --comment COMMENT         GECOS field of the new account\n  -d, --home-dir HOME_DIR       home directory of the new account\n  -g, --gid GROUP               name or ID of the primary group of the new\n                                account\n  -G, --groups GROUPS           list of supplementary groups of the new\n                                account\n  -m, --create-home             create the user's home directory\n  -M, --no-create-home          do not create the user's home directory\n  -N, --no-user-group           do not create a group with the same name as\n                                the user\n  -p, --password PASSWORD       encrypted password of the new account\n  -r, --system                  create a system account\n  -s, --shell SHELL             login shell of the new account\n  -u, --uid UID                 user ID of the new account\n  -U, --user-group              create a group with the same name as the user\n\n";

const USERADD_OPTS: &[OptSpec] = &[
    o("comment", Some('c'), true),
    o("home-dir", Some('d'), true),
    o("gid", Some('g'), true),
    o("groups", Some('G'), true),
    o("create-home", Some('m'), false),
    o("no-create-home", Some('M'), false),
    o("no-user-group", Some('N'), false),
    o("password", Some('p'), true),
    o("system", Some('r'), false),
    o("shell", Some('s'), true),
    o("uid", Some('u'), true),
    o("user-group", Some('U'), false),
];

fn resolve_group(h: &HostState, g: &str) -> Option<(String, u32)> {
    if let Some(gr) = h.groups.get(g) {
        return Some((g.to_string(), gr.gid));
    }
    let gid: u32 = g.parse().ok()?;
    h.group_name(gid).map(|n| (n.to_string(), gid))
}

/// `useradd [options] LOGIN`.
pub fn useradd(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, USERADD_OPTS) {
        Ok(p) => p,
        Err(e) => return fail(2, format!("useradd: {e}\n{USERADD_USAGE}")),
    };
    let [name] = p.operands.as_slice() else {
        return fail(2, USERADD_USAGE);
    };
    if !valid_name(name) {
        return fail(3, format!("useradd: invalid user name '{name}'"));
    }
    let h = &ctx.state.host;
    if h.users.contains_key(name) {
        return fail(9, format!("useradd: user '{name}' already exists"));
    }
    let system = p.has("system");
    let private_group = !p.has("no-user-group") && p.value("gid").is_none();
    if private_group && h.groups.contains_key(name) {
        return fail(
            9,
            format!(
                "useradd: group {name} exists - if you want to add this user to that group, use -g."
            ),
        );
    }
    let mut supplementary = Vec::new();
    for g in p
        .value("groups")
        .unwrap_or("")
        .split(',')
        .filter(|g| !g.is_empty())
    {
        match resolve_group(h, g) {
            Some((n, _)) => supplementary.push(n),
            None => return fail(6, format!("useradd: group '{g}' does not exist")),
        }
    }
    let used_uids: Vec<u32> = h.users.values().map(|u| u.uid).collect();
    let uid = match p.value("uid") {
        Some(u) => match u.parse::<u32>() {
            Ok(u) if used_uids.contains(&u) => {
                return fail(4, format!("useradd: UID {u} is not unique"));
            }
            Ok(u) => u,
            Err(_) => return fail(3, format!("useradd: invalid user ID '{u}'")),
        },
        None => match next_id(&used_uids, system) {
            Some(u) => u,
            None => return fail(4, "useradd: can't create user"),
        },
    };
    let used_gids: Vec<u32> = h.groups.values().map(|g| g.gid).collect();
    let gid = if let Some(g) = p.value("gid") {
        match resolve_group(h, g) {
            Some((_, gid)) => gid,
            None => return fail(6, format!("useradd: group '{g}' does not exist")),
        }
    } else if private_group {
        if used_gids.contains(&uid) {
            match next_id(&used_gids, system) {
                Some(g) => g,
                None => return fail(4, "useradd: can't create group"),
            }
        } else {
            uid
        }
    } else {
        100
    };
    let home = p
        .value("home-dir")
        .map_or_else(|| format!("/home/{name}"), str::to_string);
    let password = p.value("password").unwrap_or("!").to_string();
    let user = User {
        uid,
        gid,
        gecos: p.value("comment").unwrap_or("").to_string(),
        home: home.clone(),
        shell: p.value("shell").unwrap_or("/bin/sh").to_string(),
        password,
        last_change: today(ctx),
    };
    let mut err = String::new();
    if p.has("create-home") && !p.has("no-create-home") {
        let dir = ctx.root.host(&home);
        if dir.exists() {
            err.push_str(&format!(
                "useradd: warning: the home directory {home} already exists.\nuseradd: Not copying any file from skel directory into it.\n"
            ));
        } else if let Err(e) = std::fs::create_dir_all(&dir) {
            return fail(12, format!("useradd: cannot create directory {home}: {e}"));
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
            if nix::unistd::geteuid().is_root() {
                let _ = nix::unistd::chown(
                    &dir,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                );
            }
        }
    }
    let h = &mut ctx.state.host;
    if private_group {
        h.groups.insert(
            name.clone(),
            Group {
                gid,
                members: Vec::new(),
            },
        );
    }
    for g in supplementary {
        if let Some(gr) = h.groups.get_mut(&g) {
            if !gr.members.contains(name) {
                gr.members.push(name.clone());
            }
        }
    }
    h.users.insert(name.clone(), user);
    let mut o = changed("");
    o.stderr = err;
    rendered(ctx, o)
}

/// `chpasswd [-e]`: `user:password` lines on stdin. All or nothing.
pub fn chpasswd(ctx: &mut Ctx, args: &[String]) -> Outcome {
    const USAGE: &str = "Usage: chpasswd [options]\n\nOptions:\n  -c, --crypt-method METHOD     the crypt method (one of NONE DES MD5 SHA256 SHA512 YESCRYPT)\n  -e, --encrypted               supplied passwords are encrypted\n  -h, --help                    display this help message and exit\n  -m, --md5                     encrypt the clear text password using\n                                the MD5 algorithm\n\n";
    let specs = [
        o("encrypted", Some('e'), false),
        o("crypt-method", Some('c'), true),
        o("md5", Some('m'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(2, format!("chpasswd: {e}\n{USAGE}")),
    };
    if !p.operands.is_empty() {
        return fail(2, USAGE);
    }
    let input = super::stdin_of(ctx);
    let text = String::from_utf8_lossy(&input).into_owned();
    let encrypted = p.has("encrypted");
    let mut updates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let Some((user, pw)) = line.split_once(':') else {
            return fail(
                1,
                format!(
                    "chpasswd: line {n}: missing new password\nchpasswd: error detected, changes ignored"
                ),
            );
        };
        if !ctx.state.host.users.contains_key(user) || (encrypted && !valid_hash(pw)) {
            return fail(
                1,
                format!("chpasswd: (line {n}, user {user}) password not changed"),
            );
        }
        let hash = if encrypted {
            pw.to_string()
        } else {
            hash_password(pw, ctx.state.seq * 131 + n as u64)
        };
        updates.push((user.to_string(), hash));
    }
    let day = today(ctx);
    for (user, hash) in updates {
        if let Some(u) = ctx.state.host.users.get_mut(&user) {
            u.password = hash;
            u.last_change = day;
        }
    }
    rendered(ctx, changed(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_shadow_utils() {
        for ok in ["phoenix_admin", "heads", "_apt", "a-b", "svc$"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Admin", "1abc", "a b", "a:b", &"x".repeat(33)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn hashes_look_like_crypt() {
        assert!(valid_hash(
            "$6$rounds=5000$saltsalt$K9E3Lf6N4zt2sLq1hZ8G7mUpjL3Y9oRgF5q2j7v9m3A1"
        ));
        assert!(valid_hash("$y$j9T$abc$def"));
        assert!(valid_hash("!") && valid_hash("*") && valid_hash("!$y$j9T$abc$def"));
        for bad in ["secret", "$6$", "$$x$y", "$6$salt$", "plain$text$here$x"] {
            assert!(!valid_hash(bad), "{bad}");
        }
        let h = hash_password("hunter2", 7);
        assert!(valid_hash(&h) && !h.contains("hunter2"), "{h}");
        assert_ne!(h, hash_password("hunter2", 8));
    }

    #[test]
    fn ids_are_allocated_like_useradd() {
        assert_eq!(next_id(&[0, 1, 65534], false), Some(1000));
        assert_eq!(next_id(&[0, 1000, 1005], false), Some(1006));
        assert_eq!(next_id(&[0, 999], true), Some(998));
    }

    #[test]
    fn renders_the_real_formats() {
        let u = User {
            uid: 1000,
            gid: 1000,
            gecos: "Admin".into(),
            home: "/home/a".into(),
            shell: "/bin/bash".into(),
            password: "!".into(),
            last_change: 20454,
        };
        assert_eq!(
            passwd_line("a", &u),
            "a:x:1000:1000:Admin:/home/a:/bin/bash"
        );
        assert_eq!(shadow_line("a", &u), "a:!:20454:0:99999:7:::");
        let g = Group {
            gid: 27,
            members: vec!["a".into(), "b".into()],
        };
        assert_eq!(group_line("sudo", &g), "sudo:x:27:a,b");
    }
}
