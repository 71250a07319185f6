//! Linked WhatsApp accounts: live status badges with their reason, "Add account" with a QR modal
//! (the QR rendered on the server, replaced in place as the engine rotates it, a countdown, a
//! clear end state) or a pairing code, and rename, log out, reconnect, delete.
//!
//! Updates arrive on the browser socket (`crate::live`): the page applies account events and the
//! live QR / pairing-code events of the account being linked; the modal closes by itself when the
//! phone links it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::badge::{StatusBadge, status_info};
use crate::components::layout::PageHeader;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, EmptyState, ErrorNote, INPUT, sentence,
    user_message,
};
use crate::fns::AccountPayload;
use crate::fns::accounts::{
    AccountsView, LinkCode, accounts_page, create_account, delete_account, link_account,
    logout_account, reconnect_account, rename_account,
};
use crate::live::{LiveEvent, Update as LiveUpdate, use_live};

#[component]
pub fn AccountsPage() -> impl IntoView {
    let data = crate::resource::new(|| (), |_| accounts_page());
    view! {
        <Title text="Accounts · Rarity Leads"/>
        <Suspense fallback=|| view! { <p class="px-4 py-6 text-sm text-muted lg:px-8">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => view! { <Board view data/> }.into_any(),
                    Err(e) => view! {
                        <PageHeader title="Accounts" subtitle="WhatsApp numbers linked to your workspace"><span></span></PageHeader>
                        <div class="px-4 py-6 lg:px-8"><ErrorNote message=Some(user_message(&e))/></div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What the link modal shows.
#[derive(Clone, Debug, PartialEq)]
enum Linking {
    /// Asking the server.
    Starting,
    /// `qr` is the text the phone scans (also on the page as `data-qr`, for tests and tools).
    Qr {
        qr: String,
        svg: String,
        expires_at_ms: i64,
    },
    Code {
        code: String,
        expires_at_ms: i64,
    },
    /// The QR codes ran out (or linking failed): the user can try again.
    Ended(String),
}

fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

fn linked(a: &AccountPayload) -> bool {
    a.linked_at.is_some()
}

fn status_of(a: &AccountPayload) -> String {
    a.status.clone().unwrap_or_else(|| "inactive".into())
}

#[component]
fn Board(
    view: AccountsView,
    data: crate::resource::Res<Result<AccountsView, ServerFnError>>,
) -> impl IntoView {
    let max = view.max_accounts;
    let accounts = RwSignal::new(view.accounts);
    // The account whose link modal is open, and what it shows.
    let open: RwSignal<Option<String>> = RwSignal::new(None);
    let linking = RwSignal::new(Linking::Starting);
    let adding = RwSignal::new(false);
    let page_error: RwSignal<Option<String>> = RwSignal::new(None);

    if let Some(live) = use_live() {
        live.subscribe(view.cursor, move |update| match update {
            LiveUpdate::Account(a) => {
                let is_open = open.get_untracked().as_deref() == Some(a.id.as_str());
                if is_open && status_of(&a) == "active" {
                    open.set(None);
                }
                if is_open
                    && status_of(&a) == "inactive"
                    && a.status_reason.as_deref() != Some("linking")
                {
                    linking.set(Linking::Ended(
                        a.status_message
                            .clone()
                            .unwrap_or_else(|| "Linking ended.".into()),
                    ));
                }
                accounts.update(|list| match list.iter_mut().find(|x| x.id == a.id) {
                    Some(existing) => *existing = a,
                    None => list.push(a),
                });
            }
            LiveUpdate::AccountRemoved(id) => accounts.update(|list| list.retain(|a| a.id != id)),
            LiveUpdate::Live { account_id, event } => {
                if open.get_untracked().as_deref() != Some(account_id.as_str()) {
                    return;
                }
                match event {
                    LiveEvent::Qr {
                        qr,
                        svg: Some(svg),
                        expires_at,
                    } => linking.set(Linking::Qr {
                        qr,
                        svg,
                        expires_at_ms: crate::time::parse_ms(&expires_at).unwrap_or_default(),
                    }),
                    LiveEvent::PairingCode { code, expires_at } => linking.set(Linking::Code {
                        code,
                        expires_at_ms: crate::time::parse_ms(&expires_at).unwrap_or_default(),
                    }),
                    _ => {}
                }
            }
            LiveUpdate::Reset => data.refetch(),
            _ => {}
        });
    }

    // Starts linking an account by QR (or by code) and opens the modal.
    let start_link = move |id: String, method: &'static str, phone: String| {
        open.set(Some(id.clone()));
        linking.set(Linking::Starting);
        spawn_local(async move {
            match link_account(id, method.to_owned(), phone).await {
                Ok(LinkCode {
                    qr: Some(qr),
                    svg: Some(svg),
                    expires_at_ms,
                    ..
                }) => linking.set(Linking::Qr {
                    qr,
                    svg,
                    expires_at_ms,
                }),
                Ok(LinkCode {
                    code: Some(code),
                    expires_at_ms,
                    ..
                }) => linking.set(Linking::Code {
                    code,
                    expires_at_ms,
                }),
                Ok(_) => linking.set(Linking::Ended("Linking could not start.".into())),
                Err(e) => linking.set(Linking::Ended(user_message(&e))),
            }
        });
    };

    let count = move || accounts.with(Vec::len);
    let full = move || count() >= max as usize;
    view! {
        <PageHeader title="Accounts" subtitle="WhatsApp numbers linked to your workspace">
            <div class="flex flex-col items-start gap-1 sm:items-end">
                <button type="button" class=BUTTON_PRIMARY data-testid="add-account"
                    disabled=full on:click=move |_| adding.set(true)>
                    "Add account"
                </button>
                <p class="text-xs text-muted" data-testid="account-quota">
                    {move || if full() {
                        format!("{} of {max} accounts — the most you can link; delete one to add another", count())
                    } else {
                        format!("{} of {max} accounts", count())
                    }}
                </p>
            </div>
        </PageHeader>
        <div class="px-4 pt-4 lg:px-8"><ErrorNote message=page_error/></div>
        {move || adding.get().then(|| view! {
            <AddAccount on_close=move || adding.set(false)
                on_created=move |account: AccountPayload| {
                    adding.set(false);
                    let id = account.id.clone();
                    accounts.update(|list| if !list.iter().any(|a| a.id == account.id) { list.push(account) });
                    start_link(id, "qr", String::new());
                }/>
        })}
        <Show when=move || { count() > 0 } fallback=|| view! {
            <div class="px-4 py-6 lg:px-8">
                <EmptyState title="No accounts yet — Add account"
                    hint="Link a WhatsApp number by scanning a QR code with your phone (or typing a pairing code on it). Your accounts appear here with their live status."/>
            </div>
        }>
            <ul class="grid gap-3 px-4 py-4 lg:grid-cols-2 lg:px-8" data-testid="account-list">
                <For each=move || accounts.get() key=|a| (a.id.clone(), a.session_name.clone(), a.status.clone(), a.status_message.clone(), a.linked_at.clone(), a.last_seen.clone(), a.phone_number.clone())
                    let(account)>
                    <AccountCard account on_link=start_link on_error=move |m| page_error.set(Some(m))/>
                </For>
            </ul>
        </Show>
        {move || open.get().map(|id| {
            let name = accounts.with(|list| list.iter().find(|a| a.id == id).map(|a| a.session_name.clone())).unwrap_or_default();
            view! { <LinkModal id name linking on_close=move || open.set(None) on_start=start_link/> }
        })}
    }
}

#[component]
fn AddAccount(
    on_close: impl Fn() + Copy + Send + Sync + 'static,
    on_created: impl Fn(AccountPayload) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            match create_account(name.get_untracked()).await {
                Ok(account) => on_created(account),
                Err(e) => error.set(Some(e.message().to_owned())),
            }
            busy.set(false);
        });
    };
    view! {
        <div role="dialog" aria-modal="true" aria-labelledby="add-title" class="fixed inset-0 z-20 flex items-end justify-center bg-black/70 p-4 sm:items-center">
            <form class=format!("{CARD} w-full max-w-sm p-5 flex flex-col gap-3") on:submit=submit data-testid="add-account-form">
                <h2 id="add-title" class="text-base font-medium">"Add a WhatsApp account"</h2>
                <label for="account-name" class="text-xs text-muted">"Name (for you, e.g. “Sales line”)"</label>
                <input id="account-name" class=INPUT required maxlength="100" data-testid="account-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                <ErrorNote message=error/>
                <div class="flex justify-end gap-2">
                    <button type="button" class=BUTTON_QUIET on:click=move |_| on_close()>"Cancel"</button>
                    <button type="submit" class=BUTTON_PRIMARY disabled=move || busy.get() data-testid="add-account-submit">
                        {move || if busy.get() { "Adding…" } else { "Add and link" }}
                    </button>
                </div>
            </form>
        </div>
    }
}

#[component]
fn AccountCard(
    account: AccountPayload,
    on_link: impl Fn(String, &'static str, String) + Copy + Send + Sync + 'static,
    on_error: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let status = status_of(&account);
    let is_linked = linked(&account);
    let reason = account
        .status_message
        .clone()
        .unwrap_or_else(|| status_info(&status).1.to_owned());
    let last_seen = account.last_seen.as_deref().and_then(crate::time::parse_ms);
    let offset = crate::time::offset;
    let id = account.id.clone();
    let renaming = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let new_name = RwSignal::new(account.session_name.clone());
    let busy = RwSignal::new(false);
    let act = move |work: &'static str, id: String| {
        busy.set(true);
        spawn_local(async move {
            let result = match work {
                "logout" => logout_account(id).await,
                "reconnect" => reconnect_account(id).await,
                _ => delete_account(id).await,
            };
            if let Err(e) = result {
                on_error(user_message(&e));
            }
            busy.set(false);
        });
    };
    let rename = {
        let id = id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let id = id.clone();
            spawn_local(async move {
                match rename_account(id, new_name.get_untracked()).await {
                    Ok(_) => renaming.set(false),
                    Err(e) => on_error(sentence(e.message())),
                }
            });
        }
    };
    let (id_link, id_logout, id_reconnect, id_delete) =
        (id.clone(), id.clone(), id.clone(), id.clone());
    view! {
        <li class=format!("{CARD} flex flex-col gap-3 p-4") data-testid="account-row" data-account=id.clone() data-status=status.clone()>
            <div class="flex items-start justify-between gap-3">
                <div class="min-w-0">
                    <Show when=move || renaming.get() fallback={
                        let name = account.session_name.clone();
                        move || view! { <p class="truncate text-sm font-medium" data-testid="account-name">{name.clone()}</p> }
                    }>
                        <form class="flex gap-2" on:submit=rename.clone()>
                            <input class=INPUT maxlength="100" aria-label="Account name" data-testid="rename-input"
                                prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev))/>
                            <button type="submit" class=BUTTON_QUIET>"Save"</button>
                        </form>
                    </Show>
                    <p class="truncate text-xs text-muted" data-testid="account-phone">
                        {account.phone_number.clone().unwrap_or_else(|| "Not linked yet".into())}
                    </p>
                    <p class="mt-1 text-xs text-muted" data-testid="account-reason">
                        {reason}
                        {move || last_seen.map(|t| format!(" · last seen {} {}", crate::time::date(t, offset()), crate::time::clock(t, offset())))}
                    </p>
                </div>
                <StatusBadge status=status.clone()/>
            </div>
            <div class="flex flex-wrap gap-2">
                {(!is_linked).then(|| view! {
                    <button type="button" class=BUTTON_PRIMARY data-testid="link-account"
                        on:click=move |_| on_link(id_link.clone(), "qr", String::new())>"Link"</button>
                })}
                {(is_linked && status == "error").then(|| view! {
                    <button type="button" class=BUTTON_QUIET data-testid="reconnect-account" disabled=move || busy.get()
                        on:click=move |_| act("reconnect", id_reconnect.clone())>"Reconnect"</button>
                })}
                <button type="button" class=BUTTON_QUIET data-testid="rename-account"
                    on:click=move |_| renaming.update(|r| *r = !*r)>"Rename"</button>
                {is_linked.then(|| view! {
                    <button type="button" class=BUTTON_QUIET data-testid="logout-account" disabled=move || busy.get()
                        on:click=move |_| act("logout", id_logout.clone())>"Log out"</button>
                })}
                <button type="button" class=BUTTON_DANGER data-testid="delete-account"
                    on:click=move |_| confirming.set(true)>"Delete"</button>
            </div>
            <Show when=move || confirming.get()>
                <div role="alertdialog" aria-label="Confirm delete" class="flex flex-wrap items-center gap-2 rounded-md border border-danger/40 p-3 text-sm">
                    <p class="flex-1">"Delete this account and all its messages? The phone is logged out too."</p>
                    <button type="button" class=BUTTON_QUIET on:click=move |_| confirming.set(false)>"Keep"</button>
                    <button type="button" class=BUTTON_DANGER data-testid="confirm-delete" disabled=move || busy.get()
                        on:click={
                            let id = id_delete.clone();
                            move |_| act("delete", id.clone())
                        }>"Delete"</button>
                </div>
            </Show>
        </li>
    }
}

#[component]
fn LinkModal(
    id: String,
    name: String,
    linking: RwSignal<Linking>,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
    on_start: impl Fn(String, &'static str, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let now = RwSignal::new(now_ms());
    #[cfg(feature = "hydrate")]
    {
        let timer = set_interval_with_handle(
            move || now.set(now_ms()),
            std::time::Duration::from_millis(500),
        )
        .ok();
        on_cleanup(move || {
            if let Some(t) = timer {
                t.clear();
            }
        });
    }
    let left = move |expires: i64| ((expires - now.get()) / 1000).max(0);
    let by_phone = RwSignal::new(false);
    let phone = RwSignal::new(String::new());
    let (id_code, id_retry) = (id.clone(), id.clone());
    view! {
        <div role="dialog" aria-modal="true" aria-labelledby="link-title" class="fixed inset-0 z-20 flex items-end justify-center bg-black/70 p-4 sm:items-center" data-testid="link-modal">
            <div class=format!("{CARD} w-full max-w-md p-5 flex flex-col gap-4")>
                <div class="flex items-start justify-between gap-3">
                    <div>
                        <h2 id="link-title" class="text-base font-medium">"Link WhatsApp"</h2>
                        <p class="text-xs text-muted">{name}</p>
                    </div>
                    <button type="button" class=BUTTON_QUIET aria-label="Close" data-testid="close-link" on:click=move |_| on_close()>"Close"</button>
                </div>
                {move || match linking.get() {
                    Linking::Starting => view! { <p class="text-sm text-muted" data-testid="link-starting">"Asking WhatsApp for a code…"</p> }.into_any(),
                    Linking::Qr { qr, svg, expires_at_ms } => view! {
                        <p class="text-sm text-muted">"On your phone: WhatsApp → Settings → Linked devices → Link a device, then scan this code."</p>
                        <div class="mx-auto w-full max-w-[18rem] rounded-md bg-white p-2 [&>svg]:h-auto [&>svg]:w-full" data-testid="qr" data-qr=qr inner_html=svg></div>
                        <p class="text-center text-xs text-muted" aria-live="polite" data-testid="qr-countdown">
                            {move || format!("Refreshes in {} s", left(expires_at_ms))}
                        </p>
                        <crate::demo::DemoLinkButton code=None/>
                    }.into_any(),
                    Linking::Code { code, expires_at_ms } => view! {
                        <p class="text-sm text-muted">"On your phone: WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, and type:"</p>
                        <p class="text-center font-mono text-3xl tracking-widest" data-testid="pairing-code">{code.clone()}</p>
                        <crate::demo::DemoLinkButton code=Some(code)/>
                        <p class="text-center text-xs text-muted" aria-live="polite" data-testid="code-countdown">
                            {move || format!("Valid for {} s", left(expires_at_ms))}
                        </p>
                    }.into_any(),
                    Linking::Ended(message) => view! {
                        <p role="alert" class="text-sm text-danger" data-testid="link-ended">{sentence(&message)}</p>
                        <button type="button" class=BUTTON_PRIMARY data-testid="link-retry"
                            on:click={
                                let id = id_retry.clone();
                                move |_| on_start(id.clone(), "qr", String::new())
                            }>"Try again"</button>
                    }.into_any(),
                }}
                <Show when=move || !by_phone.get() && !matches!(linking.get(), Linking::Code { .. })>
                    <button type="button" class="text-left text-sm text-fg underline underline-offset-4 min-h-10" data-testid="link-by-phone"
                        on:click=move |_| by_phone.set(true)>"Link with phone number instead"</button>
                </Show>
                <Show when=move || by_phone.get() && !matches!(linking.get(), Linking::Code { .. })>
                    <form class="flex flex-col gap-2" data-testid="code-form" on:submit={
                        let id = id_code.clone();
                        move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            on_start(id.clone(), "code", phone.get_untracked());
                        }
                    }>
                        <label for="link-phone" class="text-xs text-muted">"The phone number of this WhatsApp account"</label>
                        <input id="link-phone" type="tel" class=INPUT placeholder="+49 151 12345678" required data-testid="link-phone"
                            prop:value=move || phone.get() on:input=move |ev| phone.set(event_target_value(&ev))/>
                        <button type="submit" class=BUTTON_PRIMARY data-testid="get-code">"Get a pairing code"</button>
                    </form>
                </Show>
            </div>
        </div>
    }
}
