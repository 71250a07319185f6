//! The conversation list: search by name or number, unread counts, the account each chat is on,
//! "typing…", and live reordering as messages arrive.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{ChatContext, digits};
use crate::components::ui::{EmptyState, ErrorNote, INPUT, user_message};
use crate::fns::MessagePayload;
use crate::fns::chats::{ConversationItem, ConversationsView, conversations};
use crate::live::{Update as LiveUpdate, use_live};

#[component]
pub fn ConversationList(selected: Memo<Option<String>>) -> impl IntoView {
    let data = crate::resource::new(|| (), |_| conversations(String::new(), String::new()));
    view! {
        <header class="border-b border-line px-4 py-4">
            <h1 class="text-xl font-medium tracking-tight">"Chats"</h1>
        </header>
        <Suspense fallback=|| view! { <p class="px-4 py-6 text-sm text-muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => view! { <Items view selected data/> }.into_any(),
                    Err(e) => view! { <div class="p-4"><ErrorNote message=Some(user_message(&e))/></div> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn preview(m: &MessagePayload) -> String {
    let text = m.summary();
    if m.direction == "out" {
        format!("You: {text}")
    } else {
        text
    }
}

#[component]
fn Items(
    view: ConversationsView,
    selected: Memo<Option<String>>,
    data: crate::resource::Res<Result<ConversationsView, ServerFnError>>,
) -> impl IntoView {
    let ctx = expect_context::<ChatContext>();
    ctx.accounts.set(view.accounts.clone());
    let items = RwSignal::new(view.items);
    let search = RwSignal::new(String::new());
    let search_error: RwSignal<Option<String>> = RwSignal::new(None);
    let generation = StoredValue::new(0u64);

    if let Some(live) = use_live() {
        live.subscribe(view.cursor, move |update| {
            let (m, is_new) = match update {
                LiveUpdate::Message(m) => (m, true),
                LiveUpdate::MessageStatus(m) => (m, false),
                LiveUpdate::Reset => return data.refetch(),
                _ => return,
            };
            let Some(lead_id) = m.lead_id.clone() else {
                return;
            };
            let open = selected.get_untracked().as_deref() == Some(lead_id.as_str());
            let mut fresh = false;
            items.update(
                |list| match list.iter().position(|i| i.lead_id == lead_id) {
                    Some(at) => {
                        let mut item = list.remove(at);
                        let newer = crate::time::parse_ms(&m.created_at)
                            >= crate::time::parse_ms(&item.last.created_at);
                        if item.last.id == m.id || newer {
                            item.last = m.clone();
                        }
                        if is_new && m.direction == "in" && !open {
                            item.unread += 1;
                        }
                        if !is_new && m.direction == "in" && m.status == "read" {
                            item.unread = (item.unread - 1).max(0);
                        }
                        // A status change keeps the list order; a new message moves it to the top.
                        let at = if is_new { 0 } else { at.min(list.len()) };
                        list.insert(at, item);
                    }
                    None if is_new && search.get_untracked().is_empty() => {
                        fresh = true;
                        list.insert(
                            0,
                            ConversationItem {
                                lead_id: lead_id.clone(),
                                name: m.phone_number.clone().unwrap_or_default(),
                                phone: m.phone_number.clone().unwrap_or_default(),
                                unread: i64::from(m.direction == "in" && !open),
                                last: m.clone(),
                            },
                        );
                    }
                    None => {}
                },
            );
            // A conversation new to this page shows its number at once and the lead's name as
            // soon as the server says it (the contact's WhatsApp name, when it gave one).
            if fresh && let Some(phone) = m.phone_number.clone() {
                spawn_local(async move {
                    let Ok(found) = conversations(phone, String::new()).await else {
                        return;
                    };
                    if let Some(named) = found.items.into_iter().find(|i| i.lead_id == lead_id) {
                        items.update(|list| {
                            if let Some(item) = list.iter_mut().find(|i| i.lead_id == lead_id) {
                                item.name = named.name;
                            }
                        });
                    }
                });
            }
        });
    }

    // Debounced server search: the newest request wins.
    let on_search = move |value: String| {
        search.set(value.clone());
        let mine = generation.get_value() + 1;
        generation.set_value(mine);
        spawn_local(async move {
            #[cfg(feature = "hydrate")]
            gloo_sleep(250).await;
            if generation.get_value() != mine {
                return;
            }
            match conversations(value, String::new()).await {
                Ok(found) if generation.get_value() == mine => {
                    search_error.set(None);
                    items.set(found.items);
                }
                Ok(_) => {}
                Err(e) => search_error.set(Some(user_message(&e))),
            }
        });
    };

    let account_name = move |id: &str| {
        ctx.accounts.with(|list| {
            (list.len() > 1)
                .then(|| list.iter().find(|a| a.id == id).map(|a| a.name.clone()))
                .flatten()
        })
    };
    view! {
        <div class="border-b border-line p-3">
            <label for="chat-search" class="sr-only">"Search conversations"</label>
            <input id="chat-search" type="search" class=INPUT placeholder="Search by name or number"
                data-testid="chat-search" prop:value=move || search.get()
                on:input=move |ev| on_search(event_target_value(&ev))/>
            <ErrorNote message=search_error/>
        </div>
        <Show when=move || !items.with(Vec::is_empty) fallback=move || view! {
            <div class="p-4">
                {move || if search.get().is_empty() {
                    view! {
                        <EmptyState title="No conversations yet"
                            hint="Link a WhatsApp account on the Accounts page; messages from your leads appear here as they arrive.">
                            <a href="/accounts" class="inline-flex min-h-10 items-center text-sm text-fg underline underline-offset-4">"Go to Accounts"</a>
                        </EmptyState>
                    }.into_any()
                } else {
                    view! { <p class="text-sm text-muted" data-testid="no-matches">"No conversation matches."</p> }.into_any()
                }}
            </div>
        }>
            <ul class="min-h-0 flex-1 overflow-y-auto" aria-live="polite" data-testid="conversation-list">
                <For each=move || items.get()
                    key=|i| (i.lead_id.clone(), i.last.id.clone(), i.last.status.clone(), i.unread, i.name.clone())
                    let(item)>
                    {
                        let lead = item.lead_id.clone();
                        let phone_digits = digits(&item.phone);
                        let current = {
                            let lead = lead.clone();
                            move || selected.get().as_deref() == Some(lead.as_str())
                        };
                        let typing = move || ctx.typing.with(|t| t.get(&phone_digits).copied().unwrap_or(false));
                        let at = crate::time::parse_ms(&item.last.created_at).unwrap_or_default();
                        let on = account_name(&item.last.account_id);
                        view! {
                            <li>
                                <a href=format!("/chats?lead={lead}") data-testid="conversation-row" data-lead=lead.clone()
                                    aria-current=move || current().then_some("page")
                                    class="block border-b border-line px-4 py-3 min-h-14 transition-colors duration-150 hover:bg-raised aria-[current=page]:bg-raised">
                                    <div class="flex items-baseline justify-between gap-2">
                                        <p class="truncate text-sm font-medium" data-testid="conversation-name">{item.name.clone()}</p>
                                        <span class="shrink-0 text-xs text-muted">{move || crate::time::short(at, now_ms(), crate::time::offset())}</span>
                                    </div>
                                    <div class="flex items-center justify-between gap-2">
                                        <p class="truncate text-sm text-muted" data-testid="conversation-preview">
                                            {move || if typing() {
                                                view! { <span class="text-accent" data-testid="list-typing">"typing…"</span> }.into_any()
                                            } else {
                                                view! { <span>{preview(&item.last)}</span> }.into_any()
                                            }}
                                        </p>
                                        {(item.unread > 0).then(|| view! {
                                            <span class="shrink-0 rounded-full bg-accent px-1.5 text-xs font-medium text-black" data-testid="unread-count"
                                                aria-label=format!("{} unread", item.unread)>{item.unread}</span>
                                        })}
                                    </div>
                                    {
                                        // The number under a name (a sales team dials it), and the account it came in on.
                                        let number = (item.name != item.phone).then(|| item.phone.clone());
                                        let line = [number, on.map(|name| format!("via {name}"))]
                                            .into_iter()
                                            .flatten()
                                            .collect::<Vec<_>>()
                                            .join(" · ");
                                        (!line.is_empty()).then(|| view! { <p class="truncate text-xs text-muted" data-testid="conversation-meta">{line}</p> })
                                    }
                                </a>
                            </li>
                        }
                    }
                </For>
            </ul>
        </Show>
    }
}

pub(crate) fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono_now()
    }
}

#[cfg(all(not(feature = "hydrate"), feature = "ssr"))]
fn chrono_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(all(not(feature = "hydrate"), not(feature = "ssr")))]
fn chrono_now() -> i64 {
    0
}

/// Waits in the browser.
#[cfg(feature = "hydrate")]
pub(crate) async fn gloo_sleep(ms: u32) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = tx.send(());
        },
        std::time::Duration::from_millis(u64::from(ms)),
    );
    let _ = rx.await;
}
