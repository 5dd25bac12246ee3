//! Tests of the format checks.

use std::net::Ipv4Addr;

use super::*;

#[test]
fn host_formats() {
    for ok in [
        "UTC",
        "Etc/UTC",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
    ] {
        assert!(timezone(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "New York",
        "/etc/passwd",
        "Europe/../x",
        "Europe/",
        "utc;rm",
    ] {
        assert!(timezone(bad).is_err(), "{bad}");
    }
    assert!(login_name("phoenix_admin").is_ok() && login_name("heads").is_ok());
    for bad in ["Root", "a b", "-x", ""] {
        assert!(login_name(bad).is_err(), "{bad}");
    }
    assert!(
        ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1abcdefghijklmnop ops@lab").is_ok()
    );
    assert!(ssh_public_key("hello world").is_err());
    assert!(ssh_public_key("ssh-ed25519 AAAA$(reboot)AAAAAAAAAAAAAAAAAAAAAA").is_err());
    assert!(samba_share_name("data").is_ok());
    assert!(samba_share_name("Homes").unwrap_err().contains("reserved"));
    assert!(samba_share_name("a]b").is_err());
    assert!(workgroup("LAB").is_ok() && workgroup("a b").is_err());
    assert!(sha256(&"a".repeat(64)).is_ok() && sha256("abc").is_err());
    assert_eq!(
        runfile_url("https://us.download.nvidia.com/XFree86/Linux-x86_64/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run").unwrap(),
        "NVIDIA-Linux-x86_64-580.76.05.run"
    );
    assert!(runfile_url("http://x/NVIDIA.run").is_err());
    assert!(runfile_url("https://x/driver.tar.gz").is_err());
    assert!(runfile_url("https://x/a;b.run").is_err());
    assert!(pci_id("10de:2204").is_ok() && pci_id("10de 2204").is_err());
}

#[test]
fn ip_settings() {
    assert_eq!(ip_setting("dhcp"), Ok(IpSetting::Dhcp));
    assert_eq!(
        ip_setting("10.0.0.5/24"),
        Ok(IpSetting::Static(Ipv4Addr::new(10, 0, 0, 5), 24))
    );
    for bad in [
        "10.0.0.5",
        "10.0.0.300/24",
        "10.0.0.5/33",
        "10.0.0.5/",
        "10.0.0.5/+1",
        "DHCP",
        "010.0.0.1/24",
    ] {
        assert!(ip_setting(bad).is_err(), "{bad}");
    }
    assert!(in_subnet(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 200),
        24
    ));
    assert!(!in_subnet(
        Ipv4Addr::new(10, 0, 1, 1),
        Ipv4Addr::new(10, 0, 0, 200),
        24
    ));
    assert!(in_subnet(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(10, 0, 0, 200),
        0
    ));
}

#[test]
fn macs_follow_proxmox() {
    assert!(mac("52:54:00:AA:BB:CC").is_ok());
    assert!(mac("52:54:00:aa:bb:cc").is_ok());
    assert!(mac("53:54:00:AA:BB:CC").unwrap_err().contains("multicast"));
    for bad in [
        "52:54:00:AA:BB",
        "52-54-00-AA-BB-CC",
        "52:54:00:AA:BB:CG",
        "525400AABBCC",
    ] {
        assert!(mac(bad).is_err(), "{bad}");
    }
}

#[test]
fn host_names() {
    for ok in ["Copy-Cuda12.8", "granite-3.3-8b-fp8", "a", "web01"] {
        assert!(dns_name(ok).is_ok(), "{ok}");
    }
    for bad in ["my_host", "-x", "x-", "a..b", "has space", ""] {
        assert!(dns_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn gpu_lists() {
    assert_eq!(gpu_assignment("none"), Ok(vec![]));
    assert_eq!(gpu_assignment("0, 1"), Ok(vec![0, 1]));
    assert_eq!(gpu_assignment("1"), Ok(vec![1]));
    assert!(gpu_assignment("0,,1").is_err());
    assert!(gpu_assignment("gpu0").is_err());
    assert!(gpu_assignment("-1").is_err());
    assert!(gpu_assignment("0,0").unwrap_err().contains("twice"));
    assert!(gpu_assignment("64").unwrap_err().contains("out of range"));
}

#[test]
fn firewall_syntax() {
    for ok in ["22", "80,443", "8000:8010", "ssh", "80, 443"] {
        assert!(firewall_ports(ok).is_ok(), "{ok}");
    }
    for bad in ["0", "65536", "8o", "90:80", "", "80,,443"] {
        assert!(firewall_ports(bad).is_err(), "{bad}");
    }
    for ok in [
        "10.0.0.0/24",
        "10.0.0.13",
        "10.0.0.1-10.0.0.9",
        "+management",
        "+dc/management",
        "mynet",
        "fd00::/8",
        "10.0.0.1,10.0.0.2",
    ] {
        assert!(firewall_address(ok).is_ok(), "{ok}");
    }
    for bad in [
        "10.0.0.300",
        "10.0.0.0/33",
        "10.0.0.1,fd00::1",
        "1.2.3.4-fd00::1",
        "",
        "x",
    ] {
        assert!(firewall_address(bad).is_err(), "{bad}");
    }
}

#[test]
fn paths_are_canonical_and_stay_out_of_system_trees() {
    assert_eq!(abs_path("/tank//data/").unwrap(), "/tank/data");
    assert_eq!(abs_path("/").unwrap(), "/");
    for bad in ["tank/data", "", "/tank/../etc", "/tank/./x"] {
        assert!(abs_path(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "/tank/lxc-persistent-data/103/ssl",
        "/mnt/pve/quickOS/shared-prod-data",
        "/var/lib/phoenix-data",
        "/usr/local/phoenix_hypervisor/etc/nginx/sites-available",
    ] {
        assert!(host_dir(ok).is_ok(), "{ok}");
    }
    for bad in [
        "/",
        "/etc",
        "/etc/pve/lxc",
        "/usr",
        "/usr/lib",
        "/var",
        "/boot",
        "/root/x",
        "/proc",
        "/sys/kernel",
        "/dev",
        "/run/x",
        "/lib64",
        "/tank/../etc",
        "/usr/local/phoenix_hypervisor",
    ] {
        assert!(host_dir(bad).is_err(), "{bad}");
    }
    for ok in [
        "/etc/step-ca/ssl",
        "/var/log/nginx",
        "/models",
        "/etc/nginx/ssl",
    ] {
        assert!(guest_dir(ok).is_ok(), "{ok}");
    }
    for bad in [
        "/",
        "/etc",
        "/usr",
        "/proc/sys",
        "/dev/shm",
        "/host/../etc",
        "rel",
    ] {
        assert!(guest_dir(bad).is_err(), "{bad}");
    }
    assert!(file_name("noble-server-cloudimg-amd64.img").is_ok());
    for bad in ["../x", "a/b", "..", ""] {
        assert!(file_name(bad).is_err(), "{bad:?}");
    }
}

/// nfs-utils support/nfs/exports.c parseopts: known flags and `key=value` keys only.
#[test]
fn nfs_export_options_are_exports_5_keywords() {
    for ok in [
        "rw",
        "no_subtree_check",
        "fsid=0",
        "anonuid=1000",
        "sec=krb5p",
        "crossmnt",
    ] {
        assert!(nfs_export_option(ok).is_ok(), "{ok}");
    }
    for bad in ["noatime", "rw ", "fsid=", "colour=red", "", "sync,rw"] {
        assert!(nfs_export_option(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn misc() {
    assert!(port_mapping("8000:8000").is_ok());
    assert!(port_mapping("8000").is_err());
    assert!(port_mapping("0:1").is_err());
    assert_eq!(
        split_list("10.0.0.1, 8.8.8.8  1.1.1.1"),
        ["10.0.0.1", "8.8.8.8", "1.1.1.1"]
    );
}

#[test]
fn api_urls_and_addresses() {
    for ok in [
        "https://portainer.lab.example:9443",
        "https://portainer.lab.example",
        "https://10.0.0.5:9443",
        "https://[::1]:9443",
    ] {
        assert_eq!(https_base_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://portainer:9443",
        "https://portainer.lab/api",
        "https://user@portainer",
        "https://portainer:99999",
        "https://bad_name",
    ] {
        assert!(https_base_url(bad).is_err(), "{bad}");
    }
    assert!(address_maybe_port("10.0.0.5").is_ok());
    assert!(address_maybe_port("10.0.0.5:9443").is_ok());
    assert!(address_maybe_port("portainer.lab").is_err());
}
