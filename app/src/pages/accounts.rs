//! Linked WhatsApp accounts. Linking by QR arrives with the session engine; until then the page
//! shows the real list (from `whatsapp_sessions`) and says plainly what is coming.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_accounts;
use crate::components::badge::{StatusBadge, status_info};
use crate::components::layout::PageHeader;
use crate::components::ui::{BUTTON_PRIMARY, CARD, EmptyState, ErrorNote, user_message};

#[component]
pub fn AccountsPage() -> impl IntoView {
    let accounts = Resource::new(|| (), |_| list_accounts());
    view! {
        <Title text="Accounts · Rarity Leads"/>
        <PageHeader title="Accounts" subtitle="WhatsApp numbers linked to your workspace">
            // Honestly disabled: linking needs the WhatsApp session engine (next issue); no fake flow.
            <div class="flex flex-col items-start gap-1 sm:items-end">
                <button type="button" class=BUTTON_PRIMARY disabled aria-describedby="add-account-note" data-testid="add-account">
                    "Add account"
                </button>
                <p id="add-account-note" class="text-xs text-muted" data-testid="add-account-note">
                    "Linking by QR code arrives with the session engine."
                </p>
            </div>
        </PageHeader>
        <Suspense fallback=|| view! { <p class="px-4 py-6 text-sm text-muted lg:px-8">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Err(e) => view! { <div class="px-4 py-6 lg:px-8"><ErrorNote message=Some(user_message(&e))/></div> }.into_any(),
                    Ok(view) if view.accounts.is_empty() => view! {
                        <p class="px-4 pt-4 text-xs text-muted lg:px-8" data-testid="account-quota">
                            {format!("0 of {} accounts", view.max_accounts)}
                        </p>
                        <div class="px-4 py-6 lg:px-8">
                            <EmptyState
                                title="No accounts yet — Add account"
                                hint="Link a WhatsApp number by scanning a QR code with your phone. Your accounts will appear here with their live status."
                            />
                        </div>
                    }.into_any(),
                    Ok(view) => {
                        let count = view.accounts.len();
                        view! {
                            <p class="px-4 pt-4 text-xs text-muted lg:px-8" data-testid="account-quota">
                                {format!("{count} of {} accounts", view.max_accounts)}
                            </p>
                            <ul class="grid gap-3 px-4 py-4 lg:grid-cols-2 lg:px-8">
                                {view.accounts.into_iter().map(|a| view! {
                                    <li class=format!("{CARD} flex items-center justify-between gap-3 p-4") data-testid="account-row">
                                        <div class="min-w-0">
                                            <p class="truncate text-sm font-medium">{a.name}</p>
                                            <p class="truncate text-xs text-muted">{a.phone.unwrap_or_else(|| "Not linked yet".into())}</p>
                                            // The reason is shown, not left to a hover tooltip (touch screens have none).
                                            <p class="mt-1 text-xs text-muted" data-testid="account-reason">
                                                {status_info(&a.status).1}
                                                {a.last_seen.map(|t| format!(" · last seen {t}"))}
                                            </p>
                                        </div>
                                        <StatusBadge status=a.status/>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
