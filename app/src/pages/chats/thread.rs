//! One conversation: the newest messages on open, older pages as the user scrolls up, and at
//! most [`WINDOW`] messages in the page at once (a 10,000-message thread stays light); day
//! separators; ticks (queued clock, sent, delivered, read, failed with Retry); "typing…" and
//! online / last seen in the header; a composer with the account to send from, Enter to send,
//! Shift+Enter for a new line, the message shown at once and its tick moving as events arrive;
//! our typing sent while composing.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::lead_panel::LeadPanel;
use super::list::now_ms;
use super::media::{MediaView, UploadProgress, Uploading};
use super::{ChatContext, digits};
use crate::components::ui::{BUTTON_PRIMARY, BUTTON_QUIET, ErrorNote, INPUT, user_message};
use crate::fns::MessagePayload;
use crate::fns::chats::{
    ThreadView as ThreadData, follow_presence, mark_read, older_messages, retry_message,
    send_message, thread, typing,
};
use crate::live::{Update as LiveUpdate, use_live};

/// Messages rendered at most; the rest stay in memory (or on the server).
pub const WINDOW: usize = 150;
/// Messages added or removed at the window's edge per step.
const STEP: usize = 50;
/// How close to an edge (px) the window moves.
const EDGE: i32 = 160;

#[component]
pub fn ThreadView(lead_id: String) -> impl IntoView {
    let id = lead_id.clone();
    let data = crate::resource::new(move || id.clone(), thread);
    view! {
        <Suspense fallback=|| view! { <section class="flex items-center justify-center p-6"><p class="text-sm text-muted">"Loading…"</p></section> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => view! { <Thread view data/> }.into_any(),
                    Err(e) => view! {
                        <section class="p-4 lg:col-span-2">
                            {(!crate::pages::embed::is_embedded()).then(|| view! {
                                <a href="/chats" class="inline-flex min-h-10 items-center text-sm text-muted lg:hidden">"← Chats"</a>
                            })}
                            <ErrorNote message=Some(user_message(&e))/>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A message not confirmed by the server yet (optimistic send).
fn pending_id(key: &str) -> String {
    format!("pending-{key}")
}

fn client_key() -> String {
    #[cfg(feature = "hydrate")]
    {
        format!(
            "{:x}{:08x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 4_294_967_295.0) as u64
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

fn iso_now() -> String {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::new_0()
            .to_iso_string()
            .as_string()
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

#[component]
fn Thread(
    view: ThreadData,
    data: crate::resource::Res<Result<ThreadData, ServerFnError>>,
) -> impl IntoView {
    let ctx = expect_context::<ChatContext>();
    let lead_id = view.lead.id.clone();
    let phone_digits = digits(&view.lead.phone);
    let lead = RwSignal::new(view.lead);
    let total = view.messages.len();
    let msgs = RwSignal::new(view.messages);
    let before = RwSignal::new(view.before);
    let start = RwSignal::new(total.saturating_sub(WINDOW));
    let end = RwSignal::new(total);
    let loading = RwSignal::new(false);
    let unseen = RwSignal::new(0usize);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let scroller = NodeRef::<leptos::html::Div>::new();
    // The lead's consent: fetched on open and again when they write (a STOP opts them out).
    let consent_version = RwSignal::new(0u32);
    let consent = {
        let lead_id = lead_id.clone();
        crate::resource::new(
            move || consent_version.get(),
            move |_| crate::privacy::lead_consent(lead_id.clone()),
        )
    };
    let account = RwSignal::new(view.default_account.clone().or_else(|| {
        ctx.accounts.with_untracked(|list| {
            list.iter()
                .find(|a| a.status == "active")
                .or(list.first())
                .map(|a| a.id.clone())
        })
    }));

    // Marks the thread read (debounced: a burst of messages makes one call).
    let read_generation = StoredValue::new(0u64);
    let mark = {
        let lead_id = lead_id.clone();
        move || {
            let mine = read_generation.get_value() + 1;
            read_generation.set_value(mine);
            let lead_id = lead_id.clone();
            spawn_local(async move {
                #[cfg(feature = "hydrate")]
                super::list::gloo_sleep(300).await;
                if read_generation.get_value() == mine {
                    let _ = mark_read(lead_id).await;
                }
            });
        }
    };

    let at_bottom = move || {
        scroller
            .get_untracked()
            .is_none_or(|el| el.scroll_height() - el.scroll_top() - el.client_height() < EDGE)
    };

    if let Some(live) = use_live() {
        let lead_id = lead_id.clone();
        let mark = mark.clone();
        live.subscribe(view.cursor, move |update| {
            let (m, is_new) = match update {
                LiveUpdate::Message(m) => (m, true),
                LiveUpdate::MessageStatus(m) => (m, false),
                LiveUpdate::Reset => return data.refetch(),
                _ => return,
            };
            if m.lead_id.as_deref() != Some(lead_id.as_str()) {
                return;
            }
            let follow = end.get_untracked() == msgs.with_untracked(Vec::len) && at_bottom();
            let mut appended = false;
            msgs.update(|list| {
                if let Some(existing) = list.iter_mut().find(|x| x.id == m.id) {
                    *existing = m.clone();
                    return;
                }
                // Our own message, queued a moment ago, whose answer has not arrived yet.
                if m.direction == "out"
                    && let Some(pending) = list.iter_mut().find(|x| {
                        x.id.starts_with("pending-")
                            && x.text == m.text
                            && x.account_id == m.account_id
                    })
                {
                    *pending = m.clone();
                    return;
                }
                if is_new {
                    list.push(m.clone());
                    appended = true;
                }
            });
            if appended {
                if follow {
                    let len = msgs.with_untracked(Vec::len);
                    end.set(len);
                    start.set(len.saturating_sub(WINDOW).max(start.get_untracked()));
                    scroll_to_bottom(scroller);
                } else {
                    unseen.update(|n| *n += 1);
                }
                if m.direction == "in" {
                    mark();
                    consent_version.update(|v| *v += 1);
                }
            }
        });
    }

    // On open: read, follow presence, show the newest.
    Effect::new({
        let lead_id = lead_id.clone();
        let mark = mark.clone();
        move |_| {
            mark();
            if let Some(account) = account.get_untracked() {
                let lead_id = lead_id.clone();
                spawn_local(async move {
                    let _ = follow_presence(account, lead_id).await;
                });
            }
            scroll_to_bottom(scroller);
        }
    });

    let on_scroll = {
        let lead_id = lead_id.clone();
        move |_| {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            let len = msgs.with_untracked(Vec::len);
            if el.scroll_height() - el.scroll_top() - el.client_height() < EDGE {
                if end.get_untracked() < len {
                    keep_anchor(scroller, move || {
                        let e = (end.get_untracked() + STEP).min(len);
                        end.set(e);
                        start.set(e.saturating_sub(WINDOW));
                    });
                } else {
                    unseen.set(0);
                }
            }
            if el.scroll_top() < EDGE && !loading.get_untracked() {
                if start.get_untracked() > 0 {
                    keep_anchor(scroller, move || {
                        let s = start.get_untracked().saturating_sub(STEP);
                        start.set(s);
                        end.set(end.get_untracked().min(s + WINDOW));
                    });
                } else if let Some(cursor) = before.get_untracked() {
                    loading.set(true);
                    let lead_id = lead_id.clone();
                    spawn_local(async move {
                        match older_messages(lead_id, cursor).await {
                            Ok(page) => {
                                let n = page.messages.len();
                                keep_anchor(scroller, move || {
                                    msgs.update(|list| {
                                        let mut older = page.messages.clone();
                                        older.append(list);
                                        *list = older;
                                    });
                                    before.set(page.before.clone());
                                    let s = n.saturating_sub(STEP.min(n));
                                    start.set(s);
                                    end.set((end.get_untracked() + n).min(s + WINDOW));
                                });
                            }
                            Err(e) => error.set(Some(user_message(&e))),
                        }
                        loading.set(false);
                    });
                }
            }
        }
    };

    let visible = Memo::new(move |_| {
        let (s, e) = (start.get(), end.get());
        msgs.with(|list| {
            let e = e.min(list.len());
            let s = s.min(e);
            let offset = crate::time::offset();
            list[s..e]
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let at = crate::time::parse_ms(&m.created_at).unwrap_or_default();
                    let prev = if i + s == 0 {
                        None
                    } else {
                        crate::time::parse_ms(&list[i + s - 1].created_at)
                    };
                    let new_day = prev.is_none_or(|p| {
                        crate::time::day_of(p, offset) != crate::time::day_of(at, offset)
                    });
                    (m.clone(), new_day.then_some(at))
                })
                .collect::<Vec<_>>()
        })
    });

    let retry = move |id: String| {
        spawn_local(async move {
            match retry_message(id).await {
                Ok(sent) => msgs.update(|list| {
                    if !list.iter().any(|x| x.id == sent.id) {
                        list.push(sent);
                    }
                }),
                Err(e) => error.set(Some(user_message(&e))),
            }
        });
    };

    let header_status = {
        let phone_digits = phone_digits.clone();
        move || {
            if ctx
                .typing
                .with(|t| t.get(&phone_digits).copied().unwrap_or(false))
            {
                return Some(("typing…".to_owned(), true));
            }
            ctx.presence.with(|p| {
                p.get(&phone_digits).map(|(online, last)| {
                    if *online {
                        ("online".to_owned(), true)
                    } else {
                        let when = last.as_deref().and_then(crate::time::parse_ms).map(|t| {
                            format!(
                                " {} {}",
                                crate::time::date(t, crate::time::offset()),
                                crate::time::clock(t, crate::time::offset())
                            )
                        });
                        (format!("last seen{}", when.unwrap_or_default()), false)
                    }
                })
            })
        }
    };

    // Embedded, the frame is the whole view (no tab bar below) and there is no list to go back to.
    let embedded = crate::pages::embed::is_embedded();
    let section_class = if embedded {
        "flex h-screen min-h-0 flex-col"
    } else {
        "flex h-[calc(100vh-3.5rem)] min-h-0 flex-col lg:h-screen"
    };
    view! {
        <section aria-label="Thread" class=section_class data-testid="thread">
            <header class="flex items-center gap-3 border-b border-line px-4 py-3">
                {(!embedded).then(|| view! {
                    <a href="/chats" class="inline-flex min-h-10 items-center text-sm text-muted lg:hidden" data-testid="back-to-list">"← Chats"</a>
                })}
                <div class="min-w-0">
                    <p class="truncate text-sm font-medium" data-testid="thread-name">{move || lead.with(|l| l.name.clone())}</p>
                    <p class="truncate text-xs" data-testid="thread-status">
                        {move || match header_status() {
                            Some((text, true)) => view! { <span class="text-accent">{text}</span> }.into_any(),
                            Some((text, false)) => view! { <span class="text-muted">{text}</span> }.into_any(),
                            None => view! { <span class="text-muted">{lead.with(|l| l.phone.clone())}</span> }.into_any(),
                        }}
                    </p>
                </div>
            </header>
            <div node_ref=scroller on:scroll=on_scroll class="min-h-0 flex-1 overflow-y-auto px-3 py-4" data-testid="messages"
                role="log" aria-live="polite" aria-label="Messages">
                <Show when=move || loading.get()>
                    <p class="py-2 text-center text-xs text-muted">"Loading older messages…"</p>
                </Show>
                <Show when=move || start.get() == 0 && before.with(Option::is_none) && !msgs.with(Vec::is_empty)>
                    <p class="py-2 text-center text-xs text-muted" data-testid="thread-start">"This is the start of the conversation."</p>
                </Show>
                <Show when=move || msgs.with(Vec::is_empty)>
                    <p class="py-8 text-center text-sm text-muted">"No messages yet. Say hello below."</p>
                </Show>
                // Keyed without the status: a bubble follows its status itself (below), so a read
                // receipt does not rebuild it (and stop a voice note that is playing).
                <For each=move || visible.get() key=|(m, day)| (m.id.clone(), m.text.clone(), m.media.as_ref().map(|x| x.state.clone()), *day) let((m, day))>
                    {day.map(|at| view! {
                        <p class="my-3 text-center text-xs text-muted" data-testid="day-separator">
                            {move || crate::time::day_label(at, now_ms(), crate::time::offset())}
                        </p>
                    })}
                    <Bubble m msgs retry/>
                </For>
            </div>
            <Show when=move || { unseen.get() > 0 || end.get() < msgs.with(Vec::len) }>
                <button type="button" class="mx-auto -mt-12 mb-2 rounded-full border border-line bg-raised px-3 py-1.5 text-xs text-fg"
                    data-testid="jump-latest"
                    on:click=move |_| {
                        let len = msgs.with_untracked(Vec::len);
                        end.set(len);
                        start.set(len.saturating_sub(WINDOW));
                        unseen.set(0);
                        scroll_to_bottom(scroller);
                    }>
                    {move || match unseen.get() { 0 => "Jump to latest ↓".to_owned(), n => format!("{n} new ↓") }}
                </button>
            </Show>
            <div class="px-3"><ErrorNote message=error/></div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    consent.await.ok().and_then(opted_out_note).map(|note| view! {
                        <p class="border-t border-danger/30 px-4 py-2 text-sm text-danger" role="status" data-testid="opted-out">{note}</p>
                    })
                })}
            </Transition>
            <Composer lead_id=lead_id.clone() lead account msgs end start scroller error/>
        </section>
        <LeadPanel lead/>
    }
}

/// Keeps the first visible message where it is on screen while `change` adds or removes
/// messages above or below it.
fn keep_anchor(scroller: NodeRef<leptos::html::Div>, change: impl FnOnce() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(el) = scroller.get_untracked() else {
            change();
            return;
        };
        let top = el.scroll_top();
        let children = el.query_selector_all("[data-msg]").ok();
        let mut anchor: Option<(String, i32)> = None;
        if let Some(list) = children {
            for i in 0..list.length() {
                if let Some(node) = list
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
                    && node.offset_top() + node.offset_height() > top
                {
                    anchor = node
                        .get_attribute("data-msg")
                        .map(|id| (id, node.offset_top() - top));
                    break;
                }
            }
        }
        change();
        if let Some((id, offset)) = anchor {
            request_animation_frame(move || {
                let Some(el) = scroller.get_untracked() else {
                    return;
                };
                if let Ok(Some(node)) = el.query_selector(&format!("[data-msg=\"{id}\"]"))
                    && let Ok(node) = node.dyn_into::<web_sys::HtmlElement>()
                {
                    el.set_scroll_top(node.offset_top() - offset);
                }
            });
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = scroller;
        change();
    }
}

fn scroll_to_bottom(scroller: NodeRef<leptos::html::Div>) {
    request_animation_frame(move || {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    });
}

/// One message bubble with its time and, for ours, its tick.
#[component]
fn Bubble(
    m: MessagePayload,
    msgs: RwSignal<Vec<MessagePayload>>,
    retry: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let out = m.direction == "out";
    let at = crate::time::parse_ms(&m.created_at).unwrap_or_default();
    let placeholder = m.text.is_none() && m.status_reason.as_deref() == Some("undecryptable");
    let id = m.id.clone();
    // The status (and its reason) as it moves on, read from the thread's list.
    let status = {
        let (id, first) = (m.id.clone(), (m.status.clone(), m.status_reason.clone()));
        Memo::new(move |_| {
            msgs.with(|list| {
                list.iter()
                    .rev()
                    .find(|x| x.id == id)
                    .map(|x| (x.status.clone(), x.status_reason.clone()))
            })
            .unwrap_or_else(|| first.clone())
        })
    };
    let media = m.media.clone();
    // A media message shows its file, and its caption when it has one.
    let text = match &media {
        Some(_) => m.text.clone().filter(|t| !t.trim().is_empty()),
        None => Some(m.text.clone().unwrap_or_else(|| {
            if placeholder {
                "Waiting for this message… it appears when the sender's phone sends it again."
                    .into()
            } else {
                format!("[{}]", m.kind)
            }
        })),
    };
    let side = if out {
        "ml-auto border-accent/30 bg-raised"
    } else {
        "mr-auto border-line bg-surface"
    };
    view! {
        <div class=format!("my-1 flex w-fit max-w-[85%] flex-col rounded-lg border px-3 py-2 lg:max-w-[70%] {side}")
            data-msg=m.id.clone() data-testid="message" data-direction=m.direction.clone() data-status=move || status.get().0
            data-message-id=m.message_id.clone().unwrap_or_default()>
            {media.map(|x| view! { <MediaView message=m.clone() media=x/> })}
            {text.map(|text| view! {
                <p class="whitespace-pre-wrap break-words text-sm" class:mt-1=m.media.is_some() class:italic=placeholder class:text-muted=placeholder data-testid="message-text">{text}</p>
            })}
            <p class="mt-1 flex items-center justify-end gap-1 text-[11px] text-muted">
                <span>{move || crate::time::clock(at, crate::time::offset())}</span>
                {move || out.then(|| view! { <Tick status=status.get().0/> })}
            </p>
            {move || {
                let (now, reason) = status.get();
                let id = id.clone();
                (out && now == "failed").then(|| view! {
                    <p class="mt-1 flex items-center justify-end gap-2 text-xs text-danger" data-testid="message-failed">
                        <span>{format!("Not sent{}", reason.as_deref().map(|r| format!(": {}", r.replace('_', " "))).unwrap_or_default())}</span>
                        {(!id.starts_with("pending-")).then(|| {
                            let id = id.clone();
                            view! { <button type="button" class="min-h-8 underline underline-offset-4" data-testid="retry" on:click=move |_| retry(id.clone())>"Retry"</button> }
                        })}
                    </p>
                })
            }}
        </div>
    }
}

/// What the thread says about a lead who opted out (`None` otherwise): when, how, and that
/// sending is refused until they opt in again.
fn opted_out_note(consent: crate::privacy::ConsentView) -> Option<String> {
    if consent.state != "opted_out" {
        return None;
    }
    let last = consent.events.iter().find(|e| e.kind == "opt_out");
    Some(match last {
        Some(e) => format!(
            "Opted out {} ({}{}). Messages to this contact are refused until they opt in again.",
            e.at,
            e.source,
            if e.evidence.is_empty() {
                String::new()
            } else {
                format!(": \u{201c}{}\u{201d}", e.evidence)
            },
        ),
        None => "Opted out. Messages to this contact are refused until they opt in again.".into(),
    })
}

/// Queued: a clock; sent: one grey tick; delivered: two grey; read: two green; failed: a red mark.
#[component]
fn Tick(status: String) -> impl IntoView {
    let (paths, tone, label): (&[&str], &str, &str) = match status.as_str() {
        "queued" => (
            &["M12 7v5l3 2", "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z"],
            "text-muted",
            "queued",
        ),
        "sent" => (&["M4 12l5 5L20 6"], "text-muted", "sent"),
        "delivered" => (
            &["M2 12l5 5L18 6", "M8 12l5 5L24 6"],
            "text-muted",
            "delivered",
        ),
        "read" => (&["M2 12l5 5L18 6", "M8 12l5 5L24 6"], "text-accent", "read"),
        _ => (&["M12 8v5", "M12 16h.01"], "text-danger", "failed"),
    };
    view! {
        <svg viewBox="0 0 26 24" class=format!("h-3.5 w-4 {tone}") fill="none" stroke="currentColor" stroke-width="2"
            stroke-linecap="round" stroke-linejoin="round" role="img" aria-label=label data-testid="tick" data-tick=label>
            {paths.iter().map(|d| view! { <path d=*d></path> }).collect_view()}
        </svg>
    }
}

#[component]
fn Composer(
    lead_id: String,
    lead: RwSignal<crate::fns::chats::LeadCard>,
    account: RwSignal<Option<String>>,
    msgs: RwSignal<Vec<MessagePayload>>,
    end: RwSignal<usize>,
    start: RwSignal<usize>,
    scroller: NodeRef<leptos::html::Div>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = expect_context::<ChatContext>();
    let text = RwSignal::new(String::new());
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    let picking = RwSignal::new(false);
    // The user's templates, fetched the first time the picker opens.
    let templates = LocalResource::new(move || {
        let open = picking.get();
        async move {
            if open {
                Some(crate::api::list_templates(String::new()).await)
            } else {
                None
            }
        }
    });
    // A template filled in for this lead goes into the composer, to edit before sending; one
    // that needs a value the lead lacks (and has no fallback) is refused, naming both.
    let insert = move |t: crate::api::TemplateView| {
        let l = lead.get_untracked();
        let filled = templating::LeadFields {
            name: &l.name,
            phone: &l.phone,
            company: l.company.as_deref(),
            email: l.email.as_deref(),
            status: &l.status,
            extra: &l.fields,
        }
        .render(&t.content);
        match filled {
            Ok(body) => {
                text.update(|current| {
                    if current.trim().is_empty() {
                        *current = body;
                    } else {
                        current.push('\n');
                        current.push_str(&body);
                    }
                });
                error.set(None);
                picking.set(false);
                if let Some(el) = textarea.get_untracked() {
                    let _ = el.focus();
                }
            }
            Err(missing) => error.set(Some(format!(
                "\u{201c}{}\u{201d} needs {{{{{}}}}}, and {} has none: fill it in beside the chat, or give the variable a fallback in the template ({{{{{}|…}}}}).",
                t.name, missing.name, l.name, missing.name
            ))),
        }
    };
    let composing = StoredValue::new(false);
    let idle = StoredValue::new(0u64);

    let set_typing = {
        let lead_id = lead_id.clone();
        move |on: bool| {
            let (Some(account), lead_id) = (account.get_untracked(), lead_id.clone()) else {
                return;
            };
            composing.set_value(on);
            spawn_local(async move {
                let _ = typing(account, lead_id, on).await;
            });
        }
    };

    let on_input = {
        let set_typing = set_typing.clone();
        move |value: String| {
            text.set(value);
            if !composing.get_value() {
                set_typing(true);
            }
            // Paused after 3 s without a key.
            let mine = idle.get_value() + 1;
            idle.set_value(mine);
            let set_typing = set_typing.clone();
            spawn_local(async move {
                #[cfg(feature = "hydrate")]
                super::list::gloo_sleep(3000).await;
                if idle.get_value() == mine && composing.get_value() {
                    set_typing(false);
                }
            });
        }
    };

    let send = {
        let lead_id = lead_id.clone();
        let set_typing = set_typing.clone();
        move || {
            let body = text.get_untracked();
            if body.trim().is_empty() {
                return;
            }
            let Some(account_id) = account.get_untracked() else {
                error.set(Some("Choose the WhatsApp account to send from.".into()));
                return;
            };
            let key = client_key();
            let pending = MessagePayload {
                id: pending_id(&key),
                account_id: account_id.clone(),
                lead_id: Some(lead_id.clone()),
                message_id: None,
                direction: "out".into(),
                kind: "text".into(),
                text: Some(body.clone()),
                status: "queued".into(),
                status_reason: None,
                created_at: iso_now(),
                phone_number: None,
                media: None,
            };
            msgs.update(|list| list.push(pending));
            let len = msgs.with_untracked(Vec::len);
            end.set(len);
            start.set(len.saturating_sub(WINDOW).max(start.get_untracked()));
            scroll_to_bottom(scroller);
            text.set(String::new());
            error.set(None);
            if composing.get_value() {
                set_typing(false);
            }
            let lead_id = lead_id.clone();
            spawn_local(async move {
                let pending = pending_id(&key);
                match send_message(account_id, lead_id, body, key).await {
                    Ok(sent) => msgs.update(|list| {
                        let known = list.iter().any(|x| x.id == sent.id);
                        if known {
                            list.retain(|x| x.id != pending);
                        } else if let Some(p) = list.iter_mut().find(|x| x.id == pending) {
                            *p = sent;
                        }
                    }),
                    Err(e) => {
                        let why = user_message(&e);
                        msgs.update(|list| {
                            if let Some(p) = list.iter_mut().find(|x| x.id == pending) {
                                p.status = "failed".into();
                                p.status_reason = Some(why.clone());
                            }
                        });
                        error.set(Some(why));
                    }
                }
            });
        }
    };

    // Files: the attach button, a drop on the composer, a paste into the text. The text typed so
    // far goes with the file as its caption.
    let uploading: RwSignal<Option<Uploading>> = RwSignal::new(None);
    let file_input = NodeRef::<leptos::html::Input>::new();
    // Only Copy captures, so the handlers below share it without clones.
    let this_lead = StoredValue::new(lead_id.clone());
    #[cfg(feature = "hydrate")]
    let send_files = {
        move |files: Vec<web_sys::File>| {
            let Some(file) = files.into_iter().next() else {
                return;
            };
            if uploading.get_untracked().is_some() {
                error.set(Some("Wait for the file being sent to finish.".into()));
                return;
            }
            let Some(account_id) = account.get_untracked() else {
                error.set(Some("Choose the WhatsApp account to send from.".into()));
                return;
            };
            let caption = text.get_untracked();
            text.set(String::new());
            error.set(None);
            let lead_id = this_lead.get_value();
            super::media::browser::send_file(
                file,
                account_id,
                lead.get_untracked().phone,
                caption,
                uploading,
                move |result| match result {
                    Ok(sent) => {
                        if sent.lead_id.as_deref() == Some(lead_id.as_str()) {
                            msgs.update(|list| {
                                if !list.iter().any(|x| x.id == sent.id) {
                                    list.push(sent);
                                }
                            });
                            let len = msgs.with_untracked(Vec::len);
                            end.set(len);
                            start.set(len.saturating_sub(WINDOW).max(start.get_untracked()));
                            scroll_to_bottom(scroller);
                        }
                    }
                    Err(why) => error.set(Some(why)),
                },
            );
        }
    };
    #[cfg(not(feature = "hydrate"))]
    let send_files = move |_: Vec<()>| this_lead.with_value(|_| ());
    let on_file = {
        move |_ev: leptos::ev::Event| {
            #[cfg(feature = "hydrate")]
            if let Some(input) = file_input.get_untracked() {
                send_files(super::media::browser::files(input.files()));
                input.set_value("");
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = &send_files;
        }
    };
    let on_drop = {
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            #[cfg(feature = "hydrate")]
            send_files(super::media::browser::files(
                ev.data_transfer().and_then(|d| d.files()),
            ));
            #[cfg(not(feature = "hydrate"))]
            let _ = &send_files;
        }
    };
    let on_paste = {
        move |ev: leptos::ev::ClipboardEvent| {
            #[cfg(feature = "hydrate")]
            {
                let files =
                    super::media::browser::files(ev.clipboard_data().and_then(|d| d.files()));
                if !files.is_empty() {
                    ev.prevent_default();
                    send_files(files);
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&send_files, ev);
        }
    };

    let on_keydown = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };

    view! {
        <form class="flex flex-col gap-2 border-t border-line p-3" data-testid="composer"
            on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
            on:drop=on_drop
            on:submit={
                let send = send.clone();
                move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send(); }
            }>
            // One row for where it goes out from and what to insert, one for the text: the
            // thread column is narrow beside the lead panel.
            <div class="flex items-center gap-2">
                <label for="send-from" class="sr-only">"Send from"</label>
                <select id="send-from" class=format!("{INPUT} min-w-0 flex-1 sm:max-w-56") data-testid="send-from"
                    on:change=move |ev| account.set(Some(event_target_value(&ev)))>
                    {move || ctx.accounts.get().into_iter().map(|a| {
                        let selected = account.get().as_deref() == Some(a.id.as_str());
                        let label = format!("{}{}", a.name, if a.status == "active" { String::new() } else { format!(" ({})", a.status) });
                        view! { <option value=a.id.clone() selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
                <div class="relative">
                    <button type="button" class=BUTTON_QUIET data-testid="insert-template" aria-haspopup="listbox"
                        aria-expanded=move || picking.get().to_string()
                        on:click=move |_| picking.update(|p| *p = !*p)>"Templates"</button>
                    <Show when=move || picking.get()>
                        <div class="absolute bottom-12 right-0 z-20 w-72 max-w-[calc(100vw-2rem)] max-h-72 overflow-y-auto rounded-md border border-line bg-surface p-1 shadow-lg"
                            role="listbox" aria-label="Insert a template" data-testid="template-picker">
                            <Suspense fallback=|| view! { <p class="p-2 text-sm text-muted">"Loading…"</p> }>
                                {move || Suspend::new(async move {
                                    match templates.await {
                                        Some(Ok(page)) if page.templates.is_empty() => view! {
                                            <p class="p-2 text-sm text-muted">"No templates yet: write one on the Templates page."</p>
                                        }.into_any(),
                                        Some(Ok(page)) => page.templates.into_iter().map(|t| {
                                            let label = t.name.clone();
                                            let preview = t.content.clone();
                                            view! {
                                                <button type="button" role="option" data-testid="template-option"
                                                    class="block w-full rounded-md px-3 py-2 text-left hover:bg-raised"
                                                    on:click=move |_| insert(t.clone())>
                                                    <span class="block truncate text-sm">{label}</span>
                                                    <span class="block truncate text-xs text-muted">{preview}</span>
                                                </button>
                                            }
                                        }).collect_view().into_any(),
                                        Some(Err(e)) => view! { <p class="p-2 text-sm text-danger">{user_message(&e)}</p> }.into_any(),
                                        None => ().into_any(),
                                    }
                                })}
                            </Suspense>
                        </div>
                    </Show>
                </div>
            </div>
            <UploadProgress uploading/>
            <div class="flex items-end gap-2">
                <input node_ref=file_input type="file" class="sr-only" id="composer-file" data-testid="attach-input"
                    tabindex="-1" on:change=on_file/>
                <button type="button" class=BUTTON_QUIET data-testid="attach" title="Attach a photo, video, audio or document"
                    aria-label="Attach a file" disabled=move || uploading.with(Option::is_some)
                    on:click=move |_| { if let Some(input) = file_input.get_untracked() { input.click(); } }>
                    <svg viewBox="0 0 24 24" class="h-5 w-5" fill="none" stroke="currentColor" stroke-width="2"
                        stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
                        <path d="M21 12.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.5 3.5 0 0 1 5 5l-9 9a2 2 0 0 1-3-3l8-8"></path>
                    </svg>
                </button>
                <label for="composer-text" class="sr-only">"Message"</label>
                <textarea node_ref=textarea id="composer-text" rows="1" maxlength="4096" class=format!("{INPUT} min-h-10 flex-1 resize-none py-2")
                    placeholder="Message" title="Enter sends; Shift+Enter adds a line" data-testid="composer-input"
                    prop:value=move || text.get()
                    on:input=move |ev| on_input(event_target_value(&ev))
                    on:paste=on_paste
                    on:keydown=on_keydown></textarea>
                <button type="submit" class=BUTTON_PRIMARY data-testid="send" disabled=move || text.with(|t| t.trim().is_empty())>"Send"</button>
            </div>
        </form>
    }
}
