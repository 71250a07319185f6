//! The signed-in user's settings: who they are, how long sessions last, and signing out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::me;
use crate::components::layout::PageHeader;
use crate::components::ui::{BUTTON_DANGER, BUTTON_QUIET, CARD, ErrorNote, user_message};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| me());
    view! {
        <Title text="Settings · Rarity Leads"/>
        <PageHeader title="Settings" subtitle="Your account and sessions"><span></span></PageHeader>
        <div class="flex max-w-2xl flex-col gap-4 px-4 py-6 lg:px-8">
            <Suspense fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(me) => view! {
                            <section class=format!("{CARD} p-4")>
                                <h2 class="text-sm font-medium">"Account"</h2>
                                <p class="mt-2 text-sm text-muted">"Signed in as "
                                    <span class="text-fg" data-testid="settings-email">{me.email}</span></p>
                                <p class="mt-1 text-sm text-muted">
                                    {format!("You are signed out automatically after {} minutes without activity.", me.idle_timeout_minutes)}
                                </p>
                            </section>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <section class=format!("{CARD} flex flex-col gap-3 p-4 sm:flex-row")>
                <form method="post" action="/auth/logout">
                    <button type="submit" class=BUTTON_QUIET data-testid="logout">"Log out"</button>
                </form>
                <form method="post" action="/auth/logout-all">
                    <button type="submit" class=BUTTON_DANGER data-testid="logout-all">"Log out everywhere"</button>
                </form>
            </section>
        </div>
    }
}
