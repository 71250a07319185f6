//! The table the benchmark prints: ours, Baileys, the ratio, the target, and whether it was met —
//! all from the measurements, with every size or rate that could not be measured said so.

use crate::fleet::Drained;
use crate::phases::{MemSample, Memory, Rate};

/// Ours must use at most 1/MEMORY_TARGET of Baileys' memory per account…
pub const MEMORY_TARGET: f64 = 20.0;
/// …and store at least RATE_TARGET times its inbound rate.
pub const RATE_TARGET: f64 = 10.0;

/// What was measured (`None`: that part was skipped).
#[derive(Default)]
pub struct Results {
    pub ours_memory: Option<Memory>,
    pub baileys_memory: Option<Memory>,
    pub ours_pg: Option<Rate>,
    pub ours_mem: Option<Rate>,
    pub baileys_rate: Option<Rate>,
}

fn size(kib: f64) -> String {
    if kib.abs() >= 1024.0 {
        format!("{:.2} MiB", kib / 1024.0)
    } else {
        format!("{kib:.1} KiB")
    }
}

fn rate_text(rate: &Rate) -> String {
    match &rate.result {
        Ok(Drained::Done { .. }) => format!("{:.0} msg/s", rate.per_sec().unwrap_or(0.0)),
        Ok(Drained::Unfinished { stored, secs }) => format!(
            "< {:.0} msg/s (only {stored}/{} in {secs:.0} s)",
            *stored as f64 / secs,
            rate.messages
        ),
        Err(e) => format!("failed: {e}"),
    }
}

struct Row {
    what: String,
    ours: String,
    baileys: String,
    ratio: String,
    target: String,
    met: String,
}

fn memory_rows(r: &Results, rows: &mut Vec<Row>, verdicts: &mut Vec<String>) {
    let Some(ours) = &r.ours_memory else {
        return;
    };
    let theirs = r.baileys_memory.as_ref();
    rows.push(memory_row(
        format!(
            "RSS per idle account beyond the first ({} added to a process with one)",
            ours.beyond.accounts
        ),
        &ours.beyond.result,
        theirs.map(|m| Some(m.beyond.result.clone())),
        verdicts,
    ));
    for (i, point) in ours.points.iter().enumerate() {
        let other = theirs.map(|m| m.points.get(i).map(|p| p.result.clone()));
        let what = format!("RSS per idle linked account, N={}", point.accounts);
        rows.push(memory_row(what, &point.result, other, verdicts));
    }
    if let Some(point) = &ours.restart {
        let other = theirs.map(|m| m.restart.as_ref().map(|p| p.result.clone()));
        let what = format!(
            "RSS per idle account, N={}, after a restart",
            point.accounts
        );
        rows.push(memory_row(what, &point.result, other, verdicts));
    }
}

/// `theirs`: `None` = Baileys skipped, `Some(None)` = Baileys has no such point.
fn memory_row(
    what: String,
    ours: &Result<MemSample, String>,
    theirs: Option<Option<Result<MemSample, String>>>,
    verdicts: &mut Vec<String>,
) -> Row {
    let ours_text = match ours {
        Ok(s) => size(s.kib_per_account),
        Err(e) => format!("failed: {e}"),
    };
    let baileys_text = match &theirs {
        Some(Some(Ok(s))) => size(s.kib_per_account),
        Some(Some(Err(e))) => format!("did not complete: {e}"),
        Some(None) => "not measured".to_owned(),
        None => "skipped".to_owned(),
    };
    let (ratio, met) = match (ours, &theirs) {
        (Ok(o), Some(Some(Ok(b)))) if b.kib_per_account > 0.0 => {
            let met = o.kib_per_account * MEMORY_TARGET <= b.kib_per_account;
            let ratio = if o.kib_per_account > 0.0 {
                // One decimal near the target, so "1/20" never hides a 1/19.8 that missed it.
                let x = b.kib_per_account / o.kib_per_account;
                if x < 100.0 {
                    format!("1/{x:.1}")
                } else {
                    format!("1/{x:.0}")
                }
            } else {
                "≈ 0 (ours below noise)".to_owned()
            };
            if !met {
                verdicts.push(format!(
                    "NOT MET: {what}: ours is {ratio} of Baileys' (target ≤ 1/{MEMORY_TARGET:.0})."
                ));
            }
            (ratio, if met { "yes" } else { "NO" })
        }
        _ => {
            verdicts.push(format!(
                "UNKNOWN: {what} could not be compared (one side has no figure)."
            ));
            ("n/a".to_owned(), "unknown")
        }
    };
    Row {
        what,
        ours: ours_text,
        baileys: baileys_text,
        ratio,
        target: format!("≤ 1/{MEMORY_TARGET:.0}"),
        met: met.to_owned(),
    }
}

fn rate_row(
    what: &str,
    ours: &Rate,
    baileys: Option<&Rate>,
    target: bool,
    verdicts: &mut Vec<String>,
) -> Row {
    let (ratio, met) = match (ours.per_sec(), baileys.and_then(Rate::per_sec)) {
        (Some(o), Some(b)) if b > 0.0 => {
            let x = o / b;
            let met = x >= RATE_TARGET;
            if target && !met {
                verdicts.push(format!(
                    "NOT MET: {what}: ours is {x:.1}× Baileys' (target ≥ {RATE_TARGET:.0}×)."
                ));
            }
            (format!("{x:.1}×"), if met { "yes" } else { "NO" })
        }
        // Baileys did not finish within the time limit: its real rate is lower than the bound.
        (Some(o), _)
            if baileys.is_some_and(|b| matches!(b.result, Ok(Drained::Unfinished { .. }))) =>
        {
            let b = baileys.map_or(0.0, |b| match b.result {
                Ok(Drained::Unfinished { stored, secs }) => stored as f64 / secs,
                _ => 0.0,
            });
            let x = if b > 0.0 { o / b } else { f64::INFINITY };
            (
                format!("> {x:.1}×"),
                if x >= RATE_TARGET { "yes" } else { "unknown" },
            )
        }
        _ => {
            if target {
                verdicts.push(format!(
                    "UNKNOWN: {what} could not be compared (one side has no figure)."
                ));
            }
            ("n/a".to_owned(), "unknown")
        }
    };
    Row {
        what: what.to_owned(),
        ours: rate_text(ours),
        baileys: baileys.map_or_else(|| "skipped".to_owned(), rate_text),
        ratio,
        target: if target {
            format!("≥ {RATE_TARGET:.0}×")
        } else {
            "(for comparison)".to_owned()
        },
        met: if target { met } else { "-" }.to_owned(),
    }
}

/// The table, then the details and a verdict per target.
pub fn render(r: &Results) -> String {
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    memory_rows(r, &mut rows, &mut verdicts);
    let baileys = r.baileys_rate.as_ref();
    if let Some(ours) = &r.ours_pg {
        rows.push(rate_row(
            "inbound texts stored/s, PostgreSQL store",
            ours,
            baileys,
            true,
            &mut verdicts,
        ));
    }
    if let Some(ours) = &r.ours_mem {
        rows.push(rate_row(
            "inbound texts stored/s, MemoryStore",
            ours,
            baileys,
            false,
            &mut verdicts,
        ));
    }
    let header = Row {
        what: "measure".into(),
        ours: "ours".into(),
        baileys: "Baileys 7.0.0-rc14".into(),
        ratio: "ours vs Baileys".into(),
        target: "target".into(),
        met: "met".into(),
    };
    let cols = |r: &Row| {
        [
            r.what.clone(),
            r.ours.clone(),
            r.baileys.clone(),
            r.ratio.clone(),
            r.target.clone(),
            r.met.clone(),
        ]
    };
    let all: Vec<[String; 6]> = std::iter::once(&header).chain(&rows).map(cols).collect();
    let widths: Vec<usize> = (0..6)
        .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |r: &[String; 6]| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}", w = *w))
            .collect();
        format!("| {} |", cells.join(" | "))
    };
    let mut out = String::new();
    out.push_str(&line(&all[0]));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for r in &all[1..] {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&details(r));
    if verdicts.is_empty() {
        out.push_str("All targets met.\n");
    } else {
        for v in verdicts {
            out.push_str(&v);
            out.push('\n');
        }
    }
    out
}

fn memory_details(name: &str, m: &Memory) -> String {
    let mut s = format!(
        "- {name}, memory: {} process(es), baseline {} in all\n",
        m.procs,
        size(m.baseline_kib as f64)
    );
    let restart = m.restart.iter().map(|p| (p, true));
    for (p, restarted) in m.points.iter().map(|p| (p, false)).chain(restart) {
        let Ok(x) = &p.result else { continue };
        s.push_str(&format!(
            "  - N={}{}: RSS +{} (file-backed {}){}; {} in {:.0} s{}\n",
            p.accounts,
            if restarted { " after a restart" } else { "" },
            size(x.growth_kib as f64),
            size(x.file_kib as f64),
            x.heap_kib.map_or_else(String::new, |h| format!(
                "; V8 heap in use {}",
                size(h as f64)
            )),
            if restarted {
                "logged in again"
            } else {
                "linked"
            },
            x.link_secs,
            if x.busy > 0 {
                format!(" ({} not idle when sampled)", x.busy)
            } else {
                String::new()
            }
        ));
    }
    s
}

fn rate_details(name: &str, r: &Rate) -> String {
    let timing = match r.result {
        Ok(Drained::Done {
            secs,
            from_login_secs,
        }) => format!("drained in {secs:.2} s ({from_login_secs:.2} s after the first login)"),
        Ok(Drained::Unfinished { stored, secs }) => {
            format!("unfinished: {stored} stored in {secs:.0} s")
        }
        Err(_) => "failed".to_owned(),
    };
    format!(
        "- {name}: {} texts over {} accounts in {} process(es); queued by the fake at {:.0}/s; {timing}; cores used meanwhile: client {:.2}, fake {:.2}, postgres {:.2}\n",
        r.messages,
        r.accounts,
        r.procs,
        r.messages as f64 / r.queue_secs.max(1e-9),
        r.client_cores,
        r.fake_cores,
        r.postgres_cores
    )
}

fn details(r: &Results) -> String {
    let mut s = String::new();
    if let Some(m) = &r.ours_memory {
        s.push_str(&memory_details("ours", m));
    }
    if let Some(m) = &r.baileys_memory {
        s.push_str(&memory_details("Baileys", m));
    }
    if let Some(o) = &r.ours_pg {
        s.push_str(&rate_details("ours, PostgreSQL store", o));
    }
    if let Some(o) = &r.ours_mem {
        s.push_str(&rate_details("ours, MemoryStore", o));
    }
    if let Some(b) = &r.baileys_rate {
        s.push_str(&rate_details("Baileys, useMultiFileAuthState", b));
    }
    s.push('\n');
    s
}
