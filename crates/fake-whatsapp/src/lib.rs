//! Offline WhatsApp server (issue 4). Placeholder while the first slice is written.
