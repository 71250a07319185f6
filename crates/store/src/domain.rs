//! Validated domain values. Each is checked once, on construction, so the rest of the store (and the
//! database CHECKs behind it) only ever see well-formed input; failures are `StoreError::Invalid`.

use crate::StoreError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A phone number in E.164 form: `+`, a country code not starting with 0, 8 to 15 digits in all.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Accepts what people type — `+44 20 7946 0958`, `+1 (415) 555-2671`, `+49.30.1234567` — and
    /// normalises to `+442079460958`. The leading `+` is required: without it the country is a guess.
    pub fn parse(input: &str) -> Result<Self, StoreError> {
        let field = "phone";
        let trimmed = input.trim();
        let Some(rest) = trimmed.strip_prefix('+') else {
            return Err(StoreError::invalid(
                field,
                "must start with + and the country code, e.g. +44 20 7946 0958",
            ));
        };
        let mut digits = String::with_capacity(15);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => {
                    return Err(StoreError::invalid(
                        field,
                        "may contain only digits, spaces, dashes, dots and brackets",
                    ));
                }
            }
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(StoreError::invalid(
                field,
                "must have 8 to 15 digits including the country code",
            ));
        }
        if digits.starts_with('0') {
            return Err(StoreError::invalid(
                field,
                "country codes do not start with 0",
            ));
        }
        Ok(PhoneE164(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneE164 {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PhoneE164::parse(&value)
    }
}

impl From<PhoneE164> for String {
    fn from(value: PhoneE164) -> Self {
        value.0
    }
}

/// Trims and lowercases an email address and checks its rough shape (one `@`, a dotted domain, no
/// spaces, at most 254 characters). Real verification is the mailbox's job, not ours.
pub fn normalize_email(input: &str) -> Result<String, StoreError> {
    let field = "email";
    let email = input.trim().to_lowercase();
    if email.is_empty() {
        return Err(StoreError::invalid(field, "is required"));
    }
    if email.chars().count() > 254 {
        return Err(StoreError::invalid(field, "must be at most 254 characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::invalid(field, "must not contain spaces"));
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(StoreError::invalid(field, "must contain exactly one @"));
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok {
        return Err(StoreError::invalid(field, "is not a valid email address"));
    }
    Ok(email)
}

/// A required single-line text: trimmed, 1..=max characters, no control characters (PostgreSQL
/// rejects NUL outright, and the others only hide content). Anything else — quotes, `<script>`,
/// `'; DROP TABLE` — is kept verbatim: queries are parameterised and pages escape on output.
pub(crate) fn required_text(
    field: &'static str,
    input: &str,
    max: usize,
) -> Result<String, StoreError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(StoreError::invalid(field, "is required"));
    }
    check_text(field, value, max, false)?;
    Ok(value.to_owned())
}

/// An optional single-line text: blank means "none".
pub(crate) fn optional_text(
    field: &'static str,
    input: Option<&str>,
    max: usize,
) -> Result<Option<String>, StoreError> {
    match input.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => {
            check_text(field, value, max, false)?;
            Ok(Some(value.to_owned()))
        }
    }
}

/// Multi-line text (message templates): newlines and tabs allowed, other control characters not.
pub(crate) fn multiline_text(
    field: &'static str,
    input: &str,
    max: usize,
) -> Result<String, StoreError> {
    if input.trim().is_empty() {
        return Err(StoreError::invalid(field, "is required"));
    }
    check_text(field, input, max, true)?;
    Ok(input.to_owned())
}

fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    multiline: bool,
) -> Result<(), StoreError> {
    if value.chars().count() > max {
        return Err(StoreError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(StoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Where a lead is in the pipeline.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    Won,
    Lost,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 5] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Won,
        LeadStatus::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
        }
    }

    pub fn parse(input: &str) -> Result<Self, StoreError> {
        let wanted = input.trim().to_lowercase();
        LeadStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == wanted)
            .ok_or_else(|| {
                StoreError::invalid(
                    "status",
                    "must be one of new, contacted, qualified, won, lost",
                )
            })
    }
}

impl TryFrom<String> for LeadStatus {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        LeadStatus::parse(&value)
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an outgoing message is (and, for inbound ones, whether the user has read it). The order is
/// the order of progress: a status only ever moves forward (`queued < sent < delivered < read`),
/// and `failed` is reachable only from `queued`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
    ];

    /// The spelling in `whatsapp_messages.status` (its CHECK lists exactly these).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(input: &str) -> Result<Self, StoreError> {
        MessageStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == input)
            .ok_or_else(|| {
                StoreError::invalid(
                    "status",
                    "must be one of queued, sent, delivered, read, failed",
                )
            })
    }
}

impl TryFrom<String> for MessageStatus {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        MessageStatus::parse(&value)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A linked account's connection state (`whatsapp_sessions.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Inactive,
    Connecting,
    Expired,
    Error,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 5] = [
        SessionStatus::Active,
        SessionStatus::Inactive,
        SessionStatus::Connecting,
        SessionStatus::Expired,
        SessionStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Inactive => "inactive",
            SessionStatus::Connecting => "connecting",
            SessionStatus::Expired => "expired",
            SessionStatus::Error => "error",
        }
    }

    pub fn parse(input: &str) -> Result<Self, StoreError> {
        SessionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == input)
            .ok_or_else(|| {
                StoreError::invalid(
                    "status",
                    "must be one of active, inactive, connecting, expired, error",
                )
            })
    }
}

impl From<SessionStatus> for String {
    fn from(value: SessionStatus) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that arrives from WhatsApp (a push name): control characters dropped, trimmed, cut to
/// `max` characters. `None` when nothing is left. Such names are whatever a contact typed, so they
/// are cleaned rather than refused: refusing would refuse the message carrying them.
pub(crate) fn display_name(input: Option<&str>, max: usize) -> Option<String> {
    let cleaned: String = input?.chars().filter(|c| !c.is_control()).collect();
    let trimmed: String = cleaned.trim().chars().take(max).collect();
    let trimmed = trimmed.trim_end();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_people_type_are_normalised() {
        let cases = [
            ("+44 20 7946 0958", "+442079460958"),
            ("  +1 (415) 555-2671 ", "+14155552671"),
            ("+49.30.1234567", "+49301234567"),
            ("+5511987654321", "+5511987654321"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PhoneE164::parse(input).map(String::from).ok().as_deref(),
                Some(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_phone_numbers_are_refused() {
        let cases = [
            "",
            "020 7946 0958",     // no country code
            "+0 20 7946 0958",   // country codes never start with 0
            "+1234567",          // 7 digits
            "+1234567890123456", // 16 digits
            "+44 20 7946 095x",
            "+44 20; DROP TABLE leads",
            "++442079460958",
        ];
        for input in cases {
            assert!(
                matches!(
                    PhoneE164::parse(input),
                    Err(StoreError::Invalid { field: "phone", .. })
                ),
                "{input:?} should be refused"
            );
        }
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Ana@Example.COM ").ok().as_deref(),
            Some("ana@example.com")
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "a b@example.com",
            "a@b@example.com",
            "ana@example",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn text_fields_keep_markup_but_refuse_control_characters_and_excess_length() {
        let html = "<script>alert(1)</script> O'Brien; DROP TABLE leads;--";
        assert_eq!(required_text("name", html, 200).ok().as_deref(), Some(html));
        assert!(required_text("name", "   ", 200).is_err());
        assert!(required_text("name", &"x".repeat(201), 200).is_err());
        assert!(required_text("name", "a\0b", 200).is_err());
        assert_eq!(optional_text("company", Some("  "), 200).ok(), Some(None));
        assert!(multiline_text("content", "Hi {{name}},\nwelcome", 4096).is_ok());
    }

    #[test]
    fn message_and_session_statuses_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()).ok(), Some(s));
        }
        for s in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(MessageStatus::parse("Sent").is_err());
        assert!(SessionStatus::parse("linked").is_err());
    }

    #[test]
    fn push_names_are_cleaned_not_refused() {
        assert_eq!(
            display_name(Some("  Ana\u{0}\n "), 200).as_deref(),
            Some("Ana")
        );
        assert_eq!(display_name(Some(" \t "), 200), None);
        assert_eq!(display_name(None, 200), None);
        assert_eq!(
            display_name(Some(&"é".repeat(300)), 200).map(|n| n.chars().count()),
            Some(200)
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(LeadStatus::parse("archived").is_err());
    }
}
