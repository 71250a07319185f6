//! The signed-in user's settings: who they are, privacy and retention, their data (export, audit
//! log, deleting the account), and signing out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::me;
use crate::components::form::{field_error, form_error};
use crate::components::layout::PageHeader;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, ErrorNote, INPUT, user_message,
};
use crate::privacy::{
    DELETE_ACCOUNT_PHRASE, DeleteMyAccount, PrivacyView, SavePrivacy, audit_log, privacy_settings,
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = crate::resource::new(|| (), |_| me());
    let save = ServerAction::<SavePrivacy>::new();
    let privacy = crate::resource::new(|| (), |_| privacy_settings());
    let audit = crate::resource::new(move || save.version().get(), |_| audit_log());
    view! {
        <Title text="Settings · Rarity Leads"/>
        <PageHeader title="Settings" subtitle="Your account, privacy and data"><span></span></PageHeader>
        <div class="flex max-w-2xl flex-col gap-4 px-4 py-6 lg:px-8">
            <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(me) => view! {
                            <section class=format!("{CARD} p-4")>
                                <h2 class="text-sm font-medium">"Account"</h2>
                                <p class="mt-2 text-sm text-muted">"Signed in as "
                                    <span class="text-fg" data-testid="settings-email">{me.email}</span></p>
                                <p class="mt-1 text-sm text-muted">
                                    {format!("You are signed out automatically after {} minutes without activity.", me.idle_timeout_minutes)}
                                </p>
                            </section>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match privacy.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(current) => view! { <PrivacyForm save current/> }.into_any(),
                    }
                })}
            </Suspense>
            <crate::keys::ApiKeys/>
            <crate::webhooks::Webhooks/>
            <section class=format!("{CARD} flex flex-col gap-3 p-4") aria-labelledby="your-data">
                <h2 id="your-data" class="text-sm font-medium">"Your data"</h2>
                <p class="text-sm text-muted">
                    "A ZIP of your leads, conversations, messages, templates, consent records and audit log, as CSV and JSON. Large accounts take a while; the bar shows how far it is."
                </p>
                <crate::components::download::DownloadWithProgress href="/api/export".to_owned()
                    label="Export my data" class=BUTTON_QUIET testid="export-all"/>
            </section>
            <section class=format!("{CARD} flex flex-col gap-3 p-4") aria-labelledby="audit-heading">
                <h2 id="audit-heading" class="text-sm font-medium">"Audit log"</h2>
                <p class="text-sm text-muted">"Sign-ins, linked accounts, exports, erasures, opt-outs and setting changes. The newest 50."</p>
                <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match audit.await {
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                            Ok(entries) if entries.is_empty() => view! {
                                <p class="text-sm text-muted">"Nothing yet."</p>
                            }.into_any(),
                            Ok(entries) => view! {
                                <ul class="flex flex-col divide-y divide-line text-sm" data-testid="audit-log">
                                    {entries.into_iter().map(|e| view! {
                                        <li class="flex flex-col gap-0.5 py-2 sm:flex-row sm:justify-between" data-testid="audit-entry" data-action=e.action.clone()>
                                            <span>{e.summary}</span>
                                            <span class="text-xs text-muted">{e.at}</span>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <DeleteAccount/>
            <section class=format!("{CARD} flex flex-col gap-3 p-4 sm:flex-row")>
                <form method="post" action="/auth/logout">
                    <button type="submit" class=BUTTON_QUIET data-testid="logout">"Log out"</button>
                </form>
                <form method="post" action="/auth/logout-all">
                    <button type="submit" class=BUTTON_DANGER data-testid="logout-all">"Log out everywhere"</button>
                </form>
            </section>
        </div>
    }
}

/// A number-of-days input: blank keeps everything.
#[component]
fn DaysField(
    label: &'static str,
    name: &'static str,
    value: Option<i32>,
    hint: &'static str,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    view! {
        <div class="flex flex-col gap-1.5">
            <label for=id.clone() class="text-xs text-muted">{label}</label>
            <input id=id name=name type="number" min="1" max="3650" inputmode="numeric"
                placeholder="Keep" value=value.map(|d| d.to_string()).unwrap_or_default()
                class=INPUT data-testid=format!("input-{name}")
                aria-invalid=move || error.get().is_some().then_some("true")/>
            <p class="text-xs text-muted">{hint}</p>
            <p class="text-xs text-danger" data-testid=format!("error-{name}")>{move || error.get()}</p>
        </div>
    }
}

#[component]
fn PrivacyForm(save: ServerAction<SavePrivacy>, current: PrivacyView) -> impl IntoView {
    let fields = &[
        "keywords",
        "reply",
        "messages_days",
        "media_days",
        "closed_leads_days",
    ];
    let general = form_error(save, fields);
    let keywords_error = field_error(save, "keywords");
    let reply_error = field_error(save, "reply");
    let saved = move || matches!(save.value().get(), Some(Ok(_))).then_some("Saved.");
    view! {
        <section class=format!("{CARD} p-4") aria-labelledby="privacy-heading">
            <h2 id="privacy-heading" class="text-sm font-medium">"Privacy and retention"</h2>
            <p class="mt-1 text-sm text-muted">
                "Older data is deleted automatically by a job that runs every hour. Leave a period empty to keep that data."
            </p>
            <ActionForm action=save attr:class="mt-4 flex flex-col gap-4" attr:data-testid="privacy-form">
                <div class="grid gap-4 sm:grid-cols-3">
                    <DaysField label="Messages (days)" name="messages_days" value=current.messages_days
                        hint="Sent and received messages." error=field_error(save, "messages_days")/>
                    <DaysField label="Media (days)" name="media_days" value=current.media_days
                        hint="No media is stored yet." error=field_error(save, "media_days")/>
                    <DaysField label="Closed leads (days)" name="closed_leads_days" value=current.closed_leads_days
                        hint="Won or lost, unchanged this long." error=field_error(save, "closed_leads_days")/>
                </div>
                <div class="flex flex-col gap-1.5">
                    <label for="field-keywords" class="text-xs text-muted">"Opt-out keywords"</label>
                    <input id="field-keywords" name="keywords" value=current.keywords class=INPUT data-testid="input-keywords"/>
                    <p class="text-xs text-muted">"Comma-separated. A message that is exactly one of these (any case, accents ignored) opts the contact out at once."</p>
                    <p class="text-xs text-danger" data-testid="error-keywords">{move || keywords_error.get()}</p>
                </div>
                <div class="flex flex-col gap-1.5">
                    <label for="field-reply" class="text-xs text-muted">"Automatic reply to an opt-out"</label>
                    <textarea id="field-reply" name="reply" rows="2" class=format!("{INPUT} py-2") data-testid="input-reply"
                        placeholder="Empty: no reply">{current.reply}</textarea>
                    <p class="text-xs text-danger" data-testid="error-reply">{move || reply_error.get()}</p>
                </div>
                <ErrorNote message=general/>
                <div class="flex items-center gap-3">
                    <button type="submit" class=BUTTON_PRIMARY data-testid="privacy-save"
                        disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                    <p aria-live="polite" class="text-xs text-accent" data-testid="privacy-saved">{saved}</p>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn DeleteAccount() -> impl IntoView {
    let delete = ServerAction::<DeleteMyAccount>::new();
    let open = RwSignal::new(false);
    let error = Signal::derive(move || match delete.value().get() {
        Some(Err(e)) => Some(e.message().to_owned()),
        _ => None,
    });
    view! {
        <section class=format!("{CARD} flex flex-col gap-3 p-4") aria-labelledby="delete-heading">
            <h2 id="delete-heading" class="text-sm font-medium">"Delete account"</h2>
            <p class="text-sm text-muted">
                "Logs out every linked WhatsApp account and erases all your data: leads, messages, templates, consent records and settings. This cannot be undone."
            </p>
            <Show when=move || open.get()
                fallback=move || view! {
                    <div><button type="button" class=BUTTON_DANGER on:click=move |_| open.set(true)
                        data-testid="delete-account">"Delete account…"</button></div>
                }>
                <ActionForm action=delete attr:class="flex flex-col gap-2 sm:flex-row sm:items-end">
                    <div class="flex flex-1 flex-col gap-1.5">
                        <label for="field-confirm" class="text-xs text-muted">
                            {format!("Type \u{201c}{DELETE_ACCOUNT_PHRASE}\u{201d} to confirm")}
                        </label>
                        <input id="field-confirm" name="confirm" autocomplete="off" class=INPUT data-testid="input-confirm"/>
                    </div>
                    <button type="submit" class=BUTTON_DANGER data-testid="delete-account-confirm">"Delete everything"</button>
                    <button type="button" class=BUTTON_QUIET on:click=move |_| open.set(false)>"Cancel"</button>
                </ActionForm>
                <ErrorNote message=error/>
            </Show>
        </section>
    }
}
