//! WhatsApp addresses (JIDs). Every JID in the engine is built here, through constructors
//! that reject values the text form or the wire forms could not carry back unchanged.
//!
//! Text form (whatsmeow's): `user[.agent][:device]@server`, a bare `server` when there is no
//! user, and `integrator-user:device@interop` for interop JIDs (Baileys' rendering).

use std::fmt;
use std::str::FromStr;

use crate::error::JidError;

/// The servers the protocol uses. A closed set: the decoder refuses a JID on a server it
/// does not know (as wacore does) rather than inventing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users and their devices.
    Pn,
    /// `lid`: the privacy-preserving user id every Signal session is addressed by.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: phone-number users on Meta-hosted (Cloud API) devices.
    Hosted,
    /// `hosted.lid`: LID users on hosted devices.
    HostedLid,
    /// `msgr`: Messenger users (FB_JID wire form).
    Messenger,
    /// `interop`: users of interoperating networks (INTEROP_JID wire form).
    Interop,
    /// `bot`: Meta AI and other bots.
    Bot,
    /// `c.us`: the legacy user server, still used for a few fixed ids.
    Legacy,
    /// `call`: call signalling ids.
    Call,
}

impl Server {
    pub const ALL: [Server; 12] = [
        Server::Pn,
        Server::Lid,
        Server::Group,
        Server::Broadcast,
        Server::Newsletter,
        Server::Hosted,
        Server::HostedLid,
        Server::Messenger,
        Server::Interop,
        Server::Bot,
        Server::Legacy,
        Server::Call,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Server::Pn => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Messenger => "msgr",
            Server::Interop => "interop",
            Server::Bot => "bot",
            Server::Legacy => "c.us",
            Server::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Result<Server, JidError> {
        Server::ALL
            .into_iter()
            .find(|server| server.as_str() == s)
            .ok_or_else(|| JidError::UnknownServer(s.to_owned()))
    }

    /// The AD_JID domain byte for servers whose device JIDs use that wire form.
    pub(crate) fn ad_domain(self) -> Option<u8> {
        match self {
            Server::Pn => Some(0),
            Server::Lid => Some(1),
            Server::Hosted => Some(128),
            Server::HostedLid => Some(129),
            _ => None,
        }
    }

    pub(crate) fn from_ad_domain(domain: u8) -> Option<Server> {
        match domain {
            0 => Some(Server::Pn),
            1 => Some(Server::Lid),
            128 => Some(Server::Hosted),
            129 => Some(Server::HostedLid),
            _ => None,
        }
    }

    /// LID users may contain dots, so on these servers `.` is part of the user, not an agent.
    fn is_lid_family(self) -> bool {
        matches!(self, Server::Lid | Server::HostedLid)
    }

    /// Largest device id the server's wire form can carry (AD_JID has one byte, FB_JID and
    /// INTEROP_JID two); `None` when the form (JID_PAIR) has no device at all.
    fn max_device(self) -> Option<u16> {
        match self {
            Server::Pn | Server::Lid | Server::Hosted | Server::HostedLid => Some(255),
            Server::Messenger | Server::Interop => Some(u16::MAX),
            _ => None,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WhatsApp address. Fields are private so every value went through validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    user: String,
    server: Server,
    agent: u8,
    device: u16,
    integrator: u16,
}

impl Jid {
    /// `user@server`, e.g. a phone-number user, a group or `status@broadcast`.
    pub fn new(user: impl Into<String>, server: Server) -> Result<Jid, JidError> {
        Jid::build(user.into(), server, 0, 0, 0)
    }

    /// A bare server JID such as `s.whatsapp.net` (the `to` of most IQs) or `g.us`.
    pub fn server_only(server: Server) -> Jid {
        Jid {
            user: String::new(),
            server,
            agent: 0,
            device: 0,
            integrator: 0,
        }
    }

    /// `user@s.whatsapp.net`.
    pub fn pn(user: impl Into<String>) -> Result<Jid, JidError> {
        Jid::new(user, Server::Pn)
    }

    /// `user@lid`.
    pub fn lid(user: impl Into<String>) -> Result<Jid, JidError> {
        Jid::new(user, Server::Lid)
    }

    /// `id@g.us`.
    pub fn group(id: impl Into<String>) -> Result<Jid, JidError> {
        Jid::new(id, Server::Group)
    }

    /// A device JID `user:device@server` (server must be one with device addressing).
    pub fn device(user: impl Into<String>, server: Server, device: u16) -> Result<Jid, JidError> {
        Jid::build(user.into(), server, 0, device, 0)
    }

    /// An interop JID `integrator-user:device@interop`.
    pub fn interop(user: impl Into<String>, device: u16, integrator: u16) -> Result<Jid, JidError> {
        Jid::build(user.into(), Server::Interop, 0, device, integrator)
    }

    /// The same JID with another device (0 = the user JID).
    pub fn with_device(&self, device: u16) -> Result<Jid, JidError> {
        Jid::build(
            self.user.clone(),
            self.server,
            self.agent,
            device,
            self.integrator,
        )
    }

    /// The same JID with an agent (`user.agent:device@server`, whatsmeow's text form). The
    /// agent exists only in text: no wire form carries it, so encoding one is an error.
    pub fn with_agent(&self, agent: u8) -> Result<Jid, JidError> {
        Jid::build(
            self.user.clone(),
            self.server,
            agent,
            self.device,
            self.integrator,
        )
    }

    fn build(
        user: String,
        server: Server,
        agent: u8,
        device: u16,
        integrator: u16,
    ) -> Result<Jid, JidError> {
        if user.is_empty() {
            if agent != 0 || device != 0 || integrator != 0 {
                return Err(JidError::DetailsWithoutUser);
            }
            return Ok(Jid::server_only(server));
        }
        // `@` and `:` delimit every text form; `.` would read back as an agent and `-` as an
        // interop integrator, so those are refused where they would be ambiguous.
        let reserved = |c: char| {
            c == '@'
                || c == ':'
                || (c == '.' && !server.is_lid_family())
                || (c == '-' && server == Server::Interop)
        };
        if user.contains(reserved) {
            return Err(JidError::ReservedCharacter(user));
        }
        if device != 0 && server.max_device().is_none_or(|max| device > max) {
            return Err(JidError::DeviceNotAllowed {
                device,
                server: server.as_str(),
            });
        }
        if agent != 0 && server.is_lid_family() {
            return Err(JidError::AgentNotAllowed(server.as_str()));
        }
        if integrator != 0 && server != Server::Interop {
            return Err(JidError::IntegratorNotAllowed);
        }
        Ok(Jid {
            user,
            server,
            agent,
            device,
            integrator,
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn server(&self) -> Server {
        self.server
    }
    pub fn agent(&self) -> u8 {
        self.agent
    }
    pub fn device_id(&self) -> u16 {
        self.device
    }
    pub fn integrator(&self) -> u16 {
        self.integrator
    }

    /// True for a device-specific JID (`user:device@…`, device > 0).
    pub fn is_device(&self) -> bool {
        self.device != 0
    }

    /// The user JID without agent and device (`user@server`).
    pub fn to_user(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            server: self.server,
            agent: 0,
            device: 0,
            integrator: self.integrator,
        }
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.user.is_empty() {
            return f.write_str(self.server.as_str());
        }
        if self.integrator != 0 {
            write!(f, "{}-", self.integrator)?;
        }
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, ".{}", self.agent)?;
        }
        if self.device != 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server)
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        let Some((user_part, server)) = s.rsplit_once('@') else {
            return Ok(Jid::server_only(Server::parse(s)?));
        };
        let server = Server::parse(server)?;
        let malformed = || JidError::Malformed(s.to_owned());
        let (rest, device) = match user_part.rsplit_once(':') {
            Some((rest, device)) => (rest, parse_number::<u16>(device).ok_or_else(malformed)?),
            None => (user_part, 0),
        };
        let (rest, agent) = match rest.rsplit_once('.') {
            Some((user, agent)) if !server.is_lid_family() => {
                (user, parse_number::<u8>(agent).ok_or_else(malformed)?)
            }
            _ => (rest, 0),
        };
        let (integrator, user) = match rest.split_once('-') {
            Some((integrator, user)) if server == Server::Interop => {
                (parse_number::<u16>(integrator).ok_or_else(malformed)?, user)
            }
            _ => (0, rest),
        };
        if user.is_empty() {
            return Err(malformed());
        }
        Jid::build(user.to_owned(), server, agent, device, integrator)
    }
}

/// Decimal digits only: `str::parse` would also take a leading `+`, which would not print
/// back the same.
fn parse_number<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Jid {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn text_forms_parse_and_print_back() {
        for text in [
            "s.whatsapp.net",
            "g.us",
            "15551234567@s.whatsapp.net",
            "15551234567:12@s.whatsapp.net",
            "15551234567.1:2@s.whatsapp.net",
            "123456789012345@lid",
            "123456789012345:3@lid",
            "15551234567:1@hosted",
            "1234:2@hosted.lid",
            "120363025246125486@g.us",
            "status@broadcast",
            "100001:7@msgr",
            "3-15551234567:4@interop",
            "13135550002@bot",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
    }

    #[test]
    fn fields_come_from_the_right_places() {
        let jid = parse("15551234567.1:2@s.whatsapp.net");
        assert_eq!(
            (jid.user(), jid.server(), jid.agent(), jid.device_id()),
            ("15551234567", Server::Pn, 1, 2)
        );
        let lid = parse("12.34:5@lid");
        assert_eq!((lid.user(), lid.device_id()), ("12.34", 5));
        assert_eq!(lid.to_user().to_string(), "12.34@lid");
    }

    #[test]
    fn invalid_jids_are_refused() {
        assert!(matches!(
            "1@example.com".parse::<Jid>(),
            Err(JidError::UnknownServer(_))
        ));
        assert!("1:x@s.whatsapp.net".parse::<Jid>().is_err());
        assert!(":1@s.whatsapp.net".parse::<Jid>().is_err());
        assert!(matches!(
            Jid::device("1", Server::Pn, 256),
            Err(JidError::DeviceNotAllowed { .. })
        ));
        assert!(matches!(
            Jid::device("1", Server::Group, 1),
            Err(JidError::DeviceNotAllowed { .. })
        ));
        assert!(matches!(
            Jid::pn("a@b"),
            Err(JidError::ReservedCharacter(_))
        ));
        assert!(matches!(
            Jid::new("", Server::Pn).and_then(|j| j.with_device(1)),
            Err(JidError::DetailsWithoutUser)
        ));
    }
}
