//! Proxmox users and ACLs as `pveum user list --output-format json` and `pveum acl list
//! --output-format json` print them (an array of objects; the shell version looked for a
//! `.roles` map that real output never has, so it re-granted the role on every run).

use serde::Deserialize;

use super::ParseError;

/// One user (`userid` is `name@realm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    /// `phoenix_admin@pam`.
    pub userid: String,
}

/// One ACL entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Acl {
    /// `/`, `/vms/101`, …
    pub path: String,
    /// `Administrator`, `PVEAuditor`, …
    pub roleid: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user, group or token the entry is for.
    pub ugid: String,
}

/// Parses `pveum user list --output-format json`.
pub fn parse_users(json: &str) -> Result<Vec<User>, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError {
        what: "pveum user list",
        line: e.line(),
        message: e.to_string(),
    })
}

/// Parses `pveum acl list --output-format json`.
pub fn parse_acls(json: &str) -> Result<Vec<Acl>, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError {
        what: "pveum acl list",
        line: e.line(),
        message: e.to_string(),
    })
}

/// Whether `acls` grant `role` on `path` to user `userid` directly.
pub fn has_role(acls: &[Acl], path: &str, userid: &str, role: &str) -> bool {
    acls.iter()
        .any(|a| a.path == path && a.kind == "user" && a.ugid == userid && a.roleid == role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_acls_parse_from_real_output() {
        // As PVE 8's `pveum user list --output-format json` prints them (fields beyond
        // `userid` vary by realm and are ignored).
        let users = parse_users(
            r#"[{"enable":1,"expire":0,"realm-type":"pam","tfa-locked-until":null,"userid":"root@pam","email":"root@localhost"}]"#,
        )
        .unwrap();
        assert_eq!(users[0].userid, "root@pam");
        let acls = parse_acls(
            r#"[{"path":"/","propagate":1,"roleid":"Administrator","type":"user","ugid":"phoenix_admin@pam"},{"path":"/","propagate":1,"roleid":"Administrator","type":"group","ugid":"admins"}]"#,
        )
        .unwrap();
        assert!(has_role(&acls, "/", "phoenix_admin@pam", "Administrator"));
        assert!(
            !has_role(&acls, "/", "admins", "Administrator"),
            "a group is not a user"
        );
        assert!(!has_role(
            &acls,
            "/vms",
            "phoenix_admin@pam",
            "Administrator"
        ));
        assert!(parse_users("not json").is_err());
    }
}
