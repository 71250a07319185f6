//! Links between the pages of a list (leads, templates): back to the start, and on to the next
//! page. Plain links that reload the page (`rel="external"`), so paging works without JavaScript
//! and the server renders each page complete.

use leptos::prelude::*;

#[component]
pub fn Pager(
    /// The list's first page, when this is not it.
    first: Option<String>,
    /// The next page, when there is one.
    next: Option<String>,
) -> impl IntoView {
    (first.is_some() || next.is_some()).then(|| {
        view! {
            <nav aria-label="Pages" class="flex justify-between gap-2 pt-2 text-sm">
                <span>{first.map(|href| view! {
                    <a href=href rel="external" class="text-muted underline underline-offset-4"
                        data-testid="page-first">"← Back to the start"</a>
                })}</span>
                <span>{next.map(|href| view! {
                    <a href=href rel="external" class="text-muted underline underline-offset-4"
                        data-testid="page-next">"More →"</a>
                })}</span>
            </nav>
        }
    })
}
