//! A minimal Docker engine inside a guest, for the `docker` commands managers run through
//! `pct exec` and `qm guest exec` ([`crate::guestfs`] calls [`docker`]).
//!
//! The engine's state is a JSON file in the guest's own tree, `/var/lib/pve-sim/docker.json`
//! ([`STATE`]), so it lives, is snapshotted and is cloned with the guest: containers made by
//! `docker run` (name → id, image, running, the argv that made them), Compose projects
//! (name → config files, SHA-256 of their content at the last `up`, running, number of
//! `up`s) and volumes (name → driver, options, labels). Images, networks and a project's own
//! containers are not modelled.
//!
//! Modelled, with Docker's texts and exit statuses:
//! - `docker inspect [-f|--format FMT] NAME…` / `docker container inspect` (a read; Go
//!   template fields such as `{{.State.Running}}`, `{{.Id}}`, `{{json .Config}}`);
//! - `docker run [-d] [--name N] [OPTIONS] IMAGE [ARG…]` (a name in use: 125), `rm [-f]`,
//!   `start`, `stop`, `restart` (also as `docker container …`);
//! - `docker compose [-f FILE]… [-p P] [--project-directory D] up|down|ps -q|ls`: the project
//!   name is `-p`, else the file's top-level `name:`, else its directory's name normalised
//!   as Compose does; `up` records the project running with its files' SHA-256 (a second
//!   `up` is accepted), `down` forgets it, `ps -q` prints one id per running project
//!   (derived from its name), `ls [-a] [-q] [--format table|json]`;
//! - `docker volume create|inspect|rm|ls` (`create` is idempotent; `run -v NAME:/path`
//!   creates a named volume as Docker does).
//!
//! Anything else returns `None`: the interpreter then treats it as any unknown command
//! (rules, else silent success). Rules are consulted before this module, so a rule can
//! script or fail any `docker` command line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::guestfs::{Exec, GuestFs};

/// The engine's state file, a guest path.
pub const STATE: &str = "/var/lib/pve-sim/docker.json";

/// Everything the simulated engine knows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Engine {
    /// Containers by name.
    pub containers: BTreeMap<String, Container>,
    /// Compose projects by name.
    pub projects: BTreeMap<String, Project>,
    /// Volumes by name.
    pub volumes: BTreeMap<String, Volume>,
    /// Containers and anonymous volumes created so far (makes their ids unique).
    pub created: u64,
}

/// A container made by `docker run`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// The image it runs.
    pub image: String,
    /// Running (else exited).
    pub running: bool,
    /// The command line that made it (`docker run …`).
    pub argv: Vec<String>,
    /// `--rm`: removed when it stops.
    pub auto_remove: bool,
    /// `docker restart`s.
    pub restarts: u32,
}

/// A Compose project brought up with `docker compose up`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Project {
    /// Config files, comma-separated (as `docker compose ls` shows them).
    pub file: String,
    /// SHA-256 of the files' content (concatenated) at the last `up`.
    pub sha256: String,
    /// Running.
    pub running: bool,
    /// How many times `up` ran.
    pub ups: u32,
}

/// A volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Driver (`local`).
    pub driver: String,
    /// Driver options (`--opt K=V`).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    /// Loads the state of the guest's engine (empty when there is none yet).
    pub fn load(fs: &GuestFs) -> Result<Self, String> {
        let path = fs.host_path(STATE);
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| format!("pve-sim: {STATE}: {e}\n")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("pve-sim: cannot read {STATE}: {e}\n")),
        }
    }

    /// Saves the state into the guest's tree.
    fn save(&self, fs: &GuestFs) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::root::write_atomic(&fs.host_path(STATE), format!("{text}\n").as_bytes())
            .map_err(|e| format!("pve-sim: cannot write {STATE}: {e:#}\n"))
    }

    /// A fresh 64-hex id.
    fn new_id(&mut self, what: &str, name: &str) -> String {
        self.created += 1;
        sha256_hex(format!("pve-sim {what} {name} {}", self.created).as_bytes())
    }
}

/// Lowercase hex SHA-256.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id `docker compose ps -q` prints for a running project.
pub fn project_container_id(project: &str) -> String {
    sha256_hex(format!("pve-sim compose project {project}").as_bytes())
}

fn out(stdout: impl Into<String>, mutates: bool) -> Exec {
    Exec {
        stdout: stdout.into(),
        mutates,
        ..Exec::default()
    }
}

fn err(code: i32, stderr: impl Into<String>) -> Exec {
    let mut s: String = stderr.into();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Exec {
        code,
        stderr: s,
        ..Exec::default()
    }
}

/// Runs `docker ARGS` in the guest when the subcommand is modelled; `None` otherwise.
pub fn docker(fs: &GuestFs, args: &[String]) -> Option<Exec> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (sub, rest) = match a.as_slice() {
        ["container", sub, rest @ ..]
            if matches!(
                *sub,
                "inspect" | "run" | "rm" | "start" | "stop" | "restart"
            ) =>
        {
            (format!("container {sub}"), rest)
        }
        [sub, rest @ ..] => ((*sub).to_string(), rest),
        [] => return None,
    };
    if !matches!(
        sub.trim_start_matches("container "),
        "inspect" | "run" | "rm" | "start" | "stop" | "restart" | "compose" | "volume"
    ) {
        return None;
    }
    let mut engine = match Engine::load(fs) {
        Ok(e) => e,
        Err(e) => return Some(err(1, e)),
    };
    let before = engine.clone();
    let mut r = match sub.as_str() {
        "inspect" => inspect(&engine, rest, false),
        "container inspect" => inspect(&engine, rest, true),
        "run" | "container run" => run(&mut engine, args, rest),
        "rm" | "container rm" => rm(&mut engine, rest),
        "start" | "container start" => start_stop(&mut engine, "start", rest),
        "stop" | "container stop" => start_stop(&mut engine, "stop", rest),
        "restart" | "container restart" => start_stop(&mut engine, "restart", rest),
        "compose" => compose(fs, &mut engine, rest)?,
        "volume" => volume(&mut engine, rest)?,
        _ => return None,
    };
    if engine != before {
        if let Err(e) = engine.save(fs) {
            r.code = 1;
            r.stderr.push_str(&e);
        }
    }
    Some(r)
}

// ---------------------------------------------------------------------------------------
// Go templates (`--format`)

/// Renders a `--format` template over an inspect object: text, and actions `{{.A.B}}`,
/// `{{json .A}}`, `{{.}}`; Go's `fmt` prints maps as `map[k:v]` and lists as `[a b]`.
pub fn render(format: &str, v: &Value) -> Result<String, String> {
    let mut outp = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        outp.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "template: :1: unclosed action in command \"{}\"",
                after.trim()
            ));
        };
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let col = format.len() - rest.len() + start + 3;
        let (json_fn, path) = match action.split_once(char::is_whitespace) {
            Some(("json", p)) => (true, p.trim()),
            Some((f, _)) => return Err(format!("template: :1: function \"{f}\" not defined")),
            None => (false, action),
        };
        if !path.starts_with('.') {
            return Err(format!("template: :1: function \"{path}\" not defined"));
        }
        let mut cur = v;
        for key in path[1..].split('.').filter(|k| !k.is_empty()) {
            match cur.get(key) {
                Some(x) => cur = x,
                None => {
                    return Err(format!(
                        "template: :1:{col}: executing \"\" at <{path}>: map has no entry for key \"{key}\""
                    ));
                }
            }
        }
        if json_fn {
            outp.push_str(&serde_json::to_string(cur).unwrap_or_default());
        } else {
            outp.push_str(&go_fmt(cur));
        }
        rest = &after[end + 2..];
    }
    outp.push_str(rest);
    Ok(outp)
}

/// A JSON value as Go's `fmt` prints the decoded value.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// JSON as the Docker CLI prints it (four-space indentation).
fn docker_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = v.serialize(&mut ser);
    format!("{}\n", String::from_utf8_lossy(&buf))
}

/// Prints inspect objects with a format (one rendering per line) or as a JSON array.
fn print_objects(objects: &[Value], format: Option<&str>) -> Result<String, String> {
    match format {
        Some(f) => objects
            .iter()
            .map(|o| render(f, o).map(|s| s + "\n"))
            .collect(),
        None => Ok(docker_json(&Value::Array(objects.to_vec()))),
    }
}

/// A `--format`/`-f` option and the names: `(format, names)`.
fn format_and_names<'a>(
    args: &[&'a str],
    extra_value_opts: &[&str],
) -> Result<(Option<String>, Vec<&'a str>), String> {
    let mut format = None;
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if let Some(v) = a.strip_prefix("--format=") {
            format = Some(v.to_string());
        } else if a == "-f" || a == "--format" {
            format = Some(
                args.get(i)
                    .ok_or_else(|| format!("flag needs an argument: {a}"))?
                    .to_string(),
            );
            i += 1;
        } else if let Some(v) = a.strip_prefix("-f").filter(|v| !v.is_empty()) {
            format = Some(v.to_string());
        } else if extra_value_opts.contains(&a) {
            i += 1;
        } else if a == "-s" || a == "--size" {
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(format!("unknown flag: {a}"));
        } else {
            names.push(a);
        }
    }
    Ok((format, names))
}

// ---------------------------------------------------------------------------------------
// Containers

/// What `docker inspect` shows of a container.
fn container_json(name: &str, c: &Container) -> Value {
    let spec = parse_run(run_args(&c.argv)).unwrap_or_default();
    let status = if c.running { "running" } else { "exited" };
    json!({
        "Id": c.id,
        "Name": format!("/{name}"),
        "Path": spec.cmd.first().cloned().unwrap_or_default(),
        "Args": spec.cmd.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status,
            "Running": c.running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "ExitCode": 0,
        },
        "RestartCount": c.restarts,
        "Config": {
            "Hostname": c.id[..12.min(c.id.len())],
            "Image": c.image,
            "Cmd": if spec.cmd.is_empty() { Value::Null } else { json!(spec.cmd) },
            "Env": spec.env,
        },
        "HostConfig": {
            "RestartPolicy": {"Name": spec.restart.clone().unwrap_or_else(|| "no".into()), "MaximumRetryCount": 0},
            "AutoRemove": c.auto_remove,
            "NetworkMode": spec.network.clone().unwrap_or_else(|| "bridge".into()),
            "Binds": if spec.binds.is_empty() { Value::Null } else { json!(spec.binds) },
        },
    })
}

/// `docker inspect [-f FMT] NAME…`: containers by name (or id, or id prefix).
fn inspect(engine: &Engine, args: &[&str], container_only: bool) -> Exec {
    let (format, names) = match format_and_names(args, &["--type"]) {
        Ok(x) => x,
        Err(e) => return err(1, e),
    };
    if names.is_empty() {
        let cmd = if container_only {
            "docker container inspect"
        } else {
            "docker inspect"
        };
        return err(
            1,
            format!(
                "\"{cmd}\" requires at least 1 argument.\nSee '{cmd} --help'.\n\nUsage:  {cmd} [OPTIONS] {} [{}...]\n",
                if container_only {
                    "CONTAINER"
                } else {
                    "NAME|ID"
                },
                if container_only {
                    "CONTAINER"
                } else {
                    "NAME|ID"
                }
            ),
        );
    }
    let mut objects = Vec::new();
    let mut stderr = String::new();
    for n in names {
        match find(engine, n) {
            Some((name, c)) => objects.push(container_json(name, c)),
            None if container_only => stderr.push_str(&format!("Error: No such container: {n}\n")),
            None => stderr.push_str(&format!("Error: No such object: {n}\n")),
        }
    }
    let stdout = match print_objects(&objects, format.as_deref()) {
        Ok(s) => s,
        Err(e) => return err(1, format!("template parsing error: {e}")),
    };
    Exec {
        code: i32::from(!stderr.is_empty()),
        stdout,
        stderr,
        ..Exec::default()
    }
}

/// A container by name, full id or id prefix.
fn find<'a>(engine: &'a Engine, n: &str) -> Option<(&'a str, &'a Container)> {
    let n = n.trim_start_matches('/');
    if let Some((k, c)) = engine.containers.get_key_value(n) {
        return Some((k.as_str(), c));
    }
    let hits: Vec<_> = engine
        .containers
        .iter()
        .filter(|(_, c)| n.len() >= 3 && c.id.starts_with(n))
        .collect();
    match hits.as_slice() {
        [(k, c)] => Some((k.as_str(), c)),
        _ => None,
    }
}

fn find_name(engine: &Engine, n: &str) -> Option<String> {
    find(engine, n).map(|(k, _)| k.to_string())
}

/// What a `docker run` command line asks for.
#[derive(Clone, Debug, Default, PartialEq)]
struct RunSpec {
    name: Option<String>,
    image: String,
    cmd: Vec<String>,
    detach: bool,
    rm: bool,
    restart: Option<String>,
    network: Option<String>,
    env: Vec<String>,
    /// `-v`/`--volume` values and `--mount` volume sources.
    binds: Vec<String>,
    mounts: Vec<String>,
}

/// `docker run`'s boolean flags (long, then short letters).
const RUN_BOOL_LONG: &[&str] = &[
    "detach",
    "rm",
    "interactive",
    "tty",
    "privileged",
    "init",
    "publish-all",
    "read-only",
    "no-healthcheck",
    "oom-kill-disable",
    "quiet",
    "disable-content-trust",
    "sig-proxy",
    "help",
    "use-api-socket",
];
const RUN_BOOL_SHORT: &str = "ditPq";
const RUN_VALUE_SHORT: &str = "pvewuhlmcaj";

/// Parses `docker run`'s arguments (after `run`); errors are the CLI's texts.
fn parse_run(args: &[String]) -> Result<RunSpec, String> {
    let mut s = RunSpec::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a == "-" {
            s.image = a.to_string();
            s.cmd = args[i..].to_vec();
            return Ok(s);
        }
        let mut set = |k: &str, v: String| match k {
            "name" => s.name = Some(v),
            "restart" => s.restart = Some(v),
            "network" | "net" => s.network = Some(v),
            "e" | "env" => s.env.push(v),
            "v" | "volume" => s.binds.push(v),
            "mount" => s.mounts.push(v),
            _ => {}
        };
        if let Some(long) = a.strip_prefix("--") {
            let (k, inline) = match long.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (long, None),
            };
            if RUN_BOOL_LONG.contains(&k) {
                let on = inline.as_deref().is_none_or(|v| v != "false");
                match k {
                    "detach" => s.detach = on,
                    "rm" => s.rm = on,
                    _ => {}
                }
                continue;
            }
            let v = match inline {
                Some(v) => v,
                None => {
                    let Some(v) = args.get(i) else {
                        return Err(format!("flag needs an argument: --{k}"));
                    };
                    i += 1;
                    v.clone()
                }
            };
            set(k, v);
            continue;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < letters.len() {
            let c = letters[j];
            j += 1;
            if RUN_BOOL_SHORT.contains(c) {
                if c == 'd' {
                    s.detach = true;
                }
                continue;
            }
            if RUN_VALUE_SHORT.contains(c) {
                let v = if j < letters.len() {
                    letters[j..].iter().collect::<String>()
                } else {
                    let Some(v) = args.get(i) else {
                        return Err(format!("flag needs an argument: '{c}' in -{c}"));
                    };
                    i += 1;
                    v.clone()
                };
                set(&c.to_string(), v.trim_start_matches('=').to_string());
                break;
            }
            return Err(format!("unknown shorthand flag: '{c}' in {a}"));
        }
    }
    if s.image.is_empty() {
        return Err(
            "'docker run' requires at least 1 argument.\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]"
                .to_string(),
        );
    }
    Ok(s)
}

/// A valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn valid_container_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The named volumes a container uses (`-v NAME:/path`, `--mount source=NAME,…`).
fn named_volumes(spec: &RunSpec) -> Vec<String> {
    let mut out = Vec::new();
    for b in &spec.binds {
        let src = b.split(':').next().unwrap_or("");
        if b.contains(':') && !src.is_empty() && !src.starts_with(['/', '.', '~']) {
            out.push(src.to_string());
        }
    }
    for m in &spec.mounts {
        let kv: BTreeMap<&str, &str> = m.split(',').filter_map(|p| p.split_once('=')).collect();
        if kv.get("type").is_none_or(|t| *t == "volume") {
            if let Some(src) = kv.get("source").or_else(|| kv.get("src")) {
                out.push((*src).to_string());
            }
        }
    }
    out
}

/// The arguments of a recorded `docker [container] run …` after `run`.
fn run_args(argv: &[String]) -> &[String] {
    let at = argv.iter().position(|a| a == "run").map_or(0, |i| i + 1);
    &argv[at..]
}

/// `docker run` (`full`: every argument after `docker`; `args`: those after `run`).
fn run(engine: &mut Engine, full: &[String], args: &[&str]) -> Exec {
    let argv: Vec<String> = std::iter::once("docker".to_string())
        .chain(full.iter().cloned())
        .collect();
    let spec = match parse_run(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
        Ok(s) => s,
        Err(e) => {
            return err(
                125,
                format!("docker: {e}\n\nRun 'docker run --help' for more information"),
            );
        }
    };
    if let Some(n) = &spec.name {
        if !valid_container_name(n) {
            return err(
                125,
                format!(
                    "docker: Error response from daemon: Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.\n\nRun 'docker run --help' for more information"
                ),
            );
        }
        if let Some(c) = engine.containers.get(n) {
            return err(
                125,
                format!(
                    "docker: Error response from daemon: Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information",
                    c.id
                ),
            );
        }
    }
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("pve_sim_{}", engine.created + 1));
    let id = engine.new_id("container", &name);
    for v in named_volumes(&spec) {
        engine.volumes.entry(v).or_insert_with(|| Volume {
            driver: "local".into(),
            ..Volume::default()
        });
    }
    if spec.detach {
        engine.containers.insert(
            name,
            Container {
                id: id.clone(),
                image: spec.image.clone(),
                running: true,
                argv,
                auto_remove: spec.rm,
                restarts: 0,
            },
        );
        return out(format!("{id}\n"), true);
    }
    // In the foreground the command runs to its end here; with --rm nothing is left.
    if !spec.rm {
        engine.containers.insert(
            name,
            Container {
                id,
                image: spec.image.clone(),
                running: false,
                argv,
                auto_remove: false,
                restarts: 0,
            },
        );
    }
    out("", true)
}

/// `docker rm [-f] [-v] NAME…`.
fn rm(engine: &mut Engine, args: &[&str]) -> Exec {
    let mut force = false;
    let mut names = Vec::new();
    for a in args {
        match *a {
            "-f" | "--force" | "-fv" | "-vf" => force = true,
            "-v" | "--volumes" | "-l" | "--link" => {}
            x if x.starts_with('-') && x.len() > 1 => {
                return err(1, format!("unknown flag: {x}\nSee 'docker rm --help'."));
            }
            x => names.push(x),
        }
    }
    if names.is_empty() {
        return err(
            1,
            "\"docker rm\" requires at least 1 argument.\nSee 'docker rm --help'.\n\nUsage:  docker rm [OPTIONS] CONTAINER [CONTAINER...]\n\nRemove one or more containers",
        );
    }
    let mut r = out("", true);
    for n in names {
        let Some(name) = find_name(engine, n) else {
            if !force {
                r.code = 1;
                r.stderr.push_str(&format!(
                    "Error response from daemon: No such container: {n}\n"
                ));
            }
            continue;
        };
        if engine.containers[&name].running && !force {
            r.code = 1;
            r.stderr.push_str(&format!(
                "Error response from daemon: cannot remove container \"/{name}\": container is running: stop the container before removing or force remove\n"
            ));
            continue;
        }
        engine.containers.remove(&name);
        r.stdout.push_str(&format!("{n}\n"));
    }
    r
}

/// `docker start|stop|restart [-t N] NAME…`.
fn start_stop(engine: &mut Engine, verb: &str, args: &[&str]) -> Exec {
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        match a {
            "-t" | "--time" | "--timeout" | "-s" | "--signal" | "--detach-keys" => i += 1,
            "-a" | "--attach" | "-i" | "--interactive" => {}
            x if x.starts_with("--time=") || x.starts_with("--signal=") => {}
            x if x.starts_with('-') && x.len() > 1 => {
                return err(1, format!("unknown flag: {x}\nSee 'docker {verb} --help'."));
            }
            x => names.push(x),
        }
    }
    if names.is_empty() {
        return err(
            1,
            format!(
                "\"docker {verb}\" requires at least 1 argument.\nSee 'docker {verb} --help'.\n\nUsage:  docker {verb} [OPTIONS] CONTAINER [CONTAINER...]"
            ),
        );
    }
    let mut r = out("", true);
    let mut failed = Vec::new();
    for n in names {
        let Some(name) = find_name(engine, n) else {
            r.code = 1;
            r.stderr.push_str(&format!(
                "Error response from daemon: No such container: {n}\n"
            ));
            failed.push(n);
            continue;
        };
        let c = engine.containers.get_mut(&name).expect("found");
        match verb {
            "stop" => {
                c.running = false;
                if c.auto_remove {
                    engine.containers.remove(&name);
                }
            }
            "restart" => {
                c.running = true;
                c.restarts += 1;
            }
            _ => c.running = true,
        }
        r.stdout.push_str(&format!("{n}\n"));
    }
    if verb == "start" && !failed.is_empty() {
        r.stderr.push_str(&format!(
            "Error: failed to start containers: {}\n",
            failed.join(", ")
        ));
    }
    r
}

// ---------------------------------------------------------------------------------------
// Compose

/// Compose's global options.
#[derive(Debug, Default)]
struct ComposeOpts {
    files: Vec<String>,
    project: Option<String>,
    project_dir: Option<String>,
}

/// An absolute guest path (relative ones are taken from `/`, a guest command's directory).
fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{}", p.trim_start_matches("./"))
    }
}

/// Compose's `NormalizeProjectName`: lowercase, only `[a-z0-9_-]`, no leading `_`/`-`.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

fn valid_project_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// The top-level `name:` of a compose file.
fn top_level_name(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("name:")?;
        let v = v.split(" #").next().unwrap_or(v).trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// The project a compose command is about: its name and its config files with their
/// content (empty when only `-p` named it and no file is needed).
#[allow(clippy::type_complexity)]
fn resolve_project(
    fs: &GuestFs,
    o: &ComposeOpts,
    need_files: bool,
) -> Result<(String, Vec<(String, Vec<u8>)>), Exec> {
    let mut files: Vec<String> = o.files.iter().map(|f| absolute(f)).collect();
    if files.is_empty() && (need_files || o.project.is_none()) {
        let dir = absolute(o.project_dir.as_deref().unwrap_or("/"));
        let dir = dir.trim_end_matches('/');
        let found = [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
        ]
        .iter()
        .map(|n| format!("{dir}/{n}"))
        .find(|p| fs.host_path(p).is_file());
        match found {
            Some(f) => files.push(f),
            None => return Err(err(1, "no configuration file provided: not found")),
        }
    }
    let mut loaded = Vec::new();
    for f in &files {
        match std::fs::read(fs.host_path(f)) {
            Ok(b) if fs.host_path(f).is_file() => loaded.push((f.clone(), b)),
            _ => return Err(err(1, format!("open {f}: no such file or directory"))),
        }
    }
    let name = match &o.project {
        Some(p) => {
            if !valid_project_name(p) {
                return Err(err(
                    1,
                    format!(
                        "invalid project name \"{p}\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
                    ),
                ));
            }
            p.clone()
        }
        None => {
            let from_file = loaded
                .first()
                .and_then(|(_, b)| top_level_name(&String::from_utf8_lossy(b)));
            let dir = match (&o.project_dir, loaded.first()) {
                (Some(d), _) => absolute(d),
                (None, Some((f, _))) => f.rsplit_once('/').map_or("", |(d, _)| d).to_string(),
                (None, None) => String::new(),
            };
            let base = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let n = normalize_project_name(&from_file.unwrap_or_else(|| base.to_string()));
            if n.is_empty() {
                return Err(err(1, "project name must not be empty"));
            }
            n
        }
    };
    Ok((name, loaded))
}

/// Options a compose subcommand accepts: `(boolean flags, flags with a value)`.
fn compose_flags(sub: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match sub {
        "up" => (
            &[
                "-d",
                "--detach",
                "--remove-orphans",
                "--build",
                "--no-build",
                "--force-recreate",
                "--no-recreate",
                "--always-recreate-deps",
                "--quiet-pull",
                "--wait",
                "--no-deps",
                "--no-start",
                "--no-color",
                "--no-log-prefix",
                "-V",
                "--renew-anon-volumes",
                "--abort-on-container-exit",
                "--abort-on-container-failure",
                "--attach-dependencies",
                "--timestamps",
                "-y",
                "--yes",
                "-w",
                "--watch",
                "--dry-run",
                "--quiet-build",
            ],
            &[
                "--pull",
                "--wait-timeout",
                "-t",
                "--timeout",
                "--scale",
                "--attach",
                "--no-attach",
                "--exit-code-from",
            ],
        ),
        "down" => (
            &["-v", "--volumes", "--remove-orphans", "--dry-run"],
            &["--rmi", "-t", "--timeout"],
        ),
        "ps" => (
            &[
                "-q",
                "--quiet",
                "-a",
                "--all",
                "--services",
                "--orphans",
                "--no-trunc",
                "--dry-run",
            ],
            &["--status", "--filter", "--format"],
        ),
        "ls" => (
            &["-a", "--all", "-q", "--quiet", "--dry-run"],
            &["--format", "--filter"],
        ),
        _ => (&[], &[]),
    }
}

/// Parses a subcommand's options: `(flags and values in order, positionals)`.
#[allow(clippy::type_complexity)]
fn parse_sub(
    sub: &str,
    args: &[&str],
) -> Result<(Vec<(String, Option<String>)>, Vec<String>), String> {
    let (bools, values) = compose_flags(sub);
    let mut opts = Vec::new();
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if !a.starts_with('-') || a == "-" {
            pos.push(a.to_string());
            continue;
        }
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a, None),
        };
        if bools.contains(&k) {
            opts.push((k.to_string(), None));
        } else if values.contains(&k) {
            let v = match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| format!("flag needs an argument: {k}"))?;
                    i += 1;
                    v.to_string()
                }
            };
            opts.push((k.to_string(), Some(v)));
        } else if k.starts_with("--") {
            return Err(format!("unknown flag: {k}"));
        } else {
            return Err(format!(
                "unknown shorthand flag: '{}' in {k}",
                k.chars().nth(1).unwrap_or('-')
            ));
        }
    }
    Ok((opts, pos))
}

/// `docker compose …`; `None` for subcommands that are not modelled.
fn compose(fs: &GuestFs, engine: &mut Engine, args: &[&str]) -> Option<Exec> {
    let mut o = ComposeOpts::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if !a.starts_with('-') {
            break;
        }
        i += 1;
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a, None),
        };
        let mut value = || -> Option<String> {
            inline.clone().or_else(|| {
                let v = args.get(i).map(|s| s.to_string());
                i += 1;
                v
            })
        };
        match k {
            "-f" | "--file" => o.files.push(value()?),
            "-p" | "--project-name" => o.project = Some(value()?),
            "--project-directory" => o.project_dir = Some(value()?),
            "--env-file" | "--profile" | "--ansi" | "--progress" | "--parallel" => {
                value()?;
            }
            "--compatibility" | "--dry-run" | "--all-resources" => {}
            _ => return None,
        }
    }
    let sub = *args.get(i)?;
    let rest = &args[i + 1..];
    if !matches!(sub, "up" | "down" | "ps" | "ls") {
        return None;
    }
    let (opts, pos) = match parse_sub(sub, rest) {
        Ok(x) => x,
        Err(e) => return Some(err(1, e)),
    };
    let has = |k: &[&str]| opts.iter().any(|(n, _)| k.contains(&n.as_str()));
    let value = |k: &[&str]| {
        opts.iter()
            .rev()
            .find(|(n, _)| k.contains(&n.as_str()))
            .and_then(|(_, v)| v.clone())
    };
    Some(match sub {
        "up" => {
            if let Some(p) = value(&["--pull"]) {
                if !matches!(
                    p.as_str(),
                    "always" | "missing" | "never" | "build" | "policy"
                ) && !p.starts_with("daily")
                    && !p.starts_with("weekly")
                    && !p.starts_with("every_")
                {
                    return Some(err(1, format!("invalid --pull option \"{p}\"")));
                }
            }
            let (name, files) = match resolve_project(fs, &o, true) {
                Ok(x) => x,
                Err(e) => return Some(e),
            };
            let mut all = Vec::new();
            for (_, b) in &files {
                all.extend_from_slice(b);
            }
            let file = files
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let p = engine.projects.entry(name).or_default();
            p.file = file;
            p.sha256 = sha256_hex(&all);
            p.running = true;
            p.ups += 1;
            out("", true)
        }
        "down" => {
            let (name, _) = match resolve_project(fs, &o, false) {
                Ok(x) => x,
                Err(e) => return Some(e),
            };
            if engine.projects.remove(&name).is_some() {
                out("", true)
            } else {
                Exec {
                    stderr: format!(
                        "Warning: No resource found to remove for project \"{name}\".\n"
                    ),
                    mutates: true,
                    ..Exec::default()
                }
            }
        }
        "ps" => {
            if !has(&["-q", "--quiet"]) {
                return None;
            }
            let (name, _) = match resolve_project(fs, &o, false) {
                Ok(x) => x,
                Err(e) => return Some(e),
            };
            let running = engine.projects.get(&name).is_some_and(|p| p.running);
            out(
                if running {
                    format!("{}\n", project_container_id(&name))
                } else {
                    String::new()
                },
                false,
            )
        }
        _ => {
            if let Some(p) = pos.first() {
                return Some(err(
                    1,
                    format!("unknown command \"{p}\" for \"docker compose ls\""),
                ));
            }
            compose_ls(
                engine,
                has(&["-a", "--all"]),
                has(&["-q", "--quiet"]),
                value(&["--format"]),
                value(&["--filter"]),
            )
        }
    })
}

/// `docker compose ls [-a] [-q] [--format table|json] [--filter name=X]`.
fn compose_ls(
    engine: &Engine,
    all: bool,
    quiet: bool,
    format: Option<String>,
    filter: Option<String>,
) -> Exec {
    let name_filter = match filter.as_deref() {
        None => None,
        Some(f) => match f.split_once('=') {
            Some(("name", v)) => Some(v.to_string()),
            _ => return err(1, format!("invalid filter '{f}'")),
        },
    };
    let rows: Vec<(&String, &Project)> = engine
        .projects
        .iter()
        .filter(|(_, p)| all || p.running)
        .filter(|(n, _)| name_filter.as_ref().is_none_or(|f| n.contains(f.as_str())))
        .collect();
    let status = |p: &Project| {
        if p.running {
            "running(1)".to_string()
        } else {
            "exited(1)".to_string()
        }
    };
    if quiet {
        return out(
            rows.iter()
                .map(|(n, _)| format!("{n}\n"))
                .collect::<String>(),
            false,
        );
    }
    match format.as_deref().unwrap_or("table") {
        "json" => {
            let v: Vec<Value> = rows
                .iter()
                .map(|(n, p)| json!({"Name": n, "Status": status(p), "ConfigFiles": p.file}))
                .collect();
            out(
                format!("{}\n", serde_json::to_string(&v).unwrap_or_default()),
                false,
            )
        }
        "table" => {
            let mut table = vec![[
                "NAME".to_string(),
                "STATUS".to_string(),
                "CONFIG FILES".to_string(),
            ]];
            for (n, p) in &rows {
                table.push([(*n).clone(), status(p), p.file.clone()]);
            }
            out(tabwrite(&table, 20, 3), false)
        }
        f => err(
            1,
            format!("format value {f:?} could not be parsed: unsupported format"),
        ),
    }
}

/// Go's tabwriter: every column but the last padded to `max(minwidth, width + padding)`.
fn tabwrite<const N: usize>(rows: &[[String; N]], minwidth: usize, padding: usize) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (k, c) in r.iter().enumerate() {
            widths[k] = widths[k].max(c.chars().count() + padding).max(minwidth);
        }
    }
    let mut s = String::new();
    for r in rows {
        for (k, c) in r.iter().enumerate() {
            if k + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = widths[k]));
            }
        }
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------------------------------
// Volumes

fn volume_json(name: &str, v: &Volume) -> Value {
    json!({
        "Driver": v.driver,
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": format!("/var/lib/docker/volumes/{name}/_data"),
        "Name": name,
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
        "Scope": "local",
    })
}

/// `docker volume create|inspect|rm|ls`; `None` for other subcommands.
fn volume(engine: &mut Engine, args: &[&str]) -> Option<Exec> {
    let (sub, rest) = args.split_first()?;
    Some(match *sub {
        "create" => volume_create(engine, rest),
        "inspect" => {
            let (format, names) = match format_and_names(rest, &[]) {
                Ok(x) => x,
                Err(e) => return Some(err(1, e)),
            };
            if names.is_empty() {
                return Some(err(
                    1,
                    "\"docker volume inspect\" requires at least 1 argument.\nSee 'docker volume inspect --help'.\n\nUsage:  docker volume inspect [OPTIONS] VOLUME [VOLUME...]",
                ));
            }
            let mut objects = Vec::new();
            let mut stderr = String::new();
            for n in names {
                match engine.volumes.get(n) {
                    Some(v) => objects.push(volume_json(n, v)),
                    None => stderr.push_str(&format!(
                        "Error response from daemon: get {n}: no such volume\n"
                    )),
                }
            }
            let stdout = match print_objects(&objects, format.as_deref()) {
                Ok(s) => s,
                Err(e) => return Some(err(1, format!("template parsing error: {e}"))),
            };
            Exec {
                code: i32::from(!stderr.is_empty()),
                stdout,
                stderr,
                ..Exec::default()
            }
        }
        "rm" | "remove" => {
            let force = rest.iter().any(|a| matches!(*a, "-f" | "--force"));
            if let Some(x) = rest
                .iter()
                .find(|a| a.starts_with('-') && !matches!(**a, "-f" | "--force"))
            {
                return Some(err(1, format!("unknown flag: {x}")));
            }
            let names: Vec<&&str> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            let mut r = out("", true);
            for n in names {
                if !engine.volumes.contains_key(*n) {
                    if !force {
                        r.code = 1;
                        r.stderr.push_str(&format!(
                            "Error response from daemon: get {n}: no such volume\n"
                        ));
                    }
                    continue;
                }
                let users: Vec<&str> = engine
                    .containers
                    .values()
                    .filter(|c| {
                        parse_run(run_args(&c.argv))
                            .is_ok_and(|s| named_volumes(&s).iter().any(|v| v == *n))
                    })
                    .map(|c| c.id.as_str())
                    .collect();
                if !users.is_empty() {
                    r.code = 1;
                    r.stderr.push_str(&format!(
                        "Error response from daemon: remove {n}: volume is in use - [{}]\n",
                        users.join(", ")
                    ));
                    continue;
                }
                engine.volumes.remove(*n);
                r.stdout.push_str(&format!("{n}\n"));
            }
            r
        }
        "ls" | "list" => {
            if rest.iter().any(|a| matches!(*a, "-q" | "--quiet")) {
                out(
                    engine
                        .volumes
                        .keys()
                        .map(|n| format!("{n}\n"))
                        .collect::<String>(),
                    false,
                )
            } else {
                let mut rows = vec![["DRIVER".to_string(), "VOLUME NAME".to_string()]];
                for (n, v) in &engine.volumes {
                    rows.push([v.driver.clone(), n.clone()]);
                }
                out(tabwrite(&rows, 10, 3), false)
            }
        }
        _ => return None,
    })
}

/// `docker volume create [-d|--driver D] [-o|--opt K=V]… [--label K=V]… [NAME]`.
fn volume_create(engine: &mut Engine, args: &[&str]) -> Exec {
    let mut driver: Option<String> = None;
    let mut options = BTreeMap::new();
    let mut labels = BTreeMap::new();
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a, None),
        };
        if !k.starts_with('-') || k == "-" {
            names.push(a.to_string());
            continue;
        }
        if !matches!(
            k,
            "-d" | "--driver" | "-o" | "--opt" | "-l" | "--label" | "--name"
        ) {
            return err(
                1,
                format!("unknown flag: {k}\nSee 'docker volume create --help'."),
            );
        }
        let v = match inline {
            Some(v) => v,
            None => {
                let Some(v) = args.get(i) else {
                    return err(1, format!("flag needs an argument: {k}"));
                };
                i += 1;
                v.to_string()
            }
        };
        match k {
            "-d" | "--driver" => driver = Some(v),
            "-o" | "--opt" => {
                let (ok, ov) = v.split_once('=').unwrap_or((v.as_str(), ""));
                options.insert(ok.to_string(), ov.to_string());
            }
            "-l" | "--label" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v.as_str(), ""));
                labels.insert(lk.to_string(), lv.to_string());
            }
            _ => names.push(v),
        }
    }
    if names.len() > 1 {
        return err(
            1,
            "\"docker volume create\" requires at most 1 argument.\nSee 'docker volume create --help'.\n\nUsage:  docker volume create [OPTIONS] [VOLUME]",
        );
    }
    let name = match names.pop() {
        Some(n) => n,
        None => engine.new_id("volume", ""),
    };
    if let Some(v) = engine.volumes.get(&name) {
        if driver.as_ref().is_some_and(|d| *d != v.driver) {
            return err(
                1,
                format!(
                    "Error response from daemon: create {name}: driver '{}' already has volume '{name}': volume name must be unique",
                    v.driver
                ),
            );
        }
        // Docker returns the existing volume; new options are not applied.
        return out(format!("{name}\n"), true);
    }
    engine.volumes.insert(
        name.clone(),
        Volume {
            driver: driver.unwrap_or_else(|| "local".into()),
            options,
            labels,
        },
    );
    out(format!("{name}\n"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> (tempfile::TempDir, GuestFs) {
        let d = tempfile::tempdir().unwrap();
        let g = GuestFs {
            root: d.path().join("root"),
            mounts: Vec::new(),
        };
        std::fs::create_dir_all(&g.root).unwrap();
        (d, g)
    }

    fn dk(g: &GuestFs, args: &[&str]) -> Exec {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        docker(g, &a).expect("modelled")
    }

    #[test]
    fn templates_render_like_go() {
        let v = json!({"State": {"Running": true, "Status": "running"}, "Id": "abc", "L": {"a": "1"}, "N": null});
        assert_eq!(render("{{.State.Running}}", &v).unwrap(), "true");
        assert_eq!(
            render("{{ .Id }} is {{.State.Status}}", &v).unwrap(),
            "abc is running"
        );
        assert_eq!(render("{{json .L}}", &v).unwrap(), "{\"a\":\"1\"}");
        assert_eq!(render("{{.L}}", &v).unwrap(), "map[a:1]");
        assert_eq!(render("{{.N}}", &v).unwrap(), "<nil>");
        assert_eq!(
            render("{{.State.Foo}}", &v).unwrap_err(),
            "template: :1:3: executing \"\" at <.State.Foo>: map has no entry for key \"Foo\""
        );
    }

    #[test]
    fn run_options_and_names() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let s = parse_run(&v(&[
            "-d",
            "--name",
            "web",
            "-p",
            "80:80",
            "-v",
            "data:/data",
            "-e",
            "A=1",
            "--restart=unless-stopped",
            "--network",
            "host",
            "-it",
            "nginx:1.27",
            "nginx",
            "-g",
            "daemon off;",
        ]))
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("web"));
        assert_eq!(s.image, "nginx:1.27");
        assert_eq!(s.cmd, ["nginx", "-g", "daemon off;"]);
        assert!(s.detach && !s.rm);
        assert_eq!(s.restart.as_deref(), Some("unless-stopped"));
        assert_eq!(named_volumes(&s), ["data"]);
        assert_eq!(
            parse_run(&v(&["-X", "img"])).unwrap_err(),
            "unknown shorthand flag: 'X' in -X"
        );
        assert!(parse_run(&v(&["-d"])).is_err());
        assert!(valid_container_name("portainer") && !valid_container_name("-x"));
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("_x"), "x");
        assert_eq!(
            top_level_name("# c\nname: \"stack\"\nservices:\n  name: no\n"),
            Some("stack".into())
        );
    }

    #[test]
    fn containers_live_in_the_guest_tree() {
        let (_d, g) = fs();
        let r = dk(&g, &["run", "-d", "--name", "web", "nginx"]);
        assert_eq!((r.code, r.stdout.len(), r.mutates), (0, 65, true));
        let again = dk(&g, &["run", "-d", "--name", "web", "nginx"]);
        assert_eq!(again.code, 125);
        let r = dk(&g, &["inspect", "-f", "{{.State.Running}}", "web"]);
        assert_eq!((r.code, r.stdout.as_str(), r.mutates), (0, "true\n", false));
        dk(&g, &["stop", "web"]);
        let r = dk(&g, &["inspect", "--format={{.State.Running}}", "web"]);
        assert_eq!(r.stdout, "false\n");
        let r = dk(&g, &["rm", "web"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "web\n"));
        let r = dk(&g, &["inspect", "web"]);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (1, "[]\n", "Error: No such object: web\n")
        );
        assert!(g.host_path(STATE).is_file());
        let a: Vec<String> = vec!["ps".into(), "-a".into()];
        assert!(docker(&g, &a).is_none(), "not modelled");
    }
}
