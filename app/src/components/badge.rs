//! Account status badges: the seed's five statuses, each with a short human reason.

use leptos::prelude::*;

/// (label, reason, classes) for a `whatsapp_sessions.status` value.
pub fn status_info(status: &str) -> (&'static str, &'static str, &'static str) {
    match status {
        "active" => (
            "Active",
            "Connected and receiving messages",
            "text-accent border-accent/40",
        ),
        "connecting" => (
            "Connecting",
            "Waiting for WhatsApp to accept the link",
            "text-warning border-warning/40",
        ),
        "expired" => (
            "Expired",
            "The link expired — link the phone again",
            "text-muted border-line",
        ),
        "error" => (
            "Error",
            "Connection failed — see the account for details",
            "text-danger border-danger/40",
        ),
        _ => (
            "Inactive",
            "Not connected — open WhatsApp on the phone",
            "text-muted border-line",
        ),
    }
}

#[component]
pub fn StatusBadge(status: String) -> impl IntoView {
    let (label, reason, tone) = status_info(&status);
    view! {
        <span
            class=format!("inline-flex items-center gap-1.5 rounded-full border px-2 py-0.5 text-xs {tone}")
            title=reason
            data-status=status
        >
            <span class="h-1.5 w-1.5 rounded-full bg-current" aria-hidden="true"></span>
            {label}
        </span>
    }
}
