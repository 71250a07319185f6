//! The lead beside the thread (≥ 1024 px): name, company, phone, status, source, campaign;
//! name, company and status are editable in place.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::ui::{BUTTON_QUIET, ErrorNote, INPUT, sentence};
use crate::fns::chats::{LeadCard, update_lead};

#[component]
pub fn LeadPanel(lead: RwSignal<LeadCard>) -> impl IntoView {
    let editing = RwSignal::new(false);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let name = RwSignal::new(String::new());
    let company = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let edit = move |_| {
        lead.with_untracked(|l| {
            name.set(l.name.clone());
            company.set(l.company.clone().unwrap_or_default());
            status.set(l.status.clone());
        });
        editing.set(true);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = lead.with_untracked(|l| l.id.clone());
        spawn_local(async move {
            match update_lead(
                id,
                name.get_untracked(),
                company.get_untracked(),
                status.get_untracked(),
            )
            .await
            {
                Ok(updated) => {
                    lead.set(updated);
                    editing.set(false);
                    error.set(None);
                }
                Err(e) => error.set(Some(sentence(e.message()))),
            }
        });
    };
    let row = |label: &'static str, value: Option<String>| {
        view! {
            <div class="flex flex-col gap-0.5 py-2">
                <dt class="text-xs text-muted">{label}</dt>
                <dd class="break-words text-sm">{value.unwrap_or_else(|| "—".into())}</dd>
            </div>
        }
    };
    view! {
        <aside aria-label="Lead" class="hidden lg:block lg:overflow-y-auto lg:border-l lg:border-line lg:p-4" data-testid="lead-panel">
            <Show when=move || editing.get() fallback=move || lead.with(|l| view! {
                <dl class="divide-y divide-line">
                    {row("Name", Some(l.name.clone()))}
                    {row("Phone", Some(l.phone.clone()))}
                    {row("Company", l.company.clone())}
                    {row("Email", l.email.clone())}
                    {row("Status", Some(l.status.clone()))}
                    {row("Source", l.source.clone())}
                    {row("Campaign", l.campaign.clone())}
                </dl>
                <button type="button" class=format!("{BUTTON_QUIET} mt-3 w-full") data-testid="edit-lead" on:click=edit>"Edit"</button>
            })>
                <form class="flex flex-col gap-2" on:submit=save data-testid="lead-edit">
                    <label class="text-xs text-muted" for="lead-name">"Name"</label>
                    <input id="lead-name" class=INPUT prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                    <label class="text-xs text-muted" for="lead-company">"Company"</label>
                    <input id="lead-company" class=INPUT prop:value=move || company.get() on:input=move |ev| company.set(event_target_value(&ev))/>
                    <label class="text-xs text-muted" for="lead-status">"Status"</label>
                    <select id="lead-status" class=INPUT on:change=move |ev| status.set(event_target_value(&ev))>
                        {["new", "contacted", "qualified", "won", "lost"].into_iter().map(|s| view! {
                            <option value=s selected=move || status.get() == s>{s}</option>
                        }).collect_view()}
                    </select>
                    <ErrorNote message=error/>
                    <div class="flex gap-2">
                        <button type="button" class=BUTTON_QUIET on:click=move |_| editing.set(false)>"Cancel"</button>
                        <button type="submit" class=BUTTON_QUIET data-testid="save-lead">"Save"</button>
                    </div>
                </form>
            </Show>
        </aside>
    }
}
