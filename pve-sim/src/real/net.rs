//! A real guest's network: a network namespace of its own (`ip netns`, made before the guest
//! boots, so the [`super::archive`] proxy listens there before anything in the guest asks
//! for it) with loopback up and one interface per NIC the guest's configuration gives it
//! (`eth<n>` with its MAC), so the guest sees the devices its configuration names —
//! cloud-init waits for every physical device its network-config lists by MAC
//! (`cloudinit/distros/networking.py` `wait_for_physdevs`) — without a link to anything:
//! each is one end of a veth pair whose other end sits in a second namespace of the guest's
//! own (`<name>-wire`, no address, no route, no forwarding), never on the host (a `dummy` device would do, but not every
//! kernel has the module).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn name(data: &Path, id: u32) -> String {
    super::machine(data, id)
}

/// The namespace's file, which `systemd-nspawn --network-namespace-path` joins.
pub fn path(data: &Path, id: u32) -> PathBuf {
    Path::new("/run/netns").join(name(data, id))
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes the namespace afresh: loopback up, `nics` (name, MAC) up.
pub fn create(data: &Path, id: u32, nics: &[(String, String)]) -> Result<PathBuf, String> {
    remove(data, id);
    let ns = name(data, id);
    let wire = format!("{ns}-wire");
    ip(&["netns", "add", &ns])?;
    ip(&["netns", "add", &wire])?;
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    for (dev, mac) in nics {
        ip(&[
            "-n", &ns, "link", "add", dev, "address", mac, "type", "veth", "peer", "name", dev,
            "netns", &wire,
        ])?;
        // No IPv6 link-local address of its own: with one and no IPv4 address yet (no DHCP
        // server here), glibc's getaddrinfo(AI_ADDRCONFIG) refuses IPv4 names — apt could not
        // even resolve its proxy, 127.0.0.1. The guest may still configure IPv6 itself.
        ip(&["-n", &ns, "link", "set", dev, "addrgenmode", "none"])?;
        ip(&["-n", &ns, "link", "set", dev, "up"])?;
        // Its carrier: the other end up, as a VM's tap on a bridge is (systemd-networkd's
        // wait-online waits for a carrier on every configured link), with nothing behind it.
        ip(&["-n", &wire, "link", "set", dev, "up"])?;
    }
    Ok(path(data, id))
}

/// Removes the namespaces (the guest's proxy then ends).
pub fn remove(data: &Path, id: u32) {
    let ns = name(data, id);
    for n in [ns.clone(), format!("{ns}-wire")] {
        if Path::new("/run/netns").join(&n).exists() {
            let _ = ip(&["netns", "delete", &n]);
        }
    }
}
