//! Consent: the append-only ledger per lead, the state derived from it and the suppression list,
//! and opt-out keywords in inbound messages.
//!
//! Enforcement is in the database (migration …_consent_and_suppression.sql): every queued outgoing
//! row and every send attempt to a number on the user's suppression list is refused there, whoever
//! writes it, and the store maps that refusal to [`StoreError::OptedOut`]. This module records
//! events and reads the state; it never has to remember to check.
//!
//! Keywords are compared with the *whole* message after [`normalize_keyword`]: Unicode
//! compatibility decomposition, accents dropped, upper case, punctuation and spaces trimmed at
//! both ends, inner spaces collapsed. So `stop`, ` Stop! `, `ＳＴＯＰ` and `Arrêt` match `STOP` /
//! `ARRET`, and "please don't stop" does not.

use crate::domain::PhoneE164;
use crate::messages::new_message_id;
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use uuid::Uuid;

/// The opt-out keywords a user starts with.
pub const DEFAULT_OPT_OUT_KEYWORDS: [&str; 6] =
    ["STOP", "STOPP", "UNSUBSCRIBE", "PARAR", "BAJA", "ARRET"];
/// Longest keyword (after normalisation), and the most a user may have.
pub const KEYWORD_MAX: usize = 64;
pub const KEYWORDS_MAX: usize = 50;
const EVIDENCE_MAX: usize = 2000;

/// The NOTIFY channel on which a committed transaction that queued a message outside a request
/// (the automatic opt-out confirmation) asks for the account's sender to be woken; the payload is
/// the account id. See [`crate::Store::outbox_wakes`].
pub const OUTBOX_WAKE_CHANNEL: &str = "rarity_outbox";

/// The text a keyword is compared in (see the module docs).
pub fn normalize_keyword(text: &str) -> String {
    let stripped: String = text.nfkd().filter(|c| !is_combining_mark(*c)).collect();
    let upper = stripped.to_uppercase();
    let trimmed = upper.trim_matches(|c: char| !c.is_alphanumeric());
    trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalised, de-duplicated keywords; [`StoreError::Invalid`] (`opt_out_keywords`) when empty,
/// too many, or one is blank or too long.
pub fn normalize_keywords(input: &[String]) -> Result<Vec<String>, StoreError> {
    let field = "opt_out_keywords";
    let mut out: Vec<String> = Vec::new();
    for raw in input {
        let k = normalize_keyword(raw);
        if k.is_empty() {
            if raw.trim().is_empty() {
                continue;
            }
            return Err(StoreError::invalid(
                field,
                format!("{raw:?} has no letters or digits"),
            ));
        }
        if k.chars().count() > KEYWORD_MAX {
            return Err(StoreError::invalid(
                field,
                format!("each keyword must be at most {KEYWORD_MAX} characters"),
            ));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        return Err(StoreError::invalid(
            field,
            "keep at least one opt-out keyword (STOP, for example)",
        ));
    }
    if out.len() > KEYWORDS_MAX {
        return Err(StoreError::invalid(
            field,
            format!("at most {KEYWORDS_MAX} keywords"),
        ));
    }
    Ok(out)
}

/// Whether `text` (a whole inbound message) is one of `keywords` (already normalised).
pub fn is_opt_out(text: &str, keywords: &[String]) -> bool {
    // Cheap pre-check: a keyword message is short.
    if text.chars().count() > KEYWORD_MAX * 4 {
        return false;
    }
    let normalized = normalize_keyword(text);
    !normalized.is_empty() && keywords.contains(&normalized)
}

/// Opt-in or opt-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    OptIn,
    OptOut,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptIn => "opt_in",
            Self::OptOut => "opt_out",
        }
    }

    pub fn parse(input: &str) -> Result<Self, StoreError> {
        match input.trim() {
            "opt_in" => Ok(Self::OptIn),
            "opt_out" => Ok(Self::OptOut),
            _ => Err(StoreError::invalid("kind", "must be opt_in or opt_out")),
        }
    }
}

impl TryFrom<String> for ConsentKind {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Where a consent event came from. `keyword` is recorded by the store itself (an inbound opt-out
/// keyword); people and API clients record the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    Import,
    Form,
    Chat,
    Api,
    Keyword,
}

impl ConsentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Form => "form",
            Self::Chat => "chat",
            Self::Api => "api",
            Self::Keyword => "keyword",
        }
    }

    pub fn parse(input: &str) -> Result<Self, StoreError> {
        match input.trim() {
            "import" => Ok(Self::Import),
            "form" => Ok(Self::Form),
            "chat" => Ok(Self::Chat),
            "api" => Ok(Self::Api),
            "keyword" => Ok(Self::Keyword),
            _ => Err(StoreError::invalid(
                "source",
                "must be import, form, chat, api or keyword",
            )),
        }
    }
}

impl TryFrom<String> for ConsentSource {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConsentEvent {
    pub id: Uuid,
    pub lead_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: ConsentKind,
    #[sqlx(try_from = "String")]
    pub source: ConsentSource,
    /// What shows the consent: the message text, a form's wording, who said what on a call.
    pub evidence: String,
    /// The message that carried it, while that message is kept.
    pub message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A lead's current consent, derived: `opted_out` while its number is on the suppression list,
/// else `opted_in` when the latest ledger event is an opt-in, else `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Unknown,
    OptedIn,
    OptedOut,
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
        }
    }

    fn derive(suppressed: bool, last: Option<&str>) -> Self {
        match (suppressed, last) {
            (true, _) => Self::OptedOut,
            (false, Some("opt_in")) => Self::OptedIn,
            _ => Self::Unknown,
        }
    }
}

/// A lead's consent: the derived state and the ledger, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeadConsent {
    pub lead_id: Uuid,
    pub state: ConsentState,
    pub events: Vec<ConsentEvent>,
}

/// Input for [`UserTx::consent_record`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A consent event: `kind` is `opt_in` or `opt_out`, `source` is `import`, \
    `form`, `chat` or `api`, and `evidence` says what shows it."
)]
#[serde(default)]
pub struct NewConsent {
    pub kind: String,
    pub source: String,
    pub evidence: String,
}

pub(crate) const CONSENT_COLUMNS: &str =
    "e.id, e.lead_id, e.kind, e.source, e.evidence, e.message_id, e.created_at";

fn evidence(input: &str) -> Result<String, StoreError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(StoreError::invalid(
            "evidence",
            "say what shows the consent (e.g. the form's wording, or who said what)",
        ));
    }
    if value.chars().count() > EVIDENCE_MAX {
        return Err(StoreError::invalid(
            "evidence",
            format!("must be at most {EVIDENCE_MAX} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(StoreError::invalid(
            "evidence",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[derive(sqlx::FromRow)]
struct StateRow {
    id: Uuid,
    suppressed: bool,
    last_kind: Option<String>,
}

const STATE_SQL: &str = "SELECT l.id, public.rarity_is_suppressed(l.phone) AS suppressed, \
       (SELECT e.kind FROM public.consent_events e WHERE e.lead_id = l.id \
        ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS last_kind \
     FROM public.leads l";

impl UserTx {
    /// Records an explicit opt-in or opt-out for one of the user's leads. An opt-out puts the
    /// number on the suppression list at once (and fails what is queued for it); an opt-in is the
    /// only way off it. `keyword` is the store's own source and is refused here.
    pub async fn consent_record(
        &mut self,
        lead_id: Uuid,
        new: NewConsent,
    ) -> Result<ConsentEvent, StoreError> {
        let kind = ConsentKind::parse(&new.kind)?;
        let source = ConsentSource::parse(&new.source)?;
        if source == ConsentSource::Keyword {
            return Err(StoreError::invalid(
                "source",
                "keyword events are recorded from the contact's own message",
            ));
        }
        let evidence = evidence(&new.evidence)?;
        // The lead must be visible (RLS): someone else's is NotFound, not a policy error.
        self.lead_get(lead_id).await?;
        let sql = format!(
            "INSERT INTO public.consent_events AS e (user_id, lead_id, kind, source, evidence) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {CONSENT_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(self.user_id)
            .bind(lead_id)
            .bind(kind.as_str())
            .bind(source.as_str())
            .bind(evidence)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// One lead's consent state and ledger (newest first); [`StoreError::NotFound`] for a lead
    /// that is not the user's.
    pub async fn consent_of(&mut self, lead_id: Uuid) -> Result<LeadConsent, StoreError> {
        let row: StateRow = sqlx::query_as(&format!("{STATE_SQL} WHERE l.id = $1"))
            .bind(lead_id)
            .fetch_one(&mut *self.tx)
            .await?;
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM public.consent_events e WHERE e.lead_id = $1 \
             ORDER BY e.created_at DESC, e.id DESC"
        );
        let events = sqlx::query_as(&sql)
            .bind(lead_id)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(LeadConsent {
            lead_id,
            state: ConsentState::derive(row.suppressed, row.last_kind.as_deref()),
            events,
        })
    }

    /// The consent state of every lead of the user (for the lead list).
    pub async fn consent_states(&mut self) -> Result<Vec<(Uuid, ConsentState)>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(STATE_SQL).fetch_all(&mut *self.tx).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    ConsentState::derive(r.suppressed, r.last_kind.as_deref()),
                )
            })
            .collect())
    }

    /// Whether a number (any form people type) is on the user's suppression list — also after
    /// the lead was erased.
    pub async fn is_suppressed(&mut self, phone: &str) -> Result<bool, StoreError> {
        let phone = PhoneE164::parse(phone)?;
        Ok(sqlx::query_scalar("SELECT public.rarity_is_suppressed($1)")
            .bind(phone.as_str())
            .fetch_one(&mut *self.tx)
            .await?)
    }
}

#[derive(sqlx::FromRow)]
struct KeywordSettings {
    opt_out_keywords: Vec<String>,
    opt_out_reply: Option<String>,
}

/// The user's opt-out keywords and reply, read at most once per engine commit (a batch of up to
/// 64 messages is one user's): the hot path of storing inbound messages.
#[derive(Default)]
pub(crate) struct KeywordCache(Option<(Vec<String>, Option<String>)>);

impl KeywordCache {
    async fn get(
        &mut self,
        conn: &mut PgConnection,
        user_id: Uuid,
    ) -> Result<&(Vec<String>, Option<String>), StoreError> {
        if self.0.is_none() {
            let settings: Option<KeywordSettings> = sqlx::query_as(
                "SELECT opt_out_keywords, opt_out_reply FROM public.privacy_settings WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
            self.0 = Some(match settings {
                Some(s) => (s.opt_out_keywords, s.opt_out_reply),
                None => (DEFAULT_OPT_OUT_KEYWORDS.map(str::to_owned).to_vec(), None),
            });
        }
        Ok(self.0.get_or_insert_with(Default::default))
    }
}

/// An inbound text from a contact with a lead (inside the engine's commit, acting as the owner).
/// When it is an opt-out keyword: the ledger gets an `opt_out`/`keyword` event with the message as
/// evidence (its trigger suppresses the number and fails what is queued for it, in this
/// transaction), and, when the user set an automatic reply and this transaction is the one that
/// put the number on the list, the reply is queued as the one exempt row and the account's sender
/// is asked to wake once the transaction commits. Returns whether it was an opt-out.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn on_inbound_text(
    conn: &mut PgConnection,
    cache: &mut KeywordCache,
    user_id: Uuid,
    session_id: Uuid,
    message_row: Uuid,
    lead_id: Uuid,
    phone: &PhoneE164,
    text: &str,
) -> Result<bool, StoreError> {
    if normalize_keyword(text).chars().count() > KEYWORD_MAX {
        return Ok(false);
    }
    let (keywords, reply) = cache.get(conn, user_id).await?;
    if !is_opt_out(text, keywords) {
        return Ok(false);
    }
    let reply = reply.clone();
    let evidence: String = text.chars().take(EVIDENCE_MAX).collect();
    let evidence = if evidence.trim().is_empty() {
        "(keyword)".to_owned()
    } else {
        evidence
    };
    sqlx::query(
        "INSERT INTO public.consent_events (user_id, lead_id, kind, source, evidence, message_id) \
         VALUES ($1, $2, 'opt_out', 'keyword', $3, $4)",
    )
    .bind(user_id)
    .bind(lead_id)
    .bind(evidence)
    .bind(message_row)
    .execute(&mut *conn)
    .await?;
    let Some(reply) = reply else {
        return Ok(true);
    };
    let confirmable: bool = sqlx::query_scalar("SELECT public.rarity_opt_out_confirmable($1)")
        .bind(phone.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if confirmable {
        sqlx::query(
            "INSERT INTO public.whatsapp_messages \
               (session_id, lead_id, message_id, phone_number, direction, message_type, content, \
                status, consent_exempt) \
             VALUES ($1, $2, $3, $4, 'out', 'text', jsonb_build_object('text', $5::text), 'queued', \
                     'opt_out_confirmation')",
        )
        .bind(session_id)
        .bind(lead_id)
        .bind(new_message_id())
        .bind(phone.as_str())
        .bind(&reply)
        .execute(&mut *conn)
        .await?;
        // Delivered only if the transaction commits, so the sender never looks too early.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(OUTBOX_WAKE_CHANNEL)
            .bind(session_id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// Accounts whose outbox a committed transaction filled outside a request (see
/// [`OUTBOX_WAKE_CHANNEL`]), from a dedicated `LISTEN` connection. The connection is re-opened by
/// itself after a loss; wake-ups sent while it was down are lost, and such messages wait for the
/// account's next wake (any send, or a reconnect).
pub struct OutboxWakes {
    notices: crate::Notices,
}

impl std::fmt::Debug for OutboxWakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWakes").finish_non_exhaustive()
    }
}

impl OutboxWakes {
    /// The next account to wake.
    pub async fn next(&mut self) -> Result<Uuid, StoreError> {
        loop {
            let (_, payload) = self.notices.next().await?;
            if let Ok(id) = Uuid::parse_str(&payload) {
                return Ok(id);
            }
        }
    }
}

impl crate::Store {
    /// Starts listening for [`OutboxWakes`] (the server wakes those accounts' senders), on a
    /// connection of its own: a listener keeps its connection for life, and taking it from the
    /// runtime pool would leave requests one connection short.
    pub async fn outbox_wakes(&self) -> Result<OutboxWakes, StoreError> {
        Ok(OutboxWakes {
            notices: self.listen(&[OUTBOX_WAKE_CHANNEL]).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_OPT_OUT_KEYWORDS.map(str::to_owned).to_vec()
    }

    #[test]
    fn keywords_match_whole_messages_whatever_the_case_accents_and_punctuation() {
        let k = defaults();
        for text in [
            "STOP",
            "stop",
            " Stop! ",
            "ＳＴＯＰ",
            "Arrêt",
            "arret.",
            "¡Baja!",
            "parar",
            "Stopp",
            "unsubscribe 🛑",
            "\nSTOP\n",
        ] {
            assert!(is_opt_out(text, &k), "{text:?} should opt out");
        }
        for text in [
            "please don't stop",
            "STOP STOP",
            "stopped",
            "S T O P",
            "",
            "🛑",
            "bajar",
        ] {
            assert!(!is_opt_out(text, &k), "{text:?} should not opt out");
        }
    }

    #[test]
    fn keyword_lists_are_normalised_and_checked() {
        let got = normalize_keywords(&[
            "stop".into(),
            " Arrêt ".into(),
            "STOP".into(),
            "  ".into(),
            "Stop all".into(),
        ])
        .unwrap();
        assert_eq!(got, vec!["STOP", "ARRET", "STOP ALL"]);
        assert!(normalize_keywords(&[]).is_err());
        assert!(normalize_keywords(&["   ".into()]).is_err());
        assert!(normalize_keywords(&["!!!".into()]).is_err());
        assert!(normalize_keywords(&["x".repeat(65)]).is_err());
        let many: Vec<String> = (0..51).map(|i| format!("K{i}")).collect();
        assert!(normalize_keywords(&many).is_err());
    }

    #[test]
    fn state_is_derived_from_the_list_then_the_ledger() {
        assert_eq!(
            ConsentState::derive(true, Some("opt_in")),
            ConsentState::OptedOut
        );
        assert_eq!(
            ConsentState::derive(false, Some("opt_in")),
            ConsentState::OptedIn
        );
        assert_eq!(
            ConsentState::derive(false, Some("opt_out")),
            ConsentState::Unknown
        );
        assert_eq!(ConsentState::derive(false, None), ConsentState::Unknown);
    }
}
