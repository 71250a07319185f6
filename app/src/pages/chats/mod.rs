//! Chats: the conversation list, the open thread and the lead beside it — side by side at
//! ≥ 1024 px; below that the list and the thread are separate views (`?lead=<id>` opens one, a
//! back link returns). Everything updates live from the browser socket (`crate::live`): new
//! messages and statuses, typing and presence.

mod lead_panel;
mod list;
mod media;
pub(crate) mod thread;

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::fns::chats::AccountChoice;
use crate::live::{LiveEvent, Update as LiveUpdate, use_live};

/// What the pages of this view share: who is typing, who is online, the accounts to send from.
#[derive(Clone, Copy)]
pub(crate) struct ChatContext {
    /// By phone digits: typing right now.
    pub typing: RwSignal<HashMap<String, bool>>,
    /// By phone digits: (online, last seen RFC 3339).
    pub presence: RwSignal<HashMap<String, (bool, Option<String>)>>,
    pub accounts: RwSignal<Vec<AccountChoice>>,
}

impl ChatContext {
    pub(crate) fn new() -> Self {
        Self {
            typing: RwSignal::new(HashMap::new()),
            presence: RwSignal::new(HashMap::new()),
            accounts: RwSignal::new(Vec::new()),
        }
    }
}

/// The digits of a phone number or of a WhatsApp JID's user part (how typing and presence events
/// name a contact, and how leads store it).
pub(crate) fn digits(phone_or_jid: &str) -> String {
    phone_or_jid
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The open thread (messages, composer, media, the lead beside it) is its own WASM chunk
/// (`#[lazy]`): `/chats` shows the conversation list without it, and opening a conversation
/// downloads it once (the server's page preloads it when it renders a thread).
#[lazy]
fn open_thread(lead_id: String) -> AnyView {
    view! { <thread::ThreadView lead_id/> }.into_any()
}

/// When the browser opens `/chats` on a thread (`?lead=`), the thread's chunk is loaded with the
/// page's, before hydration: the server-rendered thread then hydrates in the same pass as the
/// list, as it did before it was split off (see `crate::routes::ChatsRoute`).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) async fn preload_thread() {
    #[cfg(feature = "hydrate")]
    if window()
        .location()
        .search()
        .is_ok_and(|query| query.contains("lead="))
    {
        __preload_open_thread().await;
    }
}

#[component]
pub fn ChatsPage() -> impl IntoView {
    let query = use_query_map();
    let selected = Memo::new(move |_| query.read().get("lead").filter(|l| !l.is_empty()));
    let ctx = ChatContext::new();
    provide_context(ctx);
    if let Some(live) = use_live() {
        // Live-only events need no cursor: typing and presence are shown from now on.
        live.subscribe_live(move |update| {
            if let LiveUpdate::Live { event, .. } = update {
                match event {
                    LiveEvent::Typing { chat, state } => {
                        ctx.typing.try_update(|t| {
                            t.insert(digits(&chat), state == "composing" || state == "recording");
                        });
                    }
                    LiveEvent::Presence {
                        chat,
                        available,
                        last_seen,
                    } => {
                        ctx.presence.try_update(|p| {
                            p.insert(digits(&chat), (available, last_seen));
                        });
                    }
                    _ => {}
                }
            }
        });
    }
    view! {
        <Title text="Chats · Rarity Leads"/>
        <div class="lg:grid lg:h-screen lg:grid-cols-[20rem_1fr_18rem]">
            // Below 1024 px the list gives way to an open thread.
            <section aria-label="Conversations"
                class=move || if selected.get().is_some() {
                    "hidden lg:flex lg:min-h-0 lg:flex-col lg:border-r lg:border-line"
                } else {
                    "flex min-h-0 flex-col lg:border-r lg:border-line"
                }>
                <list::ConversationList selected/>
            </section>
            {move || match selected.get() {
                Some(lead_id) => Suspend::new(open_thread(lead_id)).into_any(),
                None => view! {
                    <section aria-label="Thread" class="hidden lg:flex lg:items-center lg:justify-center">
                        <p class="text-sm text-muted">"Select a conversation to read and reply."</p>
                    </section>
                    <aside aria-label="Lead" class="hidden lg:block lg:border-l lg:border-line lg:p-4">
                        <p class="text-sm text-muted">"The lead's details show here."</p>
                    </aside>
                }.into_any(),
            }}
        </div>
    }
}
