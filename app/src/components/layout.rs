//! The signed-in frame: a sidebar at ≥1024 px, a bottom tab bar below, and the page in between.

use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

/// (href, label, test id, icon path). Icons are inline SVG paths so nothing loads from elsewhere.
const NAV: [(&str, &str, &str, &str); 6] = [
    (
        "/accounts",
        "Accounts",
        "nav-accounts",
        "M16 7a4 4 0 1 1-8 0 4 4 0 0 1 8 0zM4 21a8 8 0 0 1 16 0",
    ),
    (
        "/chats",
        "Chats",
        "nav-chats",
        "M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.4A8 8 0 1 1 21 12z",
    ),
    (
        "/leads",
        "Leads",
        "nav-leads",
        "M17 20v-2a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v2M10 10a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM21 20v-2a4 4 0 0 0-3-3.9M16 2.1a4 4 0 0 1 0 7.8",
    ),
    (
        "/templates",
        "Templates",
        "nav-templates",
        "M4 4h16v16H4zM8 9h8M8 13h8M8 17h5",
    ),
    (
        "/campaigns",
        "Campaigns",
        "nav-campaigns",
        "M3 11l18-8-8 18-2-8-8-2z",
    ),
    (
        "/settings",
        "Settings",
        "nav-settings",
        "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-2.8 1.2V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-2.8-1.2l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0-1.2-2.8H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.2-2.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 2.8-1.2V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 2.8 1.2l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0 1.2 2.8H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z",
    ),
];

fn icon(path: &'static str) -> impl IntoView {
    view! {
        <svg
            aria-hidden="true"
            viewBox="0 0 24 24"
            class="h-5 w-5 shrink-0"
            fill="none"
            stroke="currentColor"
            stroke-width="1.6"
            stroke-linecap="round"
            stroke-linejoin="round"
        >
            <path d=path></path>
        </svg>
    }
}

/// Whether `href` is the page at `path`; `/` is the Accounts page too.
fn is_current(href: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == href || (href == "/accounts" && path.is_empty())
}

#[component]
pub fn DashboardLayout() -> impl IntoView {
    // The current page's links carry aria-current="page"; styles key off that attribute. Plain
    // anchors: the router still navigates client-side once hydrated.
    let pathname = use_location().pathname;
    let current =
        move |href: &'static str| move || is_current(href, &pathname.read()).then_some("page");
    let link = "flex items-center gap-3 rounded-md px-3 min-h-10 text-sm text-muted transition-colors duration-150 hover:text-fg hover:bg-raised aria-[current=page]:bg-raised aria-[current=page]:text-fg aria-[current=page]:font-medium";
    let tab = "flex flex-1 flex-col items-center justify-center gap-1 min-h-14 text-[11px] text-muted transition-colors duration-150 aria-[current=page]:text-fg aria-[current=page]:font-medium";
    // One live socket per tab, shared by the pages (see `crate::live`).
    let live = crate::live::provide_live();
    // Whether demo mode is on: the demo phone panel learns it, the link dialog reads it.
    crate::demo::provide_demo_mode();
    let reconnecting = move || live.connection.get() == crate::live::Connection::Reconnecting;
    view! {
        <p role="status" aria-live="polite" data-testid="live-status"
            class="fixed inset-x-0 top-0 z-30 border-b border-warning/40 bg-bg px-4 py-1.5 text-center text-xs text-warning"
            class:hidden=move || !reconnecting()>
            "Reconnecting… updates resume when the connection is back."
        </p>
        <div class="min-h-screen lg:flex">
            <nav
                aria-label="Main"
                class="hidden lg:flex lg:w-60 lg:shrink-0 lg:flex-col lg:gap-1 lg:border-r lg:border-line lg:bg-surface lg:px-3 lg:py-4 lg:sticky lg:top-0 lg:h-screen"
            >
                <a href="/" class="mb-4 flex items-center gap-2 px-3 text-sm font-medium text-fg">
                    <span class="inline-block h-2 w-2 rounded-full bg-accent" aria-hidden="true"></span>
                    "Rarity Leads"
                </a>
                {NAV
                    .iter()
                    .map(|(href, label, id, path)| {
                        view! {
                            <a href=*href class=link data-testid=*id aria-current=current(href)>
                                {icon(path)}
                                <span>{*label}</span>
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            <div class="flex-1 min-w-0 pb-20 lg:pb-0">
                <crate::demo::DemoPhone/>
                <Outlet/>
            </div>
            <nav
                aria-label="Main"
                class="fixed inset-x-0 bottom-0 z-10 flex border-t border-line bg-surface lg:hidden"
            >
                {NAV
                    .iter()
                    .map(|(href, label, id, path)| {
                        view! {
                            <a href=*href class=tab data-testid=format!("tab-{id}") aria-current=current(href)>
                                {icon(path)}
                                <span>{*label}</span>
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
        </div>
    }
}

/// Title row of a page, with an optional action on the right.
#[component]
pub fn PageHeader(
    title: &'static str,
    #[prop(optional)] subtitle: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! {
        <header class="flex flex-wrap items-end justify-between gap-3 border-b border-line px-4 py-5 lg:px-8">
            <div>
                <h1 class="text-xl font-medium tracking-tight">{title}</h1>
                {subtitle.map(|s| view! { <p class="mt-1 text-sm text-muted">{s}</p> })}
            </div>
            <div class="flex items-center gap-2">{children()}</div>
        </header>
    }
}

#[cfg(test)]
mod tests {
    use super::is_current;

    #[test]
    fn root_marks_accounts_and_paths_match_exactly() {
        assert!(is_current("/accounts", "/"));
        assert!(is_current("/accounts", "/accounts/"));
        assert!(is_current("/leads", "/leads"));
        assert!(!is_current("/leads", "/"));
        assert!(!is_current("/accounts", "/accounts-old"));
    }
}
