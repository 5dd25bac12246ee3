//! Command-line pieces shared by every binary.

pub mod guest;

use std::path::PathBuf;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser};

use crate::config::{self, ConfigLocation, LoadOptions, Loaded};
use crate::exit::Exit;
use phoenix_paths::Layout;

/// Flags every binary accepts, flattened into each one's clap definition.
#[derive(Args, Clone, Debug, Default)]
pub struct GlobalOpts {
    /// Configuration directory (or host config file) [default: $PHOENIX_CONFIG_DIR, then $PHOENIX_ROOT/etc]
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,

    /// Print what would change; run no mutating command and write no file
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// More output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less output (-q warnings only, -qq errors only)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub quiet: u8,

    /// Write the log here instead of /var/log/phoenix_hypervisor/phoenix_hypervisor.log
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Act on configuration files recognised as legacy (v1 era) shapes
    #[arg(long, global = true)]
    pub allow_legacy: bool,
}

impl GlobalOpts {
    /// `-v` count minus `-q` count.
    pub fn verbosity(&self) -> i8 {
        i8::try_from(i16::from(self.verbose) - i16::from(self.quiet)).unwrap_or(0)
    }

    /// The configuration location these flags and the environment select.
    pub fn location(&self, layout: &Layout) -> ConfigLocation {
        ConfigLocation::resolve(
            self.config.as_deref(),
            std::env::var_os(phoenix_paths::ENV_CONFIG_DIR),
            layout,
        )
    }

    /// Sets up logging for `program`.
    pub fn init_logging(&self, program: &'static str, layout: &Layout) {
        crate::log::init(
            &crate::log::LogOptions {
                program,
                verbosity: self.verbosity(),
                file: self.log_file.clone(),
                no_file: false,
            },
            layout,
        );
    }
}

/// Loads and checks the configuration and prints the findings to stderr (notes only with
/// `-v`, warnings unless `-q`). Returns the config and the report, or the exit status to stop
/// with: 2 on errors (nothing having run), which include a legacy-era file unless
/// `--allow-legacy` is given.
pub fn load_config(
    opts: &GlobalOpts,
    layout: &Layout,
) -> Result<(config::Config, config::Report), Exit> {
    let location = opts.location(layout);
    let load_opts = LoadOptions {
        allow_legacy: opts.allow_legacy,
        ..LoadOptions::for_layout(layout)
    };
    let Loaded { config, report, .. } = config::load(&location, &load_opts);
    for d in report.all() {
        let shown = match d.severity {
            config::Severity::Error => true,
            config::Severity::Warning => opts.verbosity() >= 0,
            config::Severity::Note => opts.verbosity() > 0,
        };
        if shown {
            eprintln!("{d}");
        }
    }
    let Some(cfg) = config else {
        eprintln!(
            "error: the configuration in {} has {} error(s); nothing was run",
            location.dir.display(),
            report.count(config::Severity::Error)
        );
        return Err(Exit::Invalid);
    };
    Ok((cfg, report))
}

/// The `--config` argument that makes a child resolve the same location.
pub fn config_arg(loc: &ConfigLocation) -> PathBuf {
    if loc.host_file == loc.dir.join(phoenix_paths::config_files::HYPERVISOR) {
        loc.dir.clone()
    } else {
        loc.host_file.clone()
    }
}

/// Reports a verb whose implementation has not landed yet, and fails: a manager never
/// pretends success.
pub fn not_available(program: &str, verb: &str, arrives_with: &str) -> Exit {
    eprintln!(
        "error: {program} {verb}: not available yet in this build (arrives with {arrives_with}); nothing was changed"
    );
    Exit::Failure
}

/// Parses a guest ID argument and checks that the configuration defines it as `kind`.
/// Prints the reason and returns exit status 2 otherwise.
pub fn guest_arg(
    cfg: &config::Config,
    raw: &str,
    kind: crate::ids::GuestKind,
) -> Result<crate::ids::GuestId, Exit> {
    let id: crate::ids::GuestId = raw.parse().map_err(|e| {
        eprintln!("error: {e}");
        Exit::Invalid
    })?;
    match cfg.guest(id) {
        Some(g) if g.kind() == kind => Ok(id),
        Some(g) => {
            let noun = |k: crate::ids::GuestKind| {
                if k == crate::ids::GuestKind::Vm {
                    "VM"
                } else {
                    "container"
                }
            };
            eprintln!(
                "error: guest {id} is a {}, not a {}\n\nhint: use {}, or `phoenix <verb> {id}`",
                noun(g.kind()),
                noun(kind),
                g.kind().manager()
            );
            Err(Exit::Invalid)
        }
        None => {
            let file = match kind {
                crate::ids::GuestKind::Lxc => &cfg.files.lxc,
                crate::ids::GuestKind::Vm => &cfg.files.vm,
            };
            eprintln!("error: guest {id} is not defined in {}", file.display());
            Err(Exit::Invalid)
        }
    }
}

/// The hidden first argument that makes a binary print its man page or a shell completion
/// script (`cargo xtask install` uses it): `<binary> __generate man|bash|zsh|fish`.
pub const GENERATE: &str = "__generate";

/// Parses argv with clap; on `--help`/`--version` or a usage error prints clap's output and
/// returns the status to exit with (0, or 2 for usage errors). `__generate WHAT` prints
/// the man page or a completion script instead.
pub fn parse<T: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<T, ExitCode> {
    let args = generated(args, T::command)?;
    T::try_parse_from(args).map_err(|e| clap_exit(&e))
}

/// The arguments, unless they ask for `__generate WHAT`: then the man page or completion
/// script of `cmd()` is printed and the status to exit with returned.
pub fn generated(
    args: impl IntoIterator<Item = OsString>,
    cmd: impl FnOnce() -> clap::Command,
) -> Result<Vec<OsString>, ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == GENERATE) {
        let what = args.get(2).and_then(|a| a.to_str()).unwrap_or_default();
        return Err(generate(cmd(), what, &mut std::io::stdout()));
    }
    Ok(args)
}

/// Writes `cmd`'s man page (`man`) or completion script (`bash`, `zsh`, `fish`) to `out`.
pub fn generate(mut cmd: clap::Command, what: &str, out: &mut dyn std::io::Write) -> ExitCode {
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    let shell = match what {
        "man" => {
            return match clap_mangen::Man::new(cmd).render(out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the man page: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            eprintln!("error: {GENERATE} {other:?}: expected man, bash, zsh or fish");
            return ExitCode::from(2);
        }
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    ExitCode::SUCCESS
}

/// Prints a clap error (or help) and returns its exit status.
pub fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
