//! Pure checks for the value formats a configuration uses: addresses, MACs, ports,
//! GPU lists, host names, and the host's own (time zones, login names, SSH keys, Samba
//! names, checksums, runfile URLs, PCI IDs). Each returns a parsed value or a lowercase reason.
//!
//! The rules follow what Proxmox itself accepts (pve-common's `mac-addr` and `dns-name`
//! formats, pve-firewall's address and port syntax), so a config that passes here does not
//! fail later inside `pct set` or the firewall compiler.
//!
//! Grouped by what they check: network values (`network`), firewall rule syntax
//! (`firewall`), paths (`paths`) and the host's own settings (`host`); every check is
//! re-exported here.

mod firewall;
mod host;
mod network;
mod paths;
#[cfg(test)]
mod tests;

pub use firewall::{firewall_address, firewall_ports};
pub use host::{
    gpu_assignment, login_name, nfs_export_option, pci_id, runfile_url, samba_share_name, sha256,
    ssh_public_key, timezone, workgroup,
};
pub use network::{
    IpSetting, address_maybe_port, dns_name, https_base_url, in_subnet, ip_setting, ipv4,
    ipv4_cidr, mac, port_mapping, port_number, split_list,
};
pub use paths::{abs_path, file_name, guest_dir, host_dir};
