//! Leads: the list and a create form. The form is an `ActionForm` over the `leads/create` server
//! function, so it posts even before hydration; once hydrated the list refreshes in place.
//!
//! Each lead shows its consent state (an opted-out lead is marked) and a privacy panel: the consent
//! ledger, recording an opt-in or opt-out with its evidence, "Export this lead" and "Erase this
//! lead".

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use std::collections::BTreeSet;

use crate::api::{BulkLeads, CreateLead, DeleteLead, LeadPageView, LeadView, list_leads};
use crate::components::form::{field_error, form_error};
use crate::components::layout::PageHeader;
use crate::components::pager::Pager;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, EmptyState, ErrorNote, Field, INPUT,
    lead_status_options, sentence, user_message,
};
use crate::fns::chats::UpdateLead;
use crate::privacy::{EraseLead, RecordConsent, lead_consent, lead_consents};

#[component]
pub fn LeadsPage() -> impl IntoView {
    let create = ServerAction::<CreateLead>::new();
    let delete = ServerAction::<DeleteLead>::new();
    let record = ServerAction::<RecordConsent>::new();
    let erase = ServerAction::<EraseLead>::new();
    // Which lead's privacy panel is open: kept here, not in the row, because recording consent
    // refreshes the list and re-creates every row.
    let open_panel: RwSignal<Option<String>> = RwSignal::new(None);
    // `?before=<cursor>` shows older leads. The pager's links reload the page, so the list is
    // fetched with the query of the page it is on.
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let before = move || param("before");
    let bulk = ServerAction::<BulkLeads>::new();
    let update = ServerAction::<UpdateLead>::new();
    let imported = RwSignal::new(0_u32);
    let selected: RwSignal<BTreeSet<String>> = RwSignal::new(BTreeSet::new());
    let leads = crate::resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                erase.version().get(),
                bulk.version().get(),
                update.version().get(),
                imported.get(),
                [
                    "before",
                    "search",
                    "status",
                    "sort",
                    "conversation",
                    "campaign",
                ]
                .map(param),
            )
        },
        move |(.., [before, search, status, sort, conversation, campaign])| {
            list_leads(before, search, status, sort, conversation, campaign)
        },
    );
    // The user's campaigns, for the "in campaign" filter.
    let campaigns = crate::resource::new(|| (), |_| crate::fns::campaigns::campaigns_overview());
    // What the filters are, for the pager's links (the cursor belongs to these filters).
    let filters_query = move || {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for k in ["search", "status", "sort", "conversation", "campaign"] {
            let v = param(k);
            if !v.is_empty() {
                query.append_pair(k, &v);
            }
        }
        query.finish()
    };
    Effect::new(move |_| {
        if bulk.version().get() > 0 {
            selected.set(BTreeSet::new());
        }
    });
    let consents = crate::resource::new(
        move || {
            (
                create.version().get(),
                record.version().get(),
                erase.version().get(),
            )
        },
        |_| lead_consents(),
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
    let delete_error = Signal::derive(move || {
        match (
            delete.value().get(),
            erase.value().get(),
            bulk.value().get(),
        ) {
            (Some(Err(e)), _, _) | (_, Some(Err(e)), _) | (_, _, Some(Err(e))) => {
                Some(user_message(&e))
            }
            _ => None,
        }
    });
    let bulk_status = RwSignal::new("contacted".to_string());
    let selection = move || selected.get().into_iter().collect::<Vec<_>>().join(",");
    let erased = move || match erase.value().get() {
        Some(Ok(messages)) => Some(format!(
            "Erased the lead and {messages} messages. Only a hash of the number remains if they opted out, so they are never messaged again."
        )),
        _ => None,
    };
    let saved_name = move || match outcome.get() {
        Some(Ok(lead)) => Some(format!("Saved {}.", lead.name)),
        _ => None,
    };

    view! {
        <Title text="Leads · Rarity Leads"/>
        <PageHeader title="Leads" subtitle="People you talk to on WhatsApp"><span></span></PageHeader>
        <div class="grid gap-6 px-4 py-6 lg:grid-cols-[22rem_1fr] lg:px-8">
            <div class="flex flex-col gap-6">
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
                            {lead_status_options()}
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
            <crate::components::import::ImportCsv imported/>
            </div>
            <section aria-label="Lead list" class="flex min-w-0 flex-col gap-3">
                <form method="get" action="/leads" class="flex flex-wrap items-end gap-2" data-testid="lead-filters" role="search">
                    <input type="search" name="search" class=format!("{INPUT} w-56 flex-1") placeholder="Search name, phone, company"
                        aria-label="Search leads" prop:value=move || param("search") data-testid="lead-search"/>
                    <select name="status" class=format!("{INPUT} w-36") aria-label="Status" prop:value=move || param("status") data-testid="lead-filter-status">
                        <option value="">"Any status"</option>
                        {lead_status_options()}
                    </select>
                    <select name="conversation" class=format!("{INPUT} w-44") aria-label="Conversation" prop:value=move || param("conversation")>
                        <option value="">"With or without chat"</option>
                        <option value="yes">"Has a conversation"</option>
                        <option value="no">"No conversation yet"</option>
                    </select>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = campaigns.await.map(|v| v.campaigns).unwrap_or_default();
                            (!list.is_empty()).then(|| view! {
                                <select name="campaign" class=format!("{INPUT} w-44") aria-label="Campaign"
                                    prop:value=move || param("campaign") data-testid="lead-filter-campaign">
                                    <option value="">"In any campaign or none"</option>
                                    {list.into_iter().map(|c| view! { <option value=c.id>{format!("In campaign: {}", c.name)}</option> }).collect_view()}
                                </select>
                            })
                        })}
                    </Suspense>
                    <select name="sort" class=format!("{INPUT} w-36") aria-label="Sort" prop:value=move || param("sort") data-testid="lead-sort">
                        <option value="">"Newest first"</option>
                        <option value="oldest">"Oldest first"</option>
                        <option value="name">"Name A–Z"</option>
                        <option value="name_desc">"Name Z–A"</option>
                        <option value="updated">"Recently changed"</option>
                    </select>
                    <button type="submit" class=BUTTON_QUIET data-testid="lead-filter-apply">"Apply"</button>
                </form>
                <Show when=move || !selected.read().is_empty()>
                    <div class=format!("{CARD} flex flex-wrap items-center gap-2 p-2") data-testid="bulk-bar">
                        <span class="text-sm" data-testid="bulk-count">{move || format!("{} selected", selected.read().len())}</span>
                        <select class=format!("{INPUT} w-36") aria-label="New status" prop:value=move || bulk_status.get()
                            on:change=move |ev| bulk_status.set(event_target_value(&ev))>
                            {lead_status_options()}
                        </select>
                        <button type="button" class=BUTTON_QUIET data-testid="bulk-status"
                            on:click=move |_| { bulk.dispatch(BulkLeads { ids: selection(), action: "set_status".into(), status: bulk_status.get_untracked() }); }>
                            "Set status"</button>
                        <button type="button" class=BUTTON_DANGER data-testid="bulk-delete"
                            on:click=move |_| { bulk.dispatch(BulkLeads { ids: selection(), action: "delete".into(), status: String::new() }); }>
                            "Delete selected"</button>
                        <button type="button" class=BUTTON_QUIET data-testid="bulk-campaign"
                            title="Start a campaign to exactly these leads"
                            on:click=move |_| pick_for_campaign(selection())>"New campaign…"</button>
                        <button type="button" class=BUTTON_QUIET on:click=move |_| selected.set(BTreeSet::new())>"Clear"</button>
                    </div>
                </Show>
                <ErrorNote message=delete_error/>
                <p aria-live="polite" class="text-sm text-accent empty:hidden" data-testid="lead-erased">{erased}</p>
                <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let states = consents.await.unwrap_or_default();
                        match leads.await {
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                            Ok(page) if page.leads.is_empty() && before().is_empty() && filters_query().is_empty() => view! {
                                <EmptyState title="No leads yet"
                                    hint="Add your first lead with the form or import a CSV. Leads are also created automatically when a new number messages one of your accounts."/>
                            }.into_any(),
                            Ok(LeadPageView { leads: list, next, total }) => {
                                let page_ids: Vec<String> = list.iter().map(|l| l.id.clone()).collect();
                                let all_ids = page_ids.clone();
                                let all_selected = move || !all_ids.is_empty() && selected.with(|s| all_ids.iter().all(|id| s.contains(id)));
                                let filters = filters_query();
                                let first = (!before().is_empty()).then(|| if filters.is_empty() { "/leads".to_string() } else { format!("/leads?{filters}") });
                                view! {
                                <div class="flex items-center gap-3 text-sm text-muted">
                                    <label class="flex items-center gap-2">
                                        <input type="checkbox" aria-label="Select every lead on this page" data-testid="lead-select-page"
                                            prop:checked=all_selected
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                selected.update(|s| for id in &page_ids { if on { s.insert(id.clone()); } else { s.remove(id); } });
                                            }/>
                                        "Select page"
                                    </label>
                                    <span data-testid="lead-total">{format!("{total} leads")}</span>
                                </div>
                                {list.is_empty().then(|| view! { <p class="text-sm text-muted" data-testid="lead-none">"No lead matches these filters."</p> })}
                                <ul class="flex flex-col gap-2" data-testid="lead-list">
                                    {list.into_iter().map(|lead| {
                                        let consent = states.iter().find(|c| c.lead_id == lead.id)
                                            .map(|c| c.state.clone()).unwrap_or_else(|| "unknown".into());
                                        view! { <LeadRow lead consent delete record erase open_panel selected update/> }
                                    }).collect_view()}
                                </ul>
                                <Pager first next=next.map(|cursor| if filters.is_empty() { format!("/leads?before={cursor}") } else { format!("/leads?{filters}&before={cursor}") })/>
                                }.into_any()
                            }
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// How a consent state shows on a lead: (label, classes), or nothing when unknown.
fn consent_badge(state: &str) -> Option<(&'static str, &'static str)> {
    match state {
        "opted_out" => Some(("Opted out", "text-danger border-danger/40")),
        "opted_in" => Some(("Opted in", "text-accent border-accent/40")),
        _ => None,
    }
}

#[component]
fn LeadRow(
    lead: LeadView,
    consent: String,
    delete: ServerAction<DeleteLead>,
    record: ServerAction<RecordConsent>,
    erase: ServerAction<EraseLead>,
    open_panel: RwSignal<Option<String>>,
    selected: RwSignal<BTreeSet<String>>,
    update: ServerAction<UpdateLead>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let edit_error = form_error(update, &["name", "company", "status"]);
    let check_id = lead.id.clone();
    let is_selected = {
        let id = lead.id.clone();
        move || selected.read().contains(&id)
    };
    let (edit_name, edit_company, edit_status) = (
        StoredValue::new(lead.name.clone()),
        StoredValue::new(lead.company.clone().unwrap_or_default()),
        StoredValue::new(lead.status.clone()),
    );
    let row_id = lead.id.clone();
    let privacy_open = Memo::new(move |_| open_panel.read().as_deref() == Some(row_id.as_str()));
    let badge = consent_badge(&consent);
    let id = StoredValue::new(lead.id.clone());
    let details = [lead.company.clone(), lead.email.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <li class=format!("{CARD} flex flex-col gap-3 p-4")
            data-testid="lead-row" data-lead-id=lead.id.clone() data-consent=consent.clone()>
          <div class="flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
            <div class="flex min-w-0 items-center gap-3">
            <input type="checkbox" aria-label=format!("Select {}", lead.name) data-testid="lead-select"
                prop:checked=is_selected
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    let id = check_id.clone();
                    selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                }/>
            <div class="min-w-0">
                // Text nodes only: names are shown exactly as typed and never interpreted as HTML.
                <p class="truncate text-sm font-medium" data-testid="lead-name">{lead.name.clone()}</p>
                <p class="truncate text-xs text-muted">
                    <span data-testid="lead-phone">{lead.phone.clone()}</span>
                    {(!details.is_empty()).then(|| format!(" · {details}"))}
                </p>
            </div>
            </div>
            <div class="flex flex-wrap items-center gap-2">
                {badge.map(|(label, tone)| view! {
                    <span class=format!("rounded-full border px-2 py-0.5 text-xs {tone}") data-testid="lead-consent"
                        title="Consent to WhatsApp messages">{label}</span>
                })}
                <span class="rounded-full border border-line px-2 py-0.5 text-xs text-muted" data-testid="lead-status">{sentence(&lead.status)}</span>
                <a href=format!("/chats?lead={}", lead.id) class=BUTTON_QUIET data-testid="lead-chat">"Chat"</a>
                <button type="button" class=BUTTON_QUIET data-testid="lead-edit"
                    aria-expanded=move || editing.get().to_string()
                    on:click=move |_| editing.update(|e| *e = !*e)>"Edit"</button>
                <button type="button" class=BUTTON_QUIET data-testid="lead-privacy"
                    aria-expanded=move || privacy_open.get().to_string()
                    on:click=move |_| {
                        let id = id.get_value();
                        open_panel.update(|open| {
                            *open = if open.as_deref() == Some(id.as_str()) { None } else { Some(id) };
                        });
                    }>"Privacy"</button>
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
          </div>
          <Show when=move || editing.get()>
              <ActionForm action=update attr:class="flex flex-col gap-2 border-t border-line pt-3 sm:flex-row sm:items-end" attr:data-testid="lead-edit-form">
                  <input type="hidden" name="lead_id" value=id.get_value()/>
                  <div class="flex flex-1 flex-col gap-1.5">
                      <label class="text-xs text-muted">"Name"
                          <input name="name" class=INPUT value=edit_name.get_value() required data-testid="edit-name"/></label>
                  </div>
                  <div class="flex flex-1 flex-col gap-1.5">
                      <label class="text-xs text-muted">"Company"
                          <input name="company" class=INPUT value=edit_company.get_value() data-testid="edit-company"/></label>
                  </div>
                  <div class="flex flex-col gap-1.5">
                      <label class="text-xs text-muted">"Status"
                          <select name="status" class=INPUT prop:value=edit_status.get_value() data-testid="edit-status">
                              {lead_status_options()}
                          </select></label>
                  </div>
                  <button type="submit" class=BUTTON_PRIMARY data-testid="edit-save">"Save"</button>
                  <button type="button" class=BUTTON_QUIET on:click=move |_| editing.set(false)>"Cancel"</button>
              </ActionForm>
              <ErrorNote message=edit_error/>
          </Show>
          <Show when=move || privacy_open.get()>
              <LeadPrivacy id=id.get_value() record erase/>
          </Show>
        </li>
    }
}

/// A lead's consent ledger, recording consent, export and erasure.
#[component]
fn LeadPrivacy(
    id: String,
    record: ServerAction<RecordConsent>,
    erase: ServerAction<EraseLead>,
) -> impl IntoView {
    let lead = StoredValue::new(id);
    let consent = crate::resource::new(
        move || record.version().get(),
        move |_| lead_consent(lead.get_value()),
    );
    let erasing = RwSignal::new(false);
    let record_error = form_error(record, &[]);
    let export_href = format!("/api/leads/{}/export", lead.get_value());
    view! {
        <div class="flex flex-col gap-4 border-t border-line pt-3" data-testid="lead-privacy-panel">
            <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match consent.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(c) => {
                            let state = match c.state.as_str() {
                                "opted_out" => "Opted out: nothing can be sent to this number until they opt in again.",
                                "opted_in" => "Opted in.",
                                _ => "No consent recorded.",
                            };
                            view! {
                                <p class="text-sm" data-testid="consent-state">{state}</p>
                                <ul class="flex flex-col gap-1 text-xs text-muted" data-testid="consent-events">
                                    {c.events.into_iter().map(|e| view! {
                                        <li data-testid="consent-event">
                                            {format!("{} · {} · {} — ", e.at, sentence(&e.kind.replace('_', "-")), e.source)}
                                            <span class="text-fg">{e.evidence}</span>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
            <ActionForm action=record attr:class="flex flex-col gap-2 sm:flex-row sm:items-end" attr:data-testid="consent-form">
                <input type="hidden" name="id" value=lead.get_value()/>
                <div class="flex flex-col gap-1.5">
                    <label class="text-xs text-muted" for=format!("kind-{}", lead.get_value())>"Record"</label>
                    <select id=format!("kind-{}", lead.get_value()) name="kind" class=INPUT data-testid="consent-kind">
                        <option value="opt_in">"Opt-in"</option>
                        <option value="opt_out">"Opt-out"</option>
                    </select>
                </div>
                <div class="flex flex-col gap-1.5">
                    <label class="text-xs text-muted" for=format!("source-{}", lead.get_value())>"Source"</label>
                    <select id=format!("source-{}", lead.get_value()) name="source" class=INPUT data-testid="consent-source">
                        <option value="form">"Form"</option>
                        <option value="chat">"Chat"</option>
                        <option value="import">"Import"</option>
                        <option value="api">"API"</option>
                    </select>
                </div>
                <div class="flex flex-1 flex-col gap-1.5">
                    <label class="text-xs text-muted" for=format!("evidence-{}", lead.get_value())>"Evidence"</label>
                    <input id=format!("evidence-{}", lead.get_value()) name="evidence" class=INPUT
                        placeholder="What shows it, e.g. the form's wording" data-testid="consent-evidence"/>
                </div>
                <button type="submit" class=BUTTON_QUIET data-testid="consent-submit">"Record"</button>
            </ActionForm>
            <ErrorNote message=record_error/>
            <div class="flex flex-wrap items-center gap-2">
                <crate::components::download::DownloadWithProgress href=export_href label="Export this lead" class=BUTTON_QUIET testid="lead-export"/>
                <Show when=move || erasing.get()
                    fallback=move || view! {
                        <button type="button" class=BUTTON_DANGER on:click=move |_| erasing.set(true)
                            data-testid="lead-erase">"Erase this lead"</button>
                    }>
                    <ActionForm action=erase attr:class="flex flex-wrap items-center gap-2">
                        <input type="hidden" name="id" value=lead.get_value()/>
                        <span class="text-xs text-muted">"Removes the lead, every message and consent record about them."</span>
                        <button type="submit" class=BUTTON_DANGER data-testid="lead-erase-confirm">"Erase everything"</button>
                        <button type="button" class=BUTTON_QUIET on:click=move |_| erasing.set(false)>"Cancel"</button>
                    </ActionForm>
                </Show>
            </div>
        </div>
    }
}

/// The session-storage key that carries a selection of leads to the campaign form.
pub const PICKED_LEADS_KEY: &str = "rarity.campaign.picked";

/// Hands the selected leads (comma-separated ids) to the campaign form and opens it.
fn pick_for_campaign(ids: String) {
    #[cfg(feature = "hydrate")]
    {
        if let Some(window) = web_sys::window() {
            if let Ok(Some(storage)) = window.session_storage() {
                let _ = storage.set_item(PICKED_LEADS_KEY, &ids);
            }
            let _ = window.location().set_href("/campaigns?picked=1");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ids;
}
