//! The three hashes encryption feeds (SHA-256 of the plaintext, HMAC-SHA256 and SHA-256 of the
//! ciphertext), inline for small files and on a helper thread for large ones.
//!
//! Why a thread: AES-CBC encryption is inherently serial (each block needs the previous one), and
//! the three SHA-256 passes the format requires cost more than the AES itself. Hashing chunk `n`
//! on another core while AES works on chunk `n + 1` roughly halves the time of a large upload's
//! encryption. Memory stays bounded: at most [`IN_FLIGHT`] chunk copies wait for the helper.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub(super) type HmacSha256 = Hmac<Sha256>;

/// Plaintext after which hashing moves to a helper thread (below it a thread costs more than it
/// saves).
const PARALLEL_FROM: u64 = 1024 * 1024;
/// Chunks queued for the helper at most (each a copy of one `update`'s input or output).
const IN_FLIGHT: usize = 8;

#[derive(Clone)]
pub(super) struct Hashes {
    pub mac: HmacSha256,
    pub plain: Sha256,
    pub enc: Sha256,
}

impl Hashes {
    pub fn new(mac: HmacSha256) -> Self {
        Self {
            mac,
            plain: Sha256::new(),
            enc: Sha256::new(),
        }
    }

    fn ciphertext(&mut self, bytes: &[u8]) {
        self.mac.update(bytes);
        self.enc.update(bytes);
    }
}

pub(super) enum Job {
    Plain(Vec<u8>),
    Cipher(Vec<u8>),
}

pub(super) enum Hasher {
    Inline(Box<Hashes>, u64),
    Helper {
        jobs: SyncSender<Job>,
        done: JoinHandle<Hashes>,
    },
    /// Only while switching from one to the other.
    Moving,
}

fn work(mut hashes: Hashes, jobs: Receiver<Job>) -> Hashes {
    for job in jobs {
        match job {
            Job::Plain(bytes) => hashes.plain.update(&bytes),
            Job::Cipher(bytes) => hashes.ciphertext(&bytes),
        }
    }
    hashes
}

impl Hasher {
    pub fn new(mac: HmacSha256) -> Self {
        Self::Inline(Box::new(Hashes::new(mac)), 0)
    }

    /// Moves the hashes to a helper thread once enough plaintext went by; stays inline if no
    /// thread can be started.
    fn maybe_move(&mut self) {
        if !matches!(self, Self::Inline(_, seen) if *seen >= PARALLEL_FROM) {
            return;
        }
        let Self::Inline(hashes, seen) = std::mem::replace(self, Self::Moving) else {
            return;
        };
        let (jobs, rx) = sync_channel(IN_FLIGHT);
        let backup = hashes.clone();
        *self = match std::thread::Builder::new()
            .name("media-hash".into())
            .spawn(move || work(*hashes, rx))
        {
            Ok(done) => Self::Helper { jobs, done },
            Err(_) => Self::Inline(backup, seen),
        };
    }

    pub fn plaintext(&mut self, bytes: &[u8]) {
        if let Self::Inline(h, seen) = self {
            h.plain.update(bytes);
            *seen += bytes.len() as u64;
        } else if let Self::Helper { jobs, .. } = self {
            // The helper only ends when `jobs` is dropped (in `finish`): a send cannot fail
            // while we hold it.
            let _ = jobs.send(Job::Plain(bytes.to_vec()));
        }
        self.maybe_move();
    }

    pub fn ciphertext(&mut self, bytes: &[u8]) {
        match self {
            Self::Inline(h, _) => h.ciphertext(bytes),
            Self::Helper { jobs, .. } => {
                let _ = jobs.send(Job::Cipher(bytes.to_vec()));
            }
            Self::Moving => {}
        }
    }

    /// Everything fed so far, hashed.
    pub fn finish(self) -> Hashes {
        match self {
            Self::Inline(h, _) => *h,
            Self::Helper { jobs, done } => {
                drop(jobs);
                // The helper only hashes; a panic there is a bug in the hash crates, passed on.
                done.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            }
            Self::Moving => unreachable!("`maybe_move` always leaves Inline or Helper"),
        }
    }
}
