//! Leads: the list and a create form. The form is an `ActionForm` over the `leads/create` server
//! function, so it posts even before hydration; once hydrated the list refreshes in place.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{CreateLead, DeleteLead, LeadPageView, LeadView, list_leads};
use crate::components::form::{field_error, form_error};
use crate::components::layout::PageHeader;
use crate::components::pager::Pager;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, EmptyState, ErrorNote, Field, INPUT,
    sentence, user_message,
};

#[component]
pub fn LeadsPage() -> impl IntoView {
    let create = ServerAction::<CreateLead>::new();
    let delete = ServerAction::<DeleteLead>::new();
    // `?before=<cursor>` shows older leads. The pager's links reload the page, so the list is
    // fetched with the query of the page it is on.
    let query = use_query_map();
    let before = move || query.read().get("before").unwrap_or_default();
    let before_now = move || query.read_untracked().get("before").unwrap_or_default();
    let leads = Resource::new(
        move || (create.version().get(), delete.version().get()),
        move |_| list_leads(before_now()),
    );

    // What the last submission said about one field (or about the form as a whole).
    let outcome = create.value();
    let field_error = move |field: &'static str| field_error(create, field);
    let form_error = form_error(create, &["name", "phone", "company", "email", "status"]);
    // After a successful save the form empties for the next lead (a refused form keeps its input so
    // the user can fix the field the server named).
    let form_ref = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = outcome.get()
            && let Some(form) = form_ref.get()
        {
            form.reset();
        }
    });
    let delete_error = Signal::derive(move || match delete.value().get() {
        Some(Err(e)) => Some(user_message(&e)),
        _ => None,
    });
    let saved_name = move || match outcome.get() {
        Some(Ok(lead)) => Some(format!("Saved {}.", lead.name)),
        _ => None,
    };

    view! {
        <Title text="Leads · Rarity Leads"/>
        <PageHeader title="Leads" subtitle="People you talk to on WhatsApp"><span></span></PageHeader>
        <div class="grid gap-6 px-4 py-6 lg:grid-cols-[22rem_1fr] lg:px-8">
            <section aria-labelledby="new-lead" class=format!("{CARD} h-fit p-4")>
                <h2 id="new-lead" class="mb-4 text-sm font-medium">"New lead"</h2>
                <ActionForm action=create node_ref=form_ref attr:class="flex flex-col gap-3" attr:data-testid="lead-form">
                    <Field label="Name" name="name" required=true autocomplete="off" error=field_error("name")/>
                    <Field label="Phone" name="phone" kind="tel" required=true placeholder="+44 20 7946 0958"
                        hint="International format with country code" error=field_error("phone")/>
                    <Field label="Company" name="company" error=field_error("company")/>
                    <Field label="Email" name="email" kind="email" error=field_error("email")/>
                    <div class="flex flex-col gap-1.5">
                        <label for="field-status" class="text-xs text-muted">"Status"</label>
                        <select id="field-status" name="status" class=INPUT data-testid="input-status">
                            <option value="new">"New"</option>
                            <option value="contacted">"Contacted"</option>
                            <option value="qualified">"Qualified"</option>
                            <option value="won">"Won"</option>
                            <option value="lost">"Lost"</option>
                        </select>
                    </div>
                    <ErrorNote message=form_error/>
                    <p aria-live="polite" class="text-xs text-accent" data-testid="lead-saved">{saved_name}</p>
                    <button type="submit" class=BUTTON_PRIMARY data-testid="lead-submit"
                        disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Saving…" } else { "Add lead" }}
                    </button>
                </ActionForm>
            </section>
            <section aria-label="Lead list" class="flex flex-col gap-3">
                <ErrorNote message=delete_error/>
                <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match leads.await {
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                            Ok(page) if page.leads.is_empty() && before().is_empty() => view! {
                                <EmptyState title="No leads yet"
                                    hint="Add your first lead with the form. Leads are also created automatically when a new number messages one of your accounts."/>
                            }.into_any(),
                            Ok(LeadPageView { leads: list, next }) => view! {
                                <ul class="flex flex-col gap-2" data-testid="lead-list">
                                    {list.into_iter().map(|lead| view! { <LeadRow lead delete/> }).collect_view()}
                                </ul>
                                <Pager first=(!before().is_empty()).then_some("/leads")
                                    next=next.map(|cursor| format!("/leads?before={cursor}"))/>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn LeadRow(lead: LeadView, delete: ServerAction<DeleteLead>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = StoredValue::new(lead.id.clone());
    let details = [lead.company.clone(), lead.email.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <li class=format!("{CARD} flex flex-col gap-3 p-4 sm:flex-row sm:items-center sm:justify-between")
            data-testid="lead-row" data-lead-id=lead.id.clone()>
            <div class="min-w-0">
                // Text nodes only: names are shown exactly as typed and never interpreted as HTML.
                <p class="truncate text-sm font-medium" data-testid="lead-name">{lead.name.clone()}</p>
                <p class="truncate text-xs text-muted">
                    <span data-testid="lead-phone">{lead.phone.clone()}</span>
                    {(!details.is_empty()).then(|| format!(" · {details}"))}
                </p>
            </div>
            <div class="flex items-center gap-2">
                <span class="rounded-full border border-line px-2 py-0.5 text-xs text-muted" data-testid="lead-status">{sentence(&lead.status)}</span>
                <Show when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class=BUTTON_QUIET on:click=move |_| confirming.set(true)
                            data-testid="lead-delete">"Delete"</button>
                    }>
                    <ActionForm action=delete attr:class="flex items-center gap-2">
                        <input type="hidden" name="id" value=id.get_value()/>
                        <button type="submit" class=BUTTON_DANGER data-testid="lead-delete-confirm">"Delete lead"</button>
                        <button type="button" class=BUTTON_QUIET on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </ActionForm>
                </Show>
            </div>
        </li>
    }
}
