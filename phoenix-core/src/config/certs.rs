//! `certificate-manifest.json`: certificates Step-CA issues and the host keeps renewed.

use serde::{Deserialize, Serialize};

/// One certificate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct Certificate {
    /// Subject common name.
    pub common_name: String,
    /// Subject alternative names (may be empty).
    pub sans: Vec<String>,
    /// Certificate file on the host.
    pub cert_path: String,
    /// Key file on the host.
    pub key_path: String,
    /// `user:group` of both files.
    pub owner: Option<String>,
    /// Octal mode of the key file (`640`).
    pub permissions: Option<String>,
    /// What reloads the consumer after a renewal.
    pub post_renewal_command: Option<String>,
}
