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
    /// Compose file path (informational; the compose file lives in `stacks/<name>/`).
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

/// A stack found on disk.
#[derive(Clone, Debug)]
pub struct Stack {
    /// Directory name.
    pub name: String,
    /// `stacks/<name>/`.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: StackManifest,
}

impl Stack {
    /// `stacks/<name>/docker-compose.yml`.
    pub fn compose_file(&self) -> PathBuf {
        self.dir.join(phoenix_paths::config_files::STACK_COMPOSE)
    }
}
