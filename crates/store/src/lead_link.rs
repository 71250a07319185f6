//! A WhatsApp message belongs to the user's lead with the same E.164 phone number; when the user has
//! none, one is created (source `whatsapp`). Shared by the outbox ([`crate::UserTx::message_enqueue`])
//! and the engine's inbound path. Both run as the user under RLS, so only that user's leads can be
//! found or created: the same contact writing to two users becomes two leads, one each.

use crate::StoreError;
use crate::domain::PhoneE164;
use sqlx::PgConnection;
use uuid::Uuid;

/// `leads.source` of leads the WhatsApp integration creates.
pub(crate) const WHATSAPP_SOURCE: &str = "whatsapp";

/// The user's lead with this phone number, if any.
pub(crate) async fn find_lead(
    conn: &mut PgConnection,
    phone: &PhoneE164,
) -> Result<Option<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM public.leads WHERE phone = $1")
            .bind(phone.as_str())
            .fetch_optional(conn)
            .await?,
    )
}

/// The user's lead for `phone`, created with `name` when missing. Returns (lead id, created).
/// `name` must already be a valid lead name (1 to 200 characters, see `display_name`).
pub(crate) async fn lead_for_phone(
    conn: &mut PgConnection,
    user_id: Uuid,
    phone: &PhoneE164,
    name: &str,
) -> Result<(Uuid, bool), StoreError> {
    if let Some(id) = find_lead(conn, phone).await? {
        return Ok((id, false));
    }
    // `rarity.auto_lead` exempts this insert from the per-user lead quota (a message must never be
    // refused for it; see migration …200003). The SELECT sets it before the row reaches the
    // trigger; it is cleared again right after.
    let created: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO public.leads (user_id, name, phone, source) \
         SELECT $1, $2, $3, $4 WHERE set_config('rarity.auto_lead', 'on', true) = 'on' \
         ON CONFLICT ON CONSTRAINT leads_user_id_phone_key DO NOTHING RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(phone.as_str())
    .bind(WHATSAPP_SOURCE)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query("SELECT set_config('rarity.auto_lead', '', true)")
        .execute(&mut *conn)
        .await?;
    if let Some(id) = created {
        return Ok((id, true));
    }
    // A concurrent transaction created it after our first look and has committed (DO NOTHING
    // waited for it); this new statement's snapshot sees it.
    let id = find_lead(conn, phone).await?.ok_or(StoreError::NotFound)?;
    Ok((id, false))
}
