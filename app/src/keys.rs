//! API keys in Settings: list, create (the secret shown once), revoke. Server functions over the
//! same store calls as `/api/keys`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::FormError;
use crate::components::form::{field_error, form_error};
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, CARD, ErrorNote, Field, SecretOnce, user_message,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `read, send`.
    pub scopes: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked: bool,
}

#[server(prefix = "/fn", endpoint = "keys/list")]
pub async fn api_keys() -> Result<Vec<KeyView>, ServerFnError> {
    use crate::api::convert::{internal, user_tx, utc_minute};
    let mut tx = user_tx().await?;
    let keys = tx.api_keys_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(keys
        .into_iter()
        .map(|k| KeyView {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.join(", "),
            created: utc_minute(k.created_at),
            last_used: k.last_used_at.map(utc_minute),
            revoked: k.revoked_at.is_some(),
        })
        .collect())
}

/// Creates a key; the answer is its secret (shown once).
#[server(prefix = "/fn", endpoint = "keys/create")]
pub async fn create_api_key(
    #[server(default)] name: String,
    #[server(default)] read: String,
    #[server(default)] send: String,
    #[server(default)] manage: String,
) -> Result<String, FormError> {
    use crate::api::convert;
    let result: Result<String, FormError> = async {
        let scopes: Vec<String> = [("read", read), ("send", send), ("manage", manage)]
            .into_iter()
            .filter(|(_, on)| !on.is_empty())
            .map(|(s, _)| s.to_owned())
            .collect();
        let mut tx = convert::form_tx().await?;
        let created = tx
            .api_key_create(&name, &scopes)
            .await
            .map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(created.secret)
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "keys/revoke")]
pub async fn revoke_api_key(#[server(default)] id: String) -> Result<(), ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    match tx.api_key_revoke(id).await {
        Ok(_) | Err(store::StoreError::NotFound) => {}
        Err(e) => return Err(internal(e)),
    }
    tx.commit().await.map_err(internal)?;
    Ok(())
}

/// The Settings section.
#[component]
pub fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = crate::resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| api_keys(),
    );
    let field_error = move |field: &'static str| field_error(create, field);
    let form_error = form_error(create, &["name", "scopes"]);
    let secret = move || match create.value().get() {
        Some(Ok(secret)) => Some(secret),
        _ => None,
    };
    view! {
        <section class=format!("{CARD} flex flex-col gap-3 p-4") aria-labelledby="keys-heading" data-testid="api-keys">
            <h2 id="keys-heading" class="text-sm font-medium">"API keys"</h2>
            <p class="text-sm text-muted">
                "For your own servers: send "<code>"Authorization: Bearer rk_…"</code>" to the REST API. "
                "Read lists and fetches; send sends messages; manage changes leads, templates, campaigns and accounts. "
                "A key is shown once; only its hash is kept."
            </p>
            {move || secret().map(|s| view! { <SecretOnce what="Your new key" secret=s testid="new-key"/> })}
            <ActionForm action=create attr:class="flex flex-col gap-2" attr:data-testid="key-form">
                <Field label="Name" name="name" required=true placeholder="CRM sync" error=field_error("name")/>
                <div class="flex flex-wrap gap-4 text-sm">
                    <label class="flex items-center gap-2"><input type="checkbox" name="read" value="on" checked/>"read"</label>
                    <label class="flex items-center gap-2"><input type="checkbox" name="send" value="on" data-testid="scope-send"/>"send"</label>
                    <label class="flex items-center gap-2"><input type="checkbox" name="manage" value="on"/>"manage"</label>
                </div>
                <ErrorNote message=field_error("scopes")/>
                <ErrorNote message=form_error/>
                <button type="submit" class=format!("{BUTTON_PRIMARY} self-start") data-testid="key-create"
                    disabled=move || create.pending().get()>"Create key"</button>
            </ActionForm>
            <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="text-sm text-muted">"No keys yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="flex flex-col divide-y divide-line">
                                {list.into_iter().map(|k| {
                                    let id = k.id.clone();
                                    let used = k.last_used.clone().map_or_else(|| "never used".to_owned(), |t| format!("last used {t}"));
                                    view! {
                                        <li class="flex flex-wrap items-center gap-2 py-2 text-sm" data-testid="api-key" data-revoked=k.revoked.to_string()>
                                            <span class="font-medium">{k.name}</span>
                                            <code class="text-xs text-muted">{format!("{}…", k.prefix)}</code>
                                            <span class="text-xs text-muted">{k.scopes}</span>
                                            <span class="text-xs text-muted">{format!("created {} · {used}", k.created)}</span>
                                            {if k.revoked {
                                                view! { <span class="ml-auto text-xs text-danger">"revoked"</span> }.into_any()
                                            } else {
                                                view! {
                                                    <button type="button" class=format!("{BUTTON_DANGER} ml-auto") data-testid="key-revoke"
                                                        on:click=move |_| { revoke.dispatch(RevokeApiKey { id: id.clone() }); }>"Revoke"</button>
                                                }.into_any()
                                            }}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
