//! Running the PostgreSQL tools, as the `postgres` system user when we are root.
//!
//! `initdb` and `postgres` refuse to run as root, and sessions and CI here run as root. Then the
//! cluster directory is given to `postgres` and every tool is started through
//! `runuser -u postgres --`. A normal user runs them directly.

use super::EmbeddedError;
use std::path::{Path, PathBuf};
use std::process::Output;
use tokio::process::Command;

pub(super) const SYSTEM_USER: &str = "postgres";

#[derive(Clone, Debug)]
pub(super) struct Runner {
    bin_dir: PathBuf,
    /// Whether tools run through `runuser -u postgres`.
    as_system_user: bool,
    /// Working directory (one the tools' user can enter).
    cwd: PathBuf,
}

impl Runner {
    pub(super) fn new(bin_dir: PathBuf, cwd: PathBuf) -> Self {
        let as_system_user = nix::unistd::geteuid().is_root();
        Runner {
            bin_dir,
            as_system_user,
            cwd,
        }
    }

    pub(super) fn as_system_user(&self) -> bool {
        self.as_system_user
    }

    fn std_command(&self, tool: &str) -> std::process::Command {
        let program = self.bin_dir.join(tool);
        let mut cmd = if self.as_system_user {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", SYSTEM_USER, "--"]).arg(program);
            cmd
        } else {
            std::process::Command::new(program)
        };
        cmd.current_dir(&self.cwd);
        cmd
    }

    /// Runs a tool to completion; a non-zero exit is an error carrying its output.
    pub(super) async fn run(
        &self,
        tool: &str,
        args: &[&std::ffi::OsStr],
    ) -> Result<Output, EmbeddedError> {
        let mut cmd = Command::from(self.std_command(tool));
        cmd.args(args);
        let output = cmd.output().await.map_err(|source| EmbeddedError::Io {
            what: format!("running {tool}"),
            source,
        })?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(EmbeddedError::Tool {
                tool: tool.to_owned(),
                output: tail(&output),
            })
        }
    }

    /// Blocking variant for `Drop`, where no runtime may be available.
    pub(super) fn run_blocking(&self, tool: &str, args: &[&std::ffi::OsStr]) -> bool {
        self.std_command(tool)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Makes `dir` (recursively) belong to the `postgres` system user when we are root.
    pub(super) async fn hand_over(&self, dir: &Path) -> Result<(), EmbeddedError> {
        if !self.as_system_user {
            return Ok(());
        }
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{SYSTEM_USER}:"))
            .arg(dir)
            .status()
            .await
            .map_err(|source| EmbeddedError::Io {
                what: "running chown".to_owned(),
                source,
            })?;
        if !status.success() {
            return Err(EmbeddedError::NoSystemUser);
        }
        // The system user must also be able to walk down to the directory.
        let reachable = Command::new("runuser")
            .args(["-u", SYSTEM_USER, "--", "test", "-w"])
            .arg(dir)
            .status()
            .await
            .is_ok_and(|s| s.success());
        if reachable {
            Ok(())
        } else {
            Err(EmbeddedError::Unreachable(dir.to_path_buf()))
        }
    }
}

/// The last lines of a failed tool's output (enough to see why, short enough for one log entry).
pub(super) fn tail(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}
