//! The embeddable views: `/embed/chat/{lead}` (one lead's thread with its composer) and
//! `/embed/accounts` (the account manager), shown inside a host app's iframe without the
//! dashboard's navigation. The server has checked the embed token before these render (see the
//! server's `embed` module); here the page takes the host's theme (`?theme=light|dark`) and tells
//! the host its height.
//!
//! Height: whenever the view's size changes (a `ResizeObserver` on its root), the page posts
//! `{type: "rarity:resize", height}` to `window.parent`, addressed to the host origin named in the
//! token (one of `EMBED_ALLOWED_ORIGINS`, checked when the token was issued and again when the page
//! was served), never to `*`: another page framing us learns nothing.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Outlet;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::chats::ChatContext;
use super::chats::thread::ThreadView;
use crate::fns::chats::send_accounts;

/// Provided inside the embed views: components leave out what only makes sense in the dashboard
/// (links back to the chat list, the mobile tab bar's space).
#[derive(Clone, Copy, Debug)]
pub struct Embedded;

pub fn is_embedded() -> bool {
    use_context::<Embedded>().is_some()
}

#[component]
pub fn EmbedLayout() -> impl IntoView {
    provide_context(Embedded);
    let live = crate::live::provide_live();
    let query = use_query_map();
    let light = Memo::new(move |_| query.read().get("theme").as_deref() == Some("light"));
    let reconnecting = move || live.connection.get() == crate::live::Connection::Reconnecting;
    let root = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(el) = root.get() {
            resize::report(&el, query.read_untracked().get("token").unwrap_or_default());
        }
    });
    view! {
        <div node_ref=root data-embed-root="" data-theme=move || if light.get() { "light" } else { "dark" }
            class=move || if light.get() { "theme-light bg-bg text-fg" } else { "bg-bg text-fg" }>
            // Fixed, so it never adds to the height the host is told (the chat fills the frame).
            <p role="status" aria-live="polite" data-testid="live-status"
                class="fixed inset-x-0 top-0 z-30 border-b border-warning/40 bg-bg px-4 py-1.5 text-center text-xs text-warning"
                class:hidden=move || !reconnecting()>
                "Reconnecting… updates resume when the connection is back."
            </p>
            <Outlet/>
        </div>
    }
}

#[component]
pub fn EmbedChatPage() -> impl IntoView {
    let params = use_params_map();
    let lead_id = params.read_untracked().get("lead").unwrap_or_default();
    let ctx = ChatContext::new();
    provide_context(ctx);
    let accounts = crate::resource::new(|| (), |_| send_accounts());
    // The thread renders beside the accounts' loader, not inside it (as on the Chats page, where
    // the list loads them): created inside that Suspend it could be created twice on the server
    // (once before the accounts resolved), shifting the resource ids the browser hydrates by.
    view! {
        <Title text="Chat · Rarity Leads"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                if let Ok(list) = accounts.await {
                    ctx.accounts.set(list);
                }
            })}
        </Suspense>
        <div class="lg:grid lg:h-screen lg:grid-cols-[1fr_18rem]" data-testid="embed-chat">
            <ThreadView lead_id/>
        </div>
    }
}

#[component]
pub fn EmbedAccountsPage() -> impl IntoView {
    // Tall enough for the link dialog (a fixed overlay: it does not add to the reported height).
    view! { <div class="min-h-[36rem]" data-testid="embed-accounts"><super::accounts::AccountsPage/></div> }
}

#[cfg(feature = "hydrate")]
mod resize {
    use std::cell::Cell;
    use std::rc::Rc;

    use wasm_bindgen::JsCast as _;
    use wasm_bindgen::JsValue;
    use wasm_bindgen::closure::Closure;

    /// The host origin the token names (its middle part is base64url JSON with `o`). The server
    /// served this page only for a valid token whose origin is allowed, so reading it unverified
    /// here is safe; no token or no origin → nothing is posted.
    fn host_origin(token: &str) -> Option<String> {
        let claims = token.split('.').nth(1)?;
        let mut b64: String = claims
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        while !b64.len().is_multiple_of(4) {
            b64.push('=');
        }
        let json = web_sys::window()?.atob(&b64).ok()?;
        let value: serde_json::Value = serde_json::from_str(&json).ok()?;
        Some(value.get("o")?.as_str()?.to_owned())
    }

    pub fn report(root: &web_sys::HtmlDivElement, token: String) {
        let Some(origin) = host_origin(&token) else {
            return;
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        let Ok(Some(parent)) = window.parent() else {
            return;
        };
        let last = Rc::new(Cell::new(-1.0_f64));
        let element: web_sys::Element = root.clone().into();
        let post = {
            let element = element.clone();
            move || {
                let height = element.get_bounding_client_rect().height().ceil();
                if height == last.get() {
                    return;
                }
                last.set(height);
                let message = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&message, &"type".into(), &"rarity:resize".into());
                let _ =
                    js_sys::Reflect::set(&message, &"height".into(), &JsValue::from_f64(height));
                let _ = parent.post_message(&message, &origin);
            }
        };
        post();
        let callback = Closure::<dyn Fn()>::new(post);
        if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(&element);
        }
        // The observer lives as long as the page does.
        callback.forget();
    }
}
