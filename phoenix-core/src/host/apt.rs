//! Debian packages: which are installed (`dpkg-query -W`), and the commands that install the
//! missing ones (`apt-get update`, then `apt-get install -y --no-install-recommends`).

use std::collections::BTreeMap;

use anyhow::Context;

use crate::cmd::{Cmd, Runner};

/// The `dpkg-query` output format: package, status word, version, one line each.
const FORMAT: &str = "--showformat=${Package}\\t${db:Status-Status}\\t${Version}\\n";

/// `dpkg-query -W -f=… <pkgs>` (exit 1 only means some are not installed).
pub fn query_cmd<S: AsRef<str>>(pkgs: &[S]) -> Cmd {
    Cmd::read("dpkg-query")
        .args(["-W", FORMAT])
        .args(pkgs.iter().map(AsRef::as_ref))
        .ok_codes(&[0, 1])
}

/// The installed packages and their versions in `dpkg-query` output (pure). Lines for
/// packages dpkg knows but that are not installed (`not-installed`, `config-files`) are
/// left out.
pub fn parse_query(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, status, version) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            (status == "installed" && !name.is_empty())
                .then(|| (name.to_string(), version.to_string()))
        })
        .collect()
}

/// Which of `pkgs` are installed, with their versions.
pub fn installed<S: AsRef<str>>(
    runner: &Runner,
    pkgs: &[S],
) -> anyhow::Result<BTreeMap<String, String>> {
    if pkgs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = runner
        .run(&query_cmd(pkgs))
        .context("cannot list the installed packages")?;
    Ok(parse_query(&out.stdout_str()))
}

/// The commands that install `pkgs`: refresh the package lists, then install without
/// prompting and without recommended extras. Never an upgrade of anything else.
pub fn install_cmds<S: AsRef<str>>(pkgs: &[S]) -> Vec<Cmd> {
    vec![
        Cmd::mutate("apt-get")
            .args(["update", "-q"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        Cmd::mutate("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(pkgs.iter().map(AsRef::as_ref))
            .env("DEBIAN_FRONTEND", "noninteractive"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_are_read_from_dpkg_query() {
        // What `dpkg-query -W -f='${Package}\t${db:Status-Status}\t${Version}\n' chrony samba
        // sudo` prints on a Debian 12 host where samba was removed but not purged (sudo is
        // unknown: dpkg-query says so on stderr and exits 1).
        let out =
            "chrony\tinstalled\t4.3-2+deb12u1\nsamba\tconfig-files\t2:4.17.12+dfsg-0+deb12u1\n";
        let m = parse_query(out);
        assert_eq!(m.len(), 1);
        assert_eq!(m["chrony"], "4.3-2+deb12u1");
    }

    #[test]
    fn install_never_prompts_nor_upgrades() {
        let cmds = install_cmds(&["dnsmasq", "sudo"]);
        let shown: Vec<String> = cmds.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "apt-get update -q",
                "apt-get install -y -q --no-install-recommends dnsmasq sudo"
            ]
        );
        assert!(cmds.iter().all(|c| {
            c.get_env()
                .iter()
                .any(|(k, v)| k == "DEBIAN_FRONTEND" && v == "noninteractive")
        }));
        assert_eq!(
            query_cmd(&["sudo"]).get_args(),
            [
                "-W",
                "--showformat=${Package}\\t${db:Status-Status}\\t${Version}\\n",
                "sudo"
            ]
        );
    }
}
