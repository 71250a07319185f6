//! Why a connection ended, read from what the server said last (`<stream:error>`, `<failure>`)
//! or from the socket, and what the account does about it.
//!
//! Facts (whatsmeow's and Baileys' handlers, PROTOCOL_NOTES.md): 515 = restart now (after
//! pairing, or a server move); 401 / `<conflict type="device_removed">` = this device was logged
//! out; `<conflict type="replaced">` (440) = another connection took over; `<failure
//! reason="401|403|405">` at login = removed, banned, client too old; 5xx = server trouble.

use whatsapp_binary::Node;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// 515: reconnect at once.
    Restart,
    /// The phone (or the user) unlinked this device: credentials are void.
    LoggedOut,
    /// Another connection for this device took over (440). Do not fight it.
    Replaced,
    /// The account is banned (403).
    Banned,
    /// WhatsApp refuses this client version (405).
    ClientOutdated,
    /// A server error (5xx, or another code): reconnect with backoff.
    ServerError(u16),
    /// The socket closed, went silent, or sent garbage: reconnect with backoff.
    Lost(String),
    /// Our own storage failed: reconnect with backoff so the server delivers again what we
    /// could not store.
    StoreUnavailable,
    /// The server's certificate chain does not lead to the configured root key: it is not
    /// WhatsApp (or `WHATSAPP_ROOT_PUBLIC_KEY` is wrong). Nothing was sent to it; retried with
    /// backoff (a captive portal goes away), and reported as an error meanwhile.
    UntrustedServer(String),
    /// We closed it on purpose (shutdown, logout, account deleted).
    Closed,
}

impl Disconnect {
    /// Whether the account should connect again by itself.
    pub fn reconnects(&self) -> bool {
        matches!(
            self,
            Self::Restart
                | Self::ServerError(_)
                | Self::Lost(_)
                | Self::StoreUnavailable
                | Self::UntrustedServer(_)
        )
    }

    /// Reads `<stream:error>`.
    pub fn from_stream_error(node: &Node) -> Self {
        let conflict = node
            .child_by_tag("conflict")
            .and_then(|c| c.attr_str("type"));
        let code = node.attr_str("code").and_then(|c| c.parse::<u16>().ok());
        match (code, conflict) {
            (_, Some("replaced")) => Self::Replaced,
            (_, Some("device_removed")) | (Some(401), _) => Self::LoggedOut,
            (Some(515), _) => Self::Restart,
            (Some(403), _) => Self::Banned,
            (Some(405), _) => Self::ClientOutdated,
            (Some(code), _) => Self::ServerError(code),
            (None, _) => Self::ServerError(0),
        }
    }

    /// Reads `<failure reason=…>` (an answer to a login).
    pub fn from_failure(node: &Node) -> Self {
        match node.attr_str("reason").and_then(|r| r.parse::<u16>().ok()) {
            Some(401) => Self::LoggedOut,
            Some(403) => Self::Banned,
            Some(405) => Self::ClientOutdated,
            Some(code) => Self::ServerError(code),
            None => Self::ServerError(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_map_to_causes() {
        let se = |n: Node| Disconnect::from_stream_error(&n);
        assert_eq!(
            se(Node::new("stream:error").attr("code", "515")),
            Disconnect::Restart
        );
        assert_eq!(
            se(Node::new("stream:error")
                .attr("code", "401")
                .child(Node::new("conflict").attr("type", "device_removed"))),
            Disconnect::LoggedOut
        );
        assert_eq!(
            se(Node::new("stream:error").child(Node::new("conflict").attr("type", "replaced"))),
            Disconnect::Replaced
        );
        assert_eq!(
            se(Node::new("stream:error").attr("code", "503")),
            Disconnect::ServerError(503)
        );
        assert!(Disconnect::ServerError(503).reconnects());
        assert!(!Disconnect::Replaced.reconnects());
        assert!(!Disconnect::LoggedOut.reconnects());
        let f = |r: &str| Disconnect::from_failure(&Node::new("failure").attr("reason", r));
        assert_eq!(f("401"), Disconnect::LoggedOut);
        assert_eq!(f("403"), Disconnect::Banned);
        assert_eq!(f("405"), Disconnect::ClientOutdated);
        assert_eq!(f("500"), Disconnect::ServerError(500));
    }
}
