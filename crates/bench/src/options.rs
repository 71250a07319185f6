//! The command line.

use std::time::Duration;

use crate::Res;

pub const USAGE: &str = "\
usage: engine-bench [--accounts 1,100,500] [--messages 10000] [--throughput-accounts 10]
                    [--baileys-procs 2] [--link-batch 10] [--settle 5] [--link-timeout 180]
                    [--drain-timeout 600] [--node node] [--skip-baileys]
                    [--only memory|throughput] [--auth-dir DIR]

Runs the offline WhatsApp in this process, our engine in a child process and Baileys in
--baileys-procs node processes, and prints resident memory per idle linked account at each
--accounts size and inbound messages stored per second (a backlog of --messages texts spread
over --throughput-accounts accounts, drained on reconnect), ours vs Baileys. Needs PostgreSQL
(TEST_DATABASE_URL) and node with the workspace's node_modules. Times are in seconds.
Baileys' useMultiFileAuthState folders go under --auth-dir (default /dev/shm when it exists:
tmpfs, so Baileys is not slowed by the disk; ~800 files per account).";

#[derive(Debug, Clone)]
pub struct Options {
    /// Idle-memory checkpoints, ascending: accounts are added up to each.
    pub accounts: Vec<usize>,
    pub messages: usize,
    pub throughput_accounts: usize,
    pub baileys_procs: usize,
    /// Pairings in flight at once, per side.
    pub link_batch: usize,
    /// Quiet time between the last account going idle and the memory sample.
    pub settle: Duration,
    pub link_timeout: Duration,
    pub drain_timeout: Duration,
    pub node: String,
    pub skip_baileys: bool,
    pub memory: bool,
    pub throughput: bool,
    /// Parent of the Baileys auth folders.
    pub auth_dir: std::path::PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            accounts: vec![1, 100, 500],
            messages: 10_000,
            throughput_accounts: 10,
            baileys_procs: 2,
            link_batch: 10,
            settle: Duration::from_secs(5),
            link_timeout: Duration::from_secs(180),
            drain_timeout: Duration::from_secs(600),
            node: "node".to_owned(),
            skip_baileys: false,
            memory: true,
            throughput: true,
            auth_dir: if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm".into()
            } else {
                std::env::temp_dir()
            },
        }
    }
}

fn positive(flag: &str, value: &str) -> Res<usize> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} takes a positive number, not {value:?}").into()),
    }
}

impl Options {
    pub fn parse(args: &[String]) -> Res<Options> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--skip-baileys" {
                o.skip_baileys = true;
                continue;
            }
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let secs = |v: &str| -> Res<Duration> {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| format!("{flag} takes seconds, not {v:?}").into())
            };
            match flag.as_str() {
                "--accounts" => {
                    let mut sizes = value
                        .split(',')
                        .map(|v| positive(flag, v.trim()))
                        .collect::<Res<Vec<usize>>>()?;
                    sizes.sort_unstable();
                    sizes.dedup();
                    o.accounts = sizes;
                }
                "--messages" => o.messages = positive(flag, value)?,
                "--throughput-accounts" => o.throughput_accounts = positive(flag, value)?,
                "--baileys-procs" => o.baileys_procs = positive(flag, value)?,
                "--link-batch" => o.link_batch = positive(flag, value)?,
                "--settle" => o.settle = secs(value)?,
                "--link-timeout" => o.link_timeout = secs(value)?,
                "--drain-timeout" => o.drain_timeout = secs(value)?,
                "--node" => o.node = value.clone(),
                "--auth-dir" => o.auth_dir = value.into(),
                "--only" => match value.as_str() {
                    "memory" => o.throughput = false,
                    "throughput" => o.memory = false,
                    other => return Err(format!("--only memory|throughput, not {other:?}").into()),
                },
                other => return Err(format!("unknown flag {other}\n{USAGE}").into()),
            }
        }
        if o.accounts.iter().any(|&n| n > 9_999_999) {
            return Err("--accounts sizes must be below 10,000,000".into());
        }
        o.throughput_accounts = o.throughput_accounts.min(o.messages);
        Ok(o)
    }
}
