//! A transaction acting as one user under row-level security (see the crate docs for why).

use crate::StoreError;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Created by [`crate::Store::as_user`]. All reads and writes go through PostgreSQL's RLS policies as
/// `authenticated` with `auth.uid() = user_id`. Dropped without [`UserTx::commit`] it rolls back.
pub struct UserTx {
    pub(crate) tx: Transaction<'static, Postgres>,
    pub(crate) user_id: Uuid,
}

impl UserTx {
    pub(crate) async fn begin(pool: &PgPool, user_id: Uuid) -> Result<UserTx, StoreError> {
        let mut tx = pool.begin().await?;
        act_as(&mut tx, user_id).await?;
        Ok(UserTx { tx, user_id })
    }

    /// The user this transaction acts as.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The transaction's connection, for the store's own modules that share helpers with the
    /// engine's write path.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// The raw connection, for tests that check what RLS allows with hand-written SQL.
    #[cfg(feature = "test-support")]
    pub fn connection_for_tests(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}

/// Switches the current transaction back to the system role `rarity_app` (the session user,
/// which may always become itself again), for a call only the system path may make; [`act_as`]
/// switches back to the user.
pub(crate) async fn act_as_system(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('role', 'rarity_app', true)")
        .execute(conn)
        .await?;
    Ok(())
}

/// Switches the current transaction to `authenticated` acting as `user_id`: from here on RLS decides
/// what it sees. Same shape as the claims PostgREST sets from a Supabase JWT; `true` = local to the
/// transaction, so the pooled connection is clean for the next user. Used by [`UserTx`] and by the
/// engine's commit, which writes its secrets first and then acts as the account's owner. It also
/// sets `rarity.own_leads_only`, which narrows an adopted host `leads` table to the user's own rows
/// whatever the host's wider policies allow (see `adopt` and `sql/adopt_leads.sql`).
pub(crate) async fn act_as(conn: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    let claims = serde_json::json!({ "sub": user_id, "role": "authenticated" }).to_string();
    sqlx::query(
        "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true), \
                set_config('rarity.own_leads_only', 'on', true)",
    )
    .bind(claims)
    .execute(conn)
    .await?;
    Ok(())
}
