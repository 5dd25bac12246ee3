//! The certificates of `certificate-manifest.json`, kept valid from Step-CA.
//!
//! Observe: each certificate file is parsed in-process (validity and subject alternative
//! names); plan (pure, [`due`]): a certificate is renewed only when it is missing or
//! unreadable, when less than a third of its lifetime is left, or when its names differ from
//! the wanted ones — the manifest's `sans`, or the common name when `sans` is empty (the
//! shell version compared against `[""]` and renewed such certificates every hour, P19);
//! apply: `step ca certificate` with the provisioner's password from a file, the owner and
//! mode from the manifest, then the entry's `post_renewal_command`, split into argv and run
//! without a shell (P45) — and only after a renewal. One path per certificate: the
//! manifest's (P20). `sync all` never forces a renewal (P18).

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::config::Config;
use phoenix_core::config::certs::Certificate;
use x509_parser::extensions::GeneralName;

/// What a certificate file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Not valid before (Unix seconds).
    pub not_before: i64,
    /// Not valid after (Unix seconds).
    pub not_after: i64,
    /// DNS names and IP addresses it is valid for.
    pub names: BTreeSet<String>,
}

/// Parses the first certificate of a PEM file (pure).
pub fn inspect(pem: &[u8]) -> Result<Facts, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not PEM: {e}"))?;
    let cert = p
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut names = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => {
                    names.insert(d.to_ascii_lowercase());
                }
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        16 => <[u8; 16]>::try_from(*b)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        _ => None,
                    };
                    names.extend(ip);
                }
                _ => {}
            }
        }
    }
    Ok(Facts {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        names,
    })
}

/// The manifest as the sync issues it (pure): the certificate the gateway's site uses also
/// names every host that site serves (its `server_name`), so a browser reaching any routed
/// name through the gateway gets a certificate for it (nginx picks the site by name, then
/// presents this one certificate). The other entries are as written.
pub fn effective(cfg: &phoenix_core::config::Config) -> Vec<Certificate> {
    let mut out = cfg.certificates.clone();
    let m = phoenix_core::mesh::mesh(cfg);
    let (Some(gw), Ok(site)) = (
        phoenix_core::mesh::roles(cfg).gateway,
        crate::nginx::site(cfg, &m),
    ) else {
        return out;
    };
    for c in &mut out {
        if phoenix_core::mesh::container_path(cfg, gw, &c.cert_path).as_deref()
            == Some(site.cert.as_str())
        {
            let mut names = wanted_names(c);
            names.extend(site.server_names.iter().map(|n| n.to_ascii_lowercase()));
            c.sans = names.into_iter().collect();
            break;
        }
    }
    out
}

/// The names a manifest entry wants: its `sans`, or its common name when there are none.
pub fn wanted_names(c: &Certificate) -> BTreeSet<String> {
    let sans: BTreeSet<String> = c
        .sans
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if sans.is_empty() {
        BTreeSet::from([c.common_name.to_ascii_lowercase()])
    } else {
        sans
    }
}

/// Why a certificate is renewed (or not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Valid long enough, for the right names.
    No,
    /// No file.
    Missing,
    /// The file is not a certificate.
    Unreadable(String),
    /// Expired or in the last third of its lifetime.
    Expiring {
        /// Seconds left (negative: expired).
        left: i64,
    },
    /// Issued for other names.
    Names {
        /// What it has.
        have: BTreeSet<String>,
        /// What is wanted.
        want: BTreeSet<String>,
    },
}

/// Whether `c`, observed as `facts`, is renewed at `now` (pure).
pub fn due(c: &Certificate, facts: Option<Result<Facts, String>>, now: i64) -> Due {
    let f = match facts {
        None => return Due::Missing,
        Some(Err(e)) => return Due::Unreadable(e),
        Some(Ok(f)) => f,
    };
    let lifetime = (f.not_after - f.not_before).max(1);
    let left = f.not_after - now;
    if left * 3 < lifetime {
        return Due::Expiring { left };
    }
    let want = wanted_names(c);
    if f.names != want {
        return Due::Names {
            have: f.names,
            want,
        };
    }
    Due::No
}

impl std::fmt::Display for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        match self {
            Due::No => write!(f, "valid"),
            Due::Missing => write!(f, "missing"),
            Due::Unreadable(e) => write!(f, "unreadable ({e})"),
            Due::Expiring { left } if *left <= 0 => write!(f, "expired"),
            Due::Expiring { left } => write!(f, "expires in {}m", left / 60),
            Due::Names { have, want } => {
                write!(f, "names [{}], wanted [{}]", list(have), list(want))
            }
        }
    }
}

/// Where Step-CA is and how certificates are requested from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer {
    /// `step_ca.ca_url`.
    pub ca_url: Option<String>,
    /// Host path of the root (`--root`).
    pub root: Option<String>,
    /// Provisioner name.
    pub provisioner: String,
    /// Host path of the provisioner's password.
    pub password_file: String,
    /// `--not-after`.
    pub lifetime: String,
}

impl Issuer {
    /// From the configuration (`step_ca.*`, defaults from the CA container's state
    /// directory, [`phoenix_core::mesh::ca_state_dir`]); `None` when no password file can be
    /// named.
    pub fn from_config(cfg: &Config) -> Option<Self> {
        let s = cfg.host.step_ca.clone().unwrap_or_default();
        let dir = phoenix_core::mesh::ca_state_dir(cfg);
        let password_file = s.provisioner_password_file.clone().or_else(|| {
            dir.as_ref()
                .map(|d| format!("{d}/provisioner_password.txt"))
        })?;
        Some(Self {
            ca_url: s.ca_url.clone(),
            root: phoenix_core::mesh::ca_root_file(cfg),
            provisioner: s
                .provisioner_name
                .clone()
                .unwrap_or_else(|| "admin@thinkheads.ai".into()),
            password_file,
            lifetime: s
                .certificate_lifetime
                .clone()
                .unwrap_or_else(|| "24h".into()),
        })
    }

    /// `step ca certificate …` for `c` (host paths already below the system root).
    pub fn command(&self, c: &Certificate, host: impl Fn(&str) -> String) -> Cmd {
        let mut cmd = Cmd::mutate("step").args([
            "ca".to_string(),
            "certificate".into(),
            c.common_name.clone(),
            host(&c.cert_path),
            host(&c.key_path),
        ]);
        if let Some(u) = &self.ca_url {
            cmd = cmd.arg("--ca-url").arg(u);
        }
        if let Some(r) = &self.root {
            cmd = cmd.arg("--root").arg(host(r));
        }
        cmd = cmd
            .arg("--provisioner")
            .arg(&self.provisioner)
            .arg("--provisioner-password-file")
            .arg(host(&self.password_file))
            .arg("--not-after")
            .arg(&self.lifetime)
            .arg("--force");
        for n in wanted_names(c) {
            cmd = cmd.arg("--san").arg(n);
        }
        cmd
    }
}

/// A `post_renewal_command` as argv (no shell: quotes group words, nothing expands).
pub fn post_command(c: &Certificate) -> anyhow::Result<Option<Vec<String>>> {
    let Some(text) = c.post_renewal_command.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    let argv = shlex::split(text).with_context(|| {
        format!(
            "post_renewal_command of {} has unbalanced quotes: {text}",
            c.common_name
        )
    })?;
    if argv.is_empty() {
        return Ok(None);
    }
    Ok(Some(argv))
}

/// The guest a post-renewal command runs in, when it is `pct exec <id> …` or
/// `qm guest exec <id> …` (pure): a stopped guest needs no reload — it reads the new
/// certificate when it starts.
pub fn post_guest(
    argv: &[String],
) -> Option<(phoenix_core::ids::GuestKind, phoenix_core::ids::GuestId)> {
    use phoenix_core::ids::GuestKind;
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (kind, id) = match words.as_slice() {
        ["pct", "exec", id, ..] => (GuestKind::Lxc, *id),
        ["qm", "guest", "exec", id, ..] => (GuestKind::Vm, *id),
        _ => return None,
    };
    Some((kind, id.parse().ok()?))
}

/// The octal mode of a manifest entry (`"640"`).
pub fn mode(c: &Certificate) -> anyhow::Result<Option<u32>> {
    match c.permissions.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => match u32::from_str_radix(p, 8) {
            Ok(m) if m <= 0o777 => Ok(Some(m)),
            _ => bail!("permissions of {} is not an octal mode: {p}", c.common_name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(sans: &[&str]) -> Certificate {
        Certificate {
            common_name: "portainer.lab.example".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            cert_path: "/c.crt".into(),
            key_path: "/c.key".into(),
            ..Default::default()
        }
    }

    fn facts(names: &[&str], nb: i64, na: i64) -> Option<Result<Facts, String>> {
        Some(Ok(Facts {
            not_before: nb,
            not_after: na,
            names: names.iter().map(|s| s.to_string()).collect(),
        }))
    }

    #[test]
    fn empty_sans_mean_the_common_name() {
        let c = cert(&[]);
        let day = 86_400;
        assert_eq!(
            due(&c, facts(&["portainer.lab.example"], 0, day), 3600),
            Due::No
        );
    }

    #[test]
    fn renewal_comes_in_the_last_third_of_the_lifetime() {
        let c = cert(&["a.example", "b.example"]);
        let f = || facts(&["a.example", "b.example"], 0, 86_400);
        assert_eq!(due(&c, f(), 57_000), Due::No);
        assert_eq!(due(&c, f(), 58_000), Due::Expiring { left: 28_400 });
        assert_eq!(due(&c, f(), 90_000), Due::Expiring { left: -3_600 });
        assert_eq!(due(&c, None, 0), Due::Missing);
        assert!(matches!(
            due(&c, Some(Err("x".into())), 0),
            Due::Unreadable(_)
        ));
    }

    #[test]
    fn other_names_are_renewed() {
        let c = cert(&["a.example", "B.example"]);
        let d = due(&c, facts(&["a.example"], 0, 86_400), 10);
        assert_eq!(
            d.to_string(),
            "names [a.example], wanted [a.example, b.example]"
        );
    }

    #[test]
    fn post_commands_are_argv_without_a_shell() {
        let mut c = cert(&[]);
        c.post_renewal_command =
            Some("pct exec 102 -- /bin/bash -c 'systemctl reload traefik; echo $HOME'".into());
        assert_eq!(
            post_command(&c).unwrap().unwrap(),
            [
                "pct",
                "exec",
                "102",
                "--",
                "/bin/bash",
                "-c",
                "systemctl reload traefik; echo $HOME"
            ]
        );
        c.post_renewal_command = Some("echo 'open".into());
        assert!(post_command(&c).is_err());
    }

    #[test]
    fn post_commands_name_their_guest() {
        use phoenix_core::ids::{GuestId, GuestKind};
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            post_guest(&w("pct exec 101 -- systemctl reload nginx")),
            Some((GuestKind::Lxc, GuestId(101)))
        );
        assert_eq!(
            post_guest(&w("qm guest exec 1001 -- docker restart portainer")),
            Some((GuestKind::Vm, GuestId(1001)))
        );
        assert_eq!(post_guest(&w("systemctl reload nginx")), None);
    }

    #[test]
    fn real_certificates_are_read() {
        let mut p =
            rcgen::CertificateParams::new(vec!["gw.example".to_string(), "10.0.0.5".to_string()])
                .unwrap();
        p.not_before = rcgen::date_time_ymd(2026, 1, 1);
        p.not_after = rcgen::date_time_ymd(2026, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        let f = inspect(pem.as_bytes()).unwrap();
        assert_eq!(f.not_after - f.not_before, 86_400);
        assert_eq!(
            f.names.into_iter().collect::<Vec<_>>(),
            ["10.0.0.5", "gw.example"]
        );
        assert!(inspect(b"junk").is_err());
    }
}
