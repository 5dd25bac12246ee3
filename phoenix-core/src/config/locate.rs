//! Where the configuration lives: `--config` > `PHOENIX_CONFIG_DIR` > `$PHOENIX_ROOT/etc`,
//! then `core_paths` inside the host file for the other files.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use phoenix_paths::{DEFAULT_ROOT, Layout, config_files, install};
use serde::Serialize;

use super::host::CorePaths;

/// Which rule chose the configuration directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    /// `--config`.
    Flag,
    /// `PHOENIX_CONFIG_DIR`.
    Env,
    /// `$PHOENIX_ROOT/etc`.
    Default,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigSource::Flag => "--config",
            ConfigSource::Env => phoenix_paths::ENV_CONFIG_DIR,
            ConfigSource::Default => "$PHOENIX_ROOT/etc",
        })
    }
}

/// The configuration directory and host file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigLocation {
    /// Directory holding the configuration files.
    pub dir: PathBuf,
    /// The host file (normally `<dir>/phoenix_hypervisor_config.json`).
    pub host_file: PathBuf,
    /// Which rule chose it.
    pub source: ConfigSource,
}

impl ConfigLocation {
    /// Applies the precedence. `flag` and `env` may name a directory or, for compatibility
    /// with `hypervisor-manager --config FILE`, the host file itself.
    pub fn resolve(flag: Option<&Path>, env: Option<OsString>, layout: &Layout) -> Self {
        let env = env.filter(|e| !e.is_empty()).map(PathBuf::from);
        let (given, source) = match (flag, env) {
            (Some(f), _) => (f.to_path_buf(), ConfigSource::Flag),
            (None, Some(e)) => (e, ConfigSource::Env),
            (None, None) => (layout.etc_dir(), ConfigSource::Default),
        };
        if given.extension().is_some_and(|e| e == "json") && !given.is_dir() {
            let dir = match given.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            return Self {
                dir,
                host_file: given,
                source,
            };
        }
        let host_file = given.join(config_files::HYPERVISOR);
        Self {
            dir: given,
            host_file,
            source,
        }
    }

    /// Resolves the other files from `core_paths`.
    pub fn files(&self, core: &CorePaths) -> ConfigFiles {
        let stacks_dir = match &core.stacks_dir {
            Some(d) => self.core_path(d, install::STACKS),
            None => self.dir.join("..").join(install::STACKS),
        };
        ConfigFiles {
            host: self.host_file.clone(),
            lxc: self.core_path_or(core.lxc_config_file.as_deref(), config_files::LXC),
            vm: self.core_path_or(core.vm_config_file.as_deref(), config_files::VM),
            stacks_config: self
                .core_path_or(core.stacks_config_file.as_deref(), config_files::STACKS),
            stacks_dir: normalize_dots(&stacks_dir),
            certificates: self.dir.join(config_files::CERTIFICATES),
            root: normalize_dots(&self.dir.join("..")),
        }
    }

    fn core_path_or(&self, value: Option<&str>, default_name: &str) -> PathBuf {
        match value {
            Some(v) => self.core_path(v, default_name),
            None => self.dir.join(default_name),
        }
    }

    /// `core_paths` values: relative paths are relative to the configuration directory; the
    /// shell version's default install path (`/usr/local/phoenix_hypervisor/etc/<name>`, which
    /// its shipped file spells out) means "the file of that name next to the host file", so a
    /// configuration directory can be copied and validated anywhere.
    fn core_path(&self, value: &str, default_name: &str) -> PathBuf {
        let p = Path::new(value);
        let installed_default = Path::new(DEFAULT_ROOT).join(install::ETC);
        if let Ok(rest) = p.strip_prefix(&installed_default) {
            if rest == Path::new(default_name) || p.parent() == Some(installed_default.as_path()) {
                return self.dir.join(rest);
            }
        }
        if p == Path::new(DEFAULT_ROOT).join(default_name) {
            return self.dir.join("..").join(default_name);
        }
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// Removes `dir/..` pairs lexically where possible, for readable messages.
fn normalize_dots(p: &Path) -> PathBuf {
    let mut out: Vec<std::path::Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir
                if matches!(out.last(), Some(std::path::Component::Normal(_))) =>
            {
                out.pop();
            }
            std::path::Component::CurDir if !out.is_empty() => {}
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// Paths of every configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigFiles {
    /// Host file.
    pub host: PathBuf,
    /// LXC file.
    pub lxc: PathBuf,
    /// VM file.
    pub vm: PathBuf,
    /// Stacks catalogue (optional).
    pub stacks_config: PathBuf,
    /// Directory of `stacks/<name>/`.
    pub stacks_dir: PathBuf,
    /// Certificate manifest (optional).
    pub certificates: PathBuf,
    /// The install root the configuration directory belongs to (its parent): what the
    /// catalogue's `compose_file_path` and file sources are relative to.
    pub root: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new("/opt/phx", "/")
    }

    #[test]
    fn precedence_is_flag_env_default() {
        let l = layout();
        let f = ConfigLocation::resolve(Some(Path::new("/cfg")), Some("/env".into()), &l);
        assert_eq!(
            (f.dir.as_path(), f.source),
            (Path::new("/cfg"), ConfigSource::Flag)
        );
        let e = ConfigLocation::resolve(None, Some("/env".into()), &l);
        assert_eq!(
            (e.dir.as_path(), e.source),
            (Path::new("/env"), ConfigSource::Env)
        );
        let d = ConfigLocation::resolve(None, Some("".into()), &l);
        assert_eq!(
            (d.dir.as_path(), d.source),
            (Path::new("/opt/phx/etc"), ConfigSource::Default)
        );
        assert_eq!(
            d.host_file,
            Path::new("/opt/phx/etc/phoenix_hypervisor_config.json")
        );
    }

    #[test]
    fn a_host_file_may_be_given_instead_of_a_directory() {
        let l = ConfigLocation::resolve(Some(Path::new("/cfg/custom.json")), None, &layout());
        assert_eq!(l.dir, Path::new("/cfg"));
        assert_eq!(l.host_file, Path::new("/cfg/custom.json"));
    }

    #[test]
    fn core_paths_are_honored() {
        let l = ConfigLocation::resolve(Some(Path::new("/cfg")), None, &layout());
        let default = l.files(&CorePaths::default());
        assert_eq!(default.lxc, Path::new("/cfg/phoenix_lxc_configs.json"));
        assert_eq!(default.stacks_dir, Path::new("/stacks"));
        let shell = CorePaths {
            lxc_config_file: Some(
                "/usr/local/phoenix_hypervisor/etc/phoenix_lxc_configs.json".into(),
            ),
            vm_config_file: Some("guests/vms.json".into()),
            stacks_dir: Some("/srv/stacks".into()),
            ..CorePaths::default()
        };
        let f = l.files(&shell);
        assert_eq!(f.lxc, Path::new("/cfg/phoenix_lxc_configs.json"));
        assert_eq!(f.vm, Path::new("/cfg/guests/vms.json"));
        assert_eq!(f.stacks_dir, Path::new("/srv/stacks"));
        let elsewhere = CorePaths {
            lxc_config_file: Some("/srv/lxc.json".into()),
            ..CorePaths::default()
        };
        assert_eq!(l.files(&elsewhere).lxc, Path::new("/srv/lxc.json"));
    }

    #[test]
    fn relative_config_dirs_keep_readable_stack_paths() {
        let l =
            ConfigLocation::resolve(Some(Path::new("../shared/reference/etc")), None, &layout());
        assert_eq!(
            l.files(&CorePaths::default()).stacks_dir,
            Path::new("../shared/reference/stacks")
        );
    }
}
