//! The pages as lazy routes: each page's code is its own WASM chunk, downloaded when the page is
//! opened (and preloaded by a `<link>` the server adds for the page it renders), so the first page
//! a browser opens does not pay for the others. `scripts/build-site.sh` cuts the chunks out of the
//! WASM (`scripts/wasm-split`); on the server the same routes render as plain components.
//!
//! A page keeps creating its own resources inside its component: `data()` is empty, so the
//! resources are created in the same order on the server and in the browser (hydration matches
//! them by that order).

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use crate::pages;

/// `$route` renders `$page` from its own chunk.
macro_rules! lazy_page {
    ($($(#[$doc:meta])* $route:ident => $page:path;)*) => {$(
        $(#[$doc])*
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    /// `/login`.
    LoginRoute => pages::auth::LoginPage;
    /// `/signup`.
    SignupRoute => pages::auth::SignupPage;
    /// `/embed/chat/:lead`.
    EmbedChatRoute => pages::embed::EmbedChatPage;
    /// `/embed/accounts`.
    EmbedAccountsRoute => pages::embed::EmbedAccountsPage;
    /// `/` and `/accounts`.
    AccountsRoute => pages::accounts::AccountsPage;
    /// `/leads`.
    LeadsRoute => pages::leads::LeadsPage;
    /// `/templates`.
    TemplatesRoute => pages::templates::TemplatesPage;
    /// `/campaigns`.
    CampaignsRoute => pages::campaigns::CampaignsPage;
    /// `/settings`.
    SettingsRoute => pages::settings::SettingsPage;
}

/// `/chats`: as the others, and when it opens on a thread its chunk loads with the page's.
pub struct ChatsRoute;

#[lazy]
fn chats_view(_this: ChatsRoute) -> AnyView {
    view! { <pages::chats::ChatsPage/> }.into_any()
}

impl LazyRoute for ChatsRoute {
    fn data() -> Self {
        ChatsRoute
    }

    async fn view(this: Self) -> AnyView {
        chats_view(this).await
    }

    async fn preload() {
        #[cfg(feature = "hydrate")]
        futures::join!(__preload_chats_view(), pages::chats::preload_thread());
    }
}
