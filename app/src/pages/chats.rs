//! Conversations: list, thread and lead panel side by side at ≥1024 px; the list alone below.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_conversations;
use crate::components::layout::PageHeader;
use crate::components::ui::{EmptyState, ErrorNote, user_message};

#[component]
pub fn ChatsPage() -> impl IntoView {
    let conversations = Resource::new(|| (), |_| list_conversations());
    view! {
        <Title text="Chats · Rarity Leads"/>
        <PageHeader title="Chats" subtitle="Conversations with your leads"><span></span></PageHeader>
        <div class="lg:grid lg:grid-cols-[20rem_1fr_18rem] lg:min-h-[calc(100vh-5.5rem)]">
            <section aria-label="Conversations" class="lg:border-r lg:border-line">
                <Suspense fallback=|| view! { <p class="px-4 py-6 text-sm text-muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match conversations.await {
                            Err(e) => view! { <div class="p-4"><ErrorNote message=Some(user_message(&e))/></div> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <div class="p-4 lg:p-6">
                                    <EmptyState
                                        title="No conversations yet"
                                        hint="Link a WhatsApp account on the Accounts page; messages from your leads will appear here as they arrive."
                                    >
                                        <a href="/accounts" class="inline-flex min-h-10 items-center text-sm text-fg underline underline-offset-4">"Go to Accounts"</a>
                                    </EmptyState>
                                </div>
                            }.into_any(),
                            Ok(list) => view! {
                                <ul aria-live="polite">
                                    {list.into_iter().map(|c| view! {
                                        <li class="border-b border-line px-4 py-3" data-testid="conversation-row">
                                            <div class="flex items-baseline justify-between gap-2">
                                                <p class="truncate text-sm font-medium">{c.lead_name.clone().unwrap_or_else(|| c.phone.clone())}</p>
                                                <span class="shrink-0 text-xs text-muted">{c.at}</span>
                                            </div>
                                            <p class="truncate text-sm text-muted">{c.preview}</p>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
            <section aria-label="Thread" class="hidden lg:flex lg:items-center lg:justify-center">
                <p class="text-sm text-muted">"Select a conversation to read and reply."</p>
            </section>
            <aside aria-label="Lead" class="hidden lg:block lg:border-l lg:border-line lg:p-4">
                <p class="text-sm text-muted">"Lead details show here."</p>
            </aside>
        </div>
    }
}
