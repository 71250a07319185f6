//! Webhooks in Settings: add an endpoint (its secret shown once), switch it off and on, delete
//! it, and read its delivery log with "Redeliver". Server functions over the same store calls as
//! `/api/webhooks`; the URL passes the server's SSRF guard before it is saved.
// `create_webhook` takes one argument per checkbox (the server-function macro generates the
// browser's caller with the same arity, so an attribute on the function cannot reach it).
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::FormError;
use crate::components::form::{field_error, form_error};
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, ErrorNote, Field, SecretOnce, user_message,
};

/// The event types, with what each means to a user: `store::WEBHOOK_EVENT_TYPES` (the browser build
/// has no store; a server test keeps the two lists equal).
pub const EVENT_TYPES: [(&str, &str); 8] = [
    ("message.inbound", "A contact's message arrived"),
    (
        "message.outbound",
        "A message was queued or sent to a contact",
    ),
    (
        "message.status",
        "A sent message was delivered, read or failed",
    ),
    (
        "account.state",
        "A WhatsApp account connected, disconnected or changed",
    ),
    ("account.deleted", "A WhatsApp account was deleted"),
    ("consent.opt_out", "A contact opted out"),
    ("consent.opt_in", "A contact's opt-in was recorded"),
    (
        "campaign.progress",
        "A campaign started, paused, resumed, completed or was cancelled",
    ),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub event_type: String,
    pub event_id: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created: String,
    pub next_attempt: Option<String>,
}

#[server(prefix = "/fn", endpoint = "webhooks/list")]
pub async fn webhooks() -> Result<Vec<WebhookView>, ServerFnError> {
    use crate::api::convert::{internal, user_tx, utc_minute};
    let mut tx = user_tx().await?;
    let list = tx.webhooks_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(list
        .into_iter()
        .map(|w| WebhookView {
            id: w.id.to_string(),
            url: w.url,
            description: w.description,
            event_types: w.event_types,
            enabled: w.enabled,
            created: utc_minute(w.created_at),
        })
        .collect())
}

/// Adds an endpoint; the answer is its signing secret (shown once). One checkbox per event type.
#[server(prefix = "/fn", endpoint = "webhooks/create")]
pub async fn create_webhook(
    #[server(default)] url: String,
    #[server(default)] description: String,
    #[server(default)] message_inbound: String,
    #[server(default)] message_outbound: String,
    #[server(default)] message_status: String,
    #[server(default)] account_state: String,
    #[server(default)] account_deleted: String,
    #[server(default)] consent_opt_out: String,
    #[server(default)] consent_opt_in: String,
    #[server(default)] campaign_progress: String,
) -> Result<String, FormError> {
    use crate::api::convert;
    let result: Result<String, FormError> = async {
        let checked = [
            message_inbound,
            message_outbound,
            message_status,
            account_state,
            account_deleted,
            consent_opt_out,
            consent_opt_in,
            campaign_progress,
        ];
        let event_types: Vec<String> = EVENT_TYPES
            .iter()
            .zip(checked)
            .filter(|(_, on)| !on.is_empty())
            .map(|((t, _), _)| (*t).to_owned())
            .collect();
        let ctx = crate::ctx::app_context()
            .map_err(|_| FormError::Failed("Something went wrong; please try again.".into()))?;
        if url.trim().is_empty() {
            return Err(FormError::Invalid {
                field: "url".into(),
                message: "is required".into(),
            });
        }
        (ctx.check_webhook_url)(url.clone())
            .await
            .map_err(|message| FormError::Invalid {
                field: "url".into(),
                message,
            })?;
        let mut tx = convert::form_tx().await?;
        let created = tx
            .webhook_create(&store::NewWebhook {
                url,
                description: convert::optional(description),
                event_types,
                enabled: Some(true),
            })
            .await
            .map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(created.secret)
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "webhooks/enable")]
pub async fn set_webhook_enabled(
    #[server(default)] id: String,
    #[server(default)] enabled: bool,
) -> Result<(), ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    tx.webhook_update(
        id,
        &store::WebhookPatch {
            enabled: Some(enabled),
            ..Default::default()
        },
    )
    .await
    .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(())
}

#[server(prefix = "/fn", endpoint = "webhooks/delete")]
pub async fn delete_webhook(#[server(default)] id: String) -> Result<(), ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    match tx.webhook_delete(id).await {
        Ok(()) | Err(store::StoreError::NotFound) => {}
        Err(e) => return Err(internal(e)),
    }
    tx.commit().await.map_err(internal)?;
    Ok(())
}

/// The latest 20 deliveries of an endpoint.
#[server(prefix = "/fn", endpoint = "webhooks/deliveries")]
pub async fn webhook_deliveries(
    #[server(default)] id: String,
) -> Result<Vec<DeliveryView>, ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx, utc_minute};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    let page = tx
        .webhook_deliveries(id, None, 20)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(page
        .deliveries
        .into_iter()
        .map(|d| DeliveryView {
            id: d.id,
            next_attempt: (d.state == "pending").then(|| utc_minute(d.next_attempt_at)),
            event_type: d.event_type,
            event_id: d.event_id,
            state: d.state,
            attempts: d.attempts,
            response_status: d.response_status,
            last_error: d.last_error,
            created: utc_minute(d.created_at),
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "webhooks/redeliver")]
pub async fn redeliver_webhook(
    #[server(default)] id: String,
    #[server(default)] delivery: i64,
) -> Result<(), ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    tx.webhook_redeliver(id, delivery).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(())
}

/// The Settings section.
#[component]
pub fn Webhooks() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let enable = ServerAction::<SetWebhookEnabled>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let hooks = crate::resource::new(
        move || {
            (
                create.version().get(),
                enable.version().get(),
                delete.version().get(),
            )
        },
        |_| webhooks(),
    );
    let field_error = move |field: &'static str| field_error(create, field);
    let form_error = form_error(create, &["url", "description", "event_types"]);
    let secret = move || match create.value().get() {
        Some(Ok(secret)) => Some(secret),
        _ => None,
    };
    // An added endpoint clears the form for the next one.
    let form_ref = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get()
            && let Some(form) = form_ref.get()
        {
            form.reset();
        }
    });
    view! {
        <section class=format!("{CARD} flex flex-col gap-3 p-4") aria-labelledby="webhooks-heading" data-testid="webhooks">
            <h2 id="webhooks-heading" class="text-sm font-medium">"Webhooks"</h2>
            <p class="text-sm text-muted">
                "We post each event you choose to your https endpoint as JSON, signed the Standard Webhooks way ("
                <code>"webhook-id"</code>", "<code>"webhook-timestamp"</code>", "<code>"webhook-signature"</code>
                "). Failed deliveries are retried for a day; a conversation's events arrive in order."
            </p>
            {move || secret().map(|s| view! { <SecretOnce what="Signing secret" secret=s testid="webhook-secret"/> })}
            <ActionForm action=create node_ref=form_ref attr:class="flex flex-col gap-2" attr:data-testid="webhook-form">
                <Field label="Endpoint URL" name="url" required=true placeholder="https://crm.example.com/hooks/whatsapp" error=field_error("url")/>
                <Field label="Description (optional)" name="description" error=field_error("description")/>
                <fieldset class="flex flex-col gap-1 text-sm">
                    <legend class="text-xs text-muted">"Events"</legend>
                    {EVENT_TYPES.iter().map(|(t, meaning)| {
                        let name = t.replace('.', "_");
                        let on = t.starts_with("message.");
                        view! {
                            <label class="flex items-start gap-2">
                                <input type="checkbox" name=name value="on" checked=on class="mt-1"/>
                                <span class="flex flex-col sm:flex-row sm:gap-2">
                                    <code class="text-xs leading-6">{*t}</code>
                                    <span class="text-muted">{*meaning}</span>
                                </span>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <ErrorNote message=field_error("event_types")/>
                <ErrorNote message=form_error/>
                <button type="submit" class=format!("{BUTTON_PRIMARY} self-start") data-testid="webhook-create"
                    disabled=move || create.pending().get()>"Add webhook"</button>
            </ActionForm>
            <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match hooks.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="text-sm text-muted">"No webhooks yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="flex flex-col divide-y divide-line">
                                {list.into_iter().map(|w| view! { <WebhookRow hook=w enable delete/> }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn WebhookRow(
    hook: WebhookView,
    enable: ServerAction<SetWebhookEnabled>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let id = hook.id.clone();
    let (toggle_id, delete_id) = (id.clone(), id.clone());
    let enabled = hook.enabled;
    let confirm_delete = RwSignal::new(false);
    view! {
        <li class="flex flex-col gap-2 py-2 text-sm" data-testid="webhook" data-enabled=enabled.to_string()>
            <div class="flex flex-wrap items-center gap-2">
                <code class="break-all font-medium">{hook.url.clone()}</code>
                {hook.description.clone().map(|d| view! { <span class="text-muted">{d}</span> })}
                {(!enabled).then(|| view! { <span class="text-xs text-warning">"paused"</span> })}
                <span class="ml-auto flex gap-2">
                    <button type="button" class=BUTTON_QUIET data-testid="webhook-log"
                        aria-expanded=move || open.get().to_string()
                        on:click=move |_| open.update(|o| *o = !*o)>
                        {move || if open.get() { "Hide log" } else { "Delivery log" }}
                    </button>
                    <button type="button" class=BUTTON_QUIET data-testid="webhook-toggle"
                        on:click=move |_| { enable.dispatch(SetWebhookEnabled { id: toggle_id.clone(), enabled: !enabled }); }>
                        {if enabled { "Pause" } else { "Resume" }}
                    </button>
                    {move || {
                        let delete_id = delete_id.clone();
                        if confirm_delete.get() {
                            view! {
                                <button type="button" class=BUTTON_DANGER data-testid="webhook-delete-confirm"
                                    on:click=move |_| { delete.dispatch(DeleteWebhook { id: delete_id.clone() }); }>"Delete for good"</button>
                                <button type="button" class=BUTTON_QUIET on:click=move |_| confirm_delete.set(false)>"Keep"</button>
                            }.into_any()
                        } else {
                            view! {
                                <button type="button" class=BUTTON_DANGER data-testid="webhook-delete"
                                    on:click=move |_| confirm_delete.set(true)>"Delete"</button>
                            }.into_any()
                        }
                    }}
                </span>
            </div>
            <p class="text-xs text-muted">{format!("{} · added {}", hook.event_types.join(", "), hook.created)}</p>
            {move || open.get().then(|| view! { <DeliveryLog id=id.clone()/> })}
        </li>
    }
}

#[component]
fn DeliveryLog(id: String) -> impl IntoView {
    let redeliver = ServerAction::<RedeliverWebhook>::new();
    let refresh = RwSignal::new(0u32);
    let log_id = id.clone();
    let log = crate::resource::new(
        move || (redeliver.version().get(), refresh.get()),
        move |_| webhook_deliveries(log_id.clone()),
    );
    view! {
        <div class="flex flex-col gap-1 rounded-md border border-line p-2" data-testid="delivery-log">
            <div class="flex items-center gap-2">
                <span class="text-xs text-muted">"Latest 20 deliveries, newest first"</span>
                <button type="button" class=format!("{BUTTON_QUIET} ml-auto") on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
            </div>
            <Suspense fallback=|| view! { <p class="text-xs text-muted">"Loading…"</p> }>
                {move || {
                    let id = id.clone();
                    Suspend::new(async move {
                        match log.await {
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                            Ok(list) if list.is_empty() => view! { <p class="text-xs text-muted">"Nothing delivered yet."</p> }.into_any(),
                            Ok(list) => view! {
                                <ul class="flex flex-col divide-y divide-line text-xs">
                                    {list.into_iter().map(|d| {
                                        let id = id.clone();
                                        let state_class = match d.state.as_str() {
                                            "delivered" => "text-accent",
                                            "failed" => "text-danger",
                                            _ => "text-warning",
                                        };
                                        let answer = match (d.response_status, d.last_error.clone()) {
                                            (Some(s), _) if d.state == "delivered" => format!("HTTP {s}"),
                                            (_, Some(e)) => e,
                                            (Some(s), None) => format!("HTTP {s}"),
                                            (None, None) => String::new(),
                                        };
                                        let attempts = if d.attempts == 1 { "1 attempt".to_owned() } else { format!("{} attempts", d.attempts) };
                                        let detail = match &d.next_attempt {
                                            Some(at) => format!("{attempts} · next {at}"),
                                            None => attempts,
                                        };
                                        view! {
                                            <li class="flex items-start gap-2 py-2" data-testid="delivery" data-state=d.state.clone()>
                                                <div class="flex min-w-0 flex-1 flex-col gap-0.5">
                                                    <div class="flex flex-wrap items-baseline gap-x-2">
                                                        <code>{d.event_type}</code>
                                                        <span class=state_class>{d.state.clone()}</span>
                                                        <span class="text-muted">{d.created.clone()}</span>
                                                    </div>
                                                    <span class="break-words text-muted">{if answer.is_empty() { detail } else { format!("{answer} · {detail}") }}</span>
                                                </div>
                                                <button type="button" class=BUTTON_QUIET data-testid="redeliver"
                                                    on:click=move |_| { redeliver.dispatch(RedeliverWebhook { id: id.clone(), delivery: d.id }); }>"Redeliver"</button>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
    }
}
