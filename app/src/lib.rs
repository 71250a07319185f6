//! The dashboard: pages, components and server functions, rendered on the server and hydrated.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod ctx;
pub mod demo;
pub mod fns;
pub mod keys;
pub mod live;
pub mod pages;
pub mod privacy;
#[cfg(feature = "ssr")]
pub mod qr;
pub mod resource;
pub mod routes;
pub mod time;
pub mod webhooks;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, ParamSegment, SsrMode, StaticSegment,
    components::{ParentRoute, Route, Router, Routes},
};

use components::layout::DashboardLayout;
use pages::embed::EmbedLayout;
use routes::{
    AccountsRoute, CampaignsRoute, ChatsRoute, EmbedAccountsRoute, EmbedChatRoute, LeadsRoute,
    LoginRoute, SettingsRoute, SignupRoute, TemplatesRoute,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" class="dark">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    time::provide_local_offset();
    // The browser marks `<body data-hydrated>` once the page is hydrated (frontend/src/lib.rs).
    view! {
        <Stylesheet id="leptos" href="/pkg/rarity.css"/>
        <Link rel="preload" href="/fonts/inter-latin-400-normal.woff2" as_="font" type_="font/woff2" crossorigin="anonymous"/>
        <Meta name="theme-color" content="#0A0A0A"/>
        // Inline icon (the accent dot): no extra request, allowed by the CSP's `img-src data:`.
        <Link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='6' fill='%2325D366'/%3E%3C/svg%3E"/>
        <Title text="Rarity Leads"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("login") view={Lazy::<LoginRoute>::new()}/>
                <Route path=StaticSegment("signup") view={Lazy::<SignupRoute>::new()}/>
                // Framed by the host app (see `pages::embed`); the server checks the token first.
                <ParentRoute path=StaticSegment("embed") view=EmbedLayout ssr=SsrMode::Async>
                    <Route path=(StaticSegment("chat"), ParamSegment("lead")) view={Lazy::<EmbedChatRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("accounts") view={Lazy::<EmbedAccountsRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
                <ParentRoute path=StaticSegment("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view={Lazy::<AccountsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("accounts") view={Lazy::<AccountsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("chats") view={Lazy::<ChatsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("leads") view={Lazy::<LeadsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("templates") view={Lazy::<TemplatesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("campaigns") view={Lazy::<CampaignsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found · Rarity Leads"/>
        <main class="flex min-h-screen flex-col items-center justify-center gap-3 px-4 text-center">
            <h1 class="text-xl font-medium">"Page not found"</h1>
            <a href="/" class="text-sm text-muted underline underline-offset-4">"Back to the dashboard"</a>
        </main>
    }
}
