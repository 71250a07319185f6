//! What this process's WhatsApp accounts report to operators: a log span per account task (so
//! every line the engine logs names its account) and counters through the `metrics` facade, which
//! cost nothing until the server installs its Prometheus recorder.
//!
//! The counters are taken where a commit of *this process* has just succeeded (the PostgreSQL
//! adapter) and where an account's state is written, not from the event hub: hub events may one
//! day be relayed from other instances, and counting those here would count them twice.

use std::future::Future;

use tracing::Instrument as _;
use uuid::Uuid;
use whatsapp::store::{AccountState, Commit, MessageStatus, Status};

/// Gauge: account tasks running in this process.
pub const ACCOUNTS_HELD: &str = "rarity_whatsapp_accounts_held";
/// Counter with label `direction`: `in` = messages from contacts stored, `out` = messages this
/// process sent that WhatsApp acknowledged.
pub const MESSAGES: &str = "rarity_whatsapp_messages_total";
/// Counter: incoming messages that could not be decrypted (stored as placeholders, retry asked).
pub const DECRYPT_FAILURES: &str = "rarity_whatsapp_decrypt_failures_total";
/// Counter: outgoing messages that ended `failed`.
pub const SEND_FAILURES: &str = "rarity_whatsapp_send_failures_total";
/// Counter: connections lost and scheduled to reconnect (after backoff).
pub const RECONNECTS: &str = "rarity_whatsapp_reconnects_total";

/// Runs an account's task inside an `account` span and counts it as held while it runs (the
/// count drops when the task ends, panics included: the guard is dropped while unwinding).
pub(crate) fn account_task<F: Future>(
    account_id: Uuid,
    user_id: Uuid,
    task: F,
) -> impl Future<Output = F::Output> {
    let span = tracing::info_span!("account", account_id = %account_id, user_id = %user_id);
    async move {
        let _held = Held::new();
        task.await
    }
    .instrument(span)
}

struct Held;

impl Held {
    fn new() -> Self {
        metrics::gauge!(ACCOUNTS_HELD).increment(1.0);
        Held
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!(ACCOUNTS_HELD).decrement(1.0);
    }
}

/// After a successful commit: messages stored and statuses applied.
pub(crate) fn committed(commit: &Commit, report: &store::CommitReport) {
    for (message_id, outcome) in &report.inbound {
        if !matches!(outcome, store::InboundOutcome::Inserted { .. }) {
            continue;
        }
        let Some(message) = commit.inbound.iter().find(|m| &m.message_id == message_id) else {
            continue;
        };
        if message.undecryptable {
            metrics::counter!(DECRYPT_FAILURES).increment(1);
        } else if !message.from_me {
            metrics::counter!(MESSAGES, "direction" => "in").increment(1);
        }
    }
    for (message_id, _, status) in &report.statuses {
        let outgoing = commit
            .statuses
            .iter()
            .any(|s| &s.message_id == message_id && s.status == MessageStatus::Sent);
        match status {
            store::MessageStatus::Sent if outgoing => {
                metrics::counter!(MESSAGES, "direction" => "out").increment(1);
            }
            store::MessageStatus::Failed => metrics::counter!(SEND_FAILURES).increment(1),
            _ => {}
        }
    }
}

/// When an account's state is written: a lost connection that will be retried.
pub(crate) fn state_written(state: &AccountState) {
    let retrying = matches!(state.status, Status::Connecting | Status::Error)
        && matches!(
            state.reason,
            "reconnecting" | "unreachable" | "untrusted_server"
        );
    if retrying {
        metrics::counter!(RECONNECTS).increment(1);
    }
}
