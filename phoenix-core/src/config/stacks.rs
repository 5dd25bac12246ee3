//! Docker stacks: `stacks/<name>/phoenix.json` manifests (authoritative, as in the shell
//! version) and the optional `phoenix_stacks_config.json` catalogue.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::guest::FirewallRule;

/// `phoenix_stacks_config.json`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StacksFile {
    /// Stack definitions by name.
    pub docker_stacks: BTreeMap<String, StackDefinition>,
}

/// A stack in the catalogue.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackDefinition {
    /// Free text.
    pub description: Option<String>,
    /// Compose file, relative to the install root (read when there is no `stacks/<name>/`).
    pub compose_file_path: Option<String>,
    /// Environments by name.
    pub environments: BTreeMap<String, StackEnvironment>,
}

/// `stacks/<name>/phoenix.json`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackManifest {
    /// Free text.
    pub description: Option<String>,
    /// Environments by name.
    pub environments: BTreeMap<String, StackEnvironment>,
}

/// One environment of a stack.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackEnvironment {
    /// Stack environment variables.
    pub variables: Vec<StackVariable>,
    /// Files made available to the stack.
    pub files: Vec<StackFile>,
    /// Per-service settings.
    pub services: BTreeMap<String, StackService>,
    /// Firewall rules the VM needs for this stack.
    pub firewall_rules: Vec<FirewallRule>,
}

/// `{name, value}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackVariable {
    /// Variable name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `{source, destination_in_container}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackFile {
    /// Path relative to `stacks/<name>/`.
    pub source: String,
    /// Destination inside the service container.
    pub destination_in_container: String,
}

/// Per-service settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StackService {
    /// Traefik labels.
    pub traefik_labels: Vec<String>,
}

/// A stack: `stacks/<name>/` with `phoenix.json` (authoritative, from 2025-11-02), or an
/// entry of the catalogue `phoenix_stacks_config.json` (the 2025-10 shape, with no stack
/// directory: `compose_file_path` and file sources relative to the install root).
#[derive(Clone, Debug)]
pub struct Stack {
    /// Its name (the directory or catalogue key).
    pub name: String,
    /// Directory its `files[].source` paths are relative to: `stacks/<name>/`, or the install
    /// root for a catalogue stack.
    pub dir: PathBuf,
    /// The compose file (which may not exist: a finding on the stack, not on the estate).
    pub compose: PathBuf,
    /// The file that defines its environments (`phoenix.json` or the catalogue).
    pub definition: PathBuf,
    /// JSON pointer of the definition inside that file (`""`, or `/docker_stacks/<name>`).
    pub pointer: String,
    /// The environments.
    pub manifest: StackManifest,
}

impl Stack {
    /// A stack directory `dir` (`stacks/<name>/`) with its manifest.
    pub fn in_dir(name: &str, dir: PathBuf, manifest: StackManifest) -> Self {
        Self {
            name: name.to_string(),
            compose: dir.join(phoenix_paths::config_files::STACK_COMPOSE),
            definition: dir.join(phoenix_paths::config_files::STACK_MANIFEST),
            pointer: String::new(),
            dir,
            manifest,
        }
    }

    /// A stack defined only by its catalogue entry `def` in `catalogue`; paths are relative
    /// to the install `root` (a missing `compose_file_path` means `stacks/<name>/…`).
    pub fn from_catalogue(
        name: &str,
        def: &StackDefinition,
        catalogue: &std::path::Path,
        root: &std::path::Path,
    ) -> Self {
        let compose = match def.compose_file_path.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => root.join(p.trim_start_matches("./")),
            None => root
                .join(phoenix_paths::install::STACKS)
                .join(name)
                .join(phoenix_paths::config_files::STACK_COMPOSE),
        };
        let environments = def.environments.clone();
        Self {
            name: name.to_string(),
            dir: root.to_path_buf(),
            compose,
            definition: catalogue.to_path_buf(),
            pointer: format!("/docker_stacks/{}", super::json::escape_token(name)),
            manifest: StackManifest {
                description: def.description.clone(),
                environments,
            },
        }
    }

    /// The compose file.
    pub fn compose_file(&self) -> PathBuf {
        self.compose.clone()
    }

    /// JSON pointer of environment `env` in [`Stack::definition`].
    pub fn environment_pointer(&self, env: &str) -> String {
        super::json::child(&format!("{}/environments", self.pointer), env)
    }
}
