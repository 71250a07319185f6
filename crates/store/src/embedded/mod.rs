//! A private PostgreSQL cluster for running without `DATABASE_URL`.
//!
//! `EmbeddedPostgres::start(dir)` initialises a cluster in `dir/pgdata` once (superuser `rarity`,
//! trust auth), starts it listening only on a Unix socket in `dir/run` (no TCP port, so trust auth is
//! safe and nothing collides with another PostgreSQL), and hands back its URL. Stop it with
//! [`EmbeddedPostgres::stop`]; `Drop` stops it best-effort as a fallback. A server left behind by a
//! crash (or its stale `postmaster.pid`) is dealt with on the next start.

mod command;
mod locate;

use command::Runner;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The superuser of the private cluster (owns the schema; the app still runs as `rarity_app`).
pub const SUPERUSER: &str = "rarity";

/// Unix socket paths are limited to 107 bytes; `/.s.PGSQL.5432` takes 15 of them.
const MAX_SOCKET_DIR: usize = 107 - 15;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql` or set DATABASE_URL"
    )]
    BinariesNotFound,
    #[error(
        "running as root, but the `postgres` system user to run the database as is missing (install the postgresql package)"
    )]
    NoSystemUser,
    #[error(
        "the `postgres` system user cannot reach {0}; make its parent directories traversable (chmod o+x) or choose another data directory"
    )]
    Unreachable(PathBuf),
    #[error(
        "the database directory path {0} is too long for a Unix socket; choose a shorter data directory"
    )]
    PathTooLong(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{tool} failed: {output}")]
    Tool { tool: String, output: String },
}

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    pgdata: PathBuf,
    url: String,
    runner: Runner,
    running: bool,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedError {
    let what = what.into();
    move |source| EmbeddedError::Io { what, source }
}

impl EmbeddedPostgres {
    /// Creates (first time) and starts the cluster in `dir`, which it uses exclusively.
    pub async fn start(dir: impl AsRef<Path>) -> Result<EmbeddedPostgres, EmbeddedError> {
        let bin_dir = locate::bin_dir()?;
        tokio::fs::create_dir_all(dir.as_ref())
            .await
            .map_err(io(format!("creating {}", dir.as_ref().display())))?;
        let dir = tokio::fs::canonicalize(dir.as_ref())
            .await
            .map_err(io(format!("resolving {}", dir.as_ref().display())))?;
        let pgdata = dir.join("pgdata");
        let socket_dir = dir.join("run");
        if socket_dir.as_os_str().len() > MAX_SOCKET_DIR {
            return Err(EmbeddedError::PathTooLong(socket_dir));
        }
        tokio::fs::create_dir_all(&socket_dir)
            .await
            .map_err(io(format!("creating {}", socket_dir.display())))?;

        let runner = Runner::new(bin_dir, dir.clone());
        // The cluster trusts whoever reaches its socket, so only the server's own user may: the
        // directory (data, socket, log) and the socket directory are 0700, and the socket itself
        // 0700 too (`unix_socket_permissions`). When we are root, that user is `postgres` and root
        // reaches the socket anyway.
        private(&dir).await?;
        private(&socket_dir).await?;
        runner.hand_over(&dir).await?;

        if !pgdata.join("PG_VERSION").is_file() {
            initdb(&runner, &pgdata).await?;
        }
        write_settings(&pgdata, &socket_dir).await?;
        runner.hand_over(&dir).await?;
        clear_leftover(&runner, &pgdata).await?;

        let log = dir.join("postgres.log");
        runner
            .run(
                "pg_ctl",
                &[
                    OsStr::new("start"),
                    OsStr::new("-w"),
                    OsStr::new("-t"),
                    OsStr::new("60"),
                    OsStr::new("-D"),
                    pgdata.as_os_str(),
                    OsStr::new("-l"),
                    log.as_os_str(),
                ],
            )
            .await
            .map_err(|err| with_log(err, &log))?;
        tracing::info!(dir = %dir.display(), "embedded PostgreSQL started");

        Ok(EmbeddedPostgres {
            url: database_url(&socket_dir),
            pgdata,
            runner,
            running: true,
        })
    }

    /// Owner URL of the cluster (`postgres` database, superuser `rarity`, over the Unix socket).
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// Whether the cluster runs as the `postgres` system user (we are root).
    pub fn runs_as_system_user(&self) -> bool {
        self.runner.as_system_user()
    }

    /// Fast shutdown (disconnects clients, then a clean checkpoint), waiting until it is down.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        let args = stop_args(&self.pgdata);
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        self.runner.run("pg_ctl", &args).await?;
        self.running = false;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.running {
            let args = stop_args(&self.pgdata);
            let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            if !self.runner.run_blocking("pg_ctl", &args) {
                tracing::warn!("could not stop the embedded PostgreSQL on drop");
            }
        }
    }
}

fn stop_args(pgdata: &Path) -> Vec<std::ffi::OsString> {
    ["stop", "-w", "-t", "60", "-m", "fast", "-D"]
        .into_iter()
        .map(Into::into)
        .chain([pgdata.as_os_str().to_owned()])
        .collect()
}

async fn initdb(runner: &Runner, pgdata: &Path) -> Result<(), EmbeddedError> {
    runner
        .run(
            "initdb",
            &[
                OsStr::new("-D"),
                pgdata.as_os_str(),
                OsStr::new("-U"),
                OsStr::new(SUPERUSER),
                OsStr::new("-A"),
                OsStr::new("trust"),
                OsStr::new("-E"),
                OsStr::new("UTF8"),
                OsStr::new("--locale=C"),
            ],
        )
        .await?;
    // Our settings live in their own file, rewritten on every start (the directory may have moved).
    let conf = pgdata.join("postgresql.conf");
    let mut text = tokio::fs::read_to_string(&conf)
        .await
        .map_err(io("reading postgresql.conf"))?;
    text.push_str("\ninclude_if_exists = 'rarity.conf'\n");
    tokio::fs::write(&conf, text)
        .await
        .map_err(io("writing postgresql.conf"))
}

/// Mode 0700 on a directory of ours.
async fn private(dir: &Path) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::PermissionsExt as _;
    tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .await
        .map_err(io(format!("making {} private", dir.display())))
}

/// Socket only, in our own directory.
async fn write_settings(pgdata: &Path, socket_dir: &Path) -> Result<(), EmbeddedError> {
    let quoted = socket_dir.to_string_lossy().replace('\'', "''");
    let text = format!(
        "# Written by rarity on every start.\nlisten_addresses = ''\nunix_socket_directories = '{quoted}'\n\
         unix_socket_permissions = 0700\n\
         # No JIT: the service may run with MemoryDenyWriteExecute (deploy/rarity-leads.service).\n\
         jit = off\n"
    );
    tokio::fs::write(pgdata.join("rarity.conf"), text)
        .await
        .map_err(io("writing rarity.conf"))
}

/// After a crash: if our postmaster is still running, stop it; if only its pid file is left (the
/// pid may since belong to an unrelated process, which would block start-up), remove it.
async fn clear_leftover(runner: &Runner, pgdata: &Path) -> Result<(), EmbeddedError> {
    let pid_file = pgdata.join("postmaster.pid");
    let Ok(content) = tokio::fs::read_to_string(&pid_file).await else {
        return Ok(());
    };
    let pid = content
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok());
    let ours = match pid {
        Some(pid) => is_our_postmaster(pid, pgdata).await,
        None => false,
    };
    if ours {
        tracing::warn!(
            pid,
            "stopping an embedded PostgreSQL left running by an earlier process"
        );
        let args = stop_args(pgdata);
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        runner.run("pg_ctl", &args).await?;
    } else {
        tracing::warn!("removing a stale postmaster.pid left by a crash");
        tokio::fs::remove_file(&pid_file)
            .await
            .map_err(io("removing stale postmaster.pid"))?;
    }
    Ok(())
}

/// A live process whose command line is a postgres started on this data directory.
async fn is_our_postmaster(pid: u32, pgdata: &Path) -> bool {
    let Ok(cmdline) = tokio::fs::read(format!("/proc/{pid}/cmdline")).await else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_postgres = args
        .first()
        .is_some_and(|a| a.ends_with(b"/postgres") || *a == b"postgres");
    let data = pgdata.as_os_str().as_encoded_bytes();
    is_postgres && args.contains(&data)
}

fn database_url(socket_dir: &Path) -> String {
    let mut url = format!("postgres://{SUPERUSER}@localhost/postgres");
    url.push_str("?host=");
    url.push_str(&percent_encode(&socket_dir.to_string_lossy()));
    url
}

/// Query-value encoding for the socket path (keeps `/`, letters, digits and `-._~`).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Adds the tail of the server log to a failed start (pg_ctl itself only says "could not start").
fn with_log(err: EmbeddedError, log: &Path) -> EmbeddedError {
    match err {
        EmbeddedError::Tool { tool, output } => {
            let log_tail = std::fs::read_to_string(log)
                .map(|t| {
                    let lines: Vec<&str> = t.lines().collect();
                    lines[lines.len().saturating_sub(5)..].join(" | ")
                })
                .unwrap_or_default();
            EmbeddedError::Tool {
                tool,
                output: format!("{output} | log: {log_tail}"),
            }
        }
        other => other,
    }
}
