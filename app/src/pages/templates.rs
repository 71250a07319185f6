//! Message templates with `{{variables}}`: list, create (with live variable chips and a preview
//! filled in for a lead of the user's choosing) and delete.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{
    AddStarterTemplates, CreateTemplate, DeleteTemplate, LeadView, STARTER_CATEGORIES,
    TemplatePageView, TemplateView, UpdateTemplate, list_leads, list_templates, template_variables,
};
use crate::components::form::{field_error, form_error};
use crate::components::layout::PageHeader;
use crate::components::pager::Pager;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, EmptyState, ErrorNote, Field, INPUT,
    sentence, user_message,
};

fn chips(vars: Vec<String>) -> impl IntoView {
    vars.into_iter()
        .map(|v| view! { <span class="rounded border border-line bg-raised px-1.5 py-0.5 font-mono text-xs text-muted">{format!("{{{{{v}}}}}")}</span> })
        .collect_view()
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let create = ServerAction::<CreateTemplate>::new();
    let delete = ServerAction::<DeleteTemplate>::new();
    let update = ServerAction::<UpdateTemplate>::new();
    let starters = ServerAction::<AddStarterTemplates>::new();
    // `?after=<cursor>` shows the next page. The pager's links reload the page, so the list is
    // fetched with the query of the page it is on.
    let query = use_query_map();
    let after = move || query.read().get("after").unwrap_or_default();
    let after_now = move || query.read_untracked().get("after").unwrap_or_default();
    let templates = crate::resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                update.version().get(),
                starters.version().get(),
            )
        },
        move |_| list_templates(after_now()),
    );
    let content = RwSignal::new(String::new());
    // The preview: the newest leads to choose from (first page), and the one chosen.
    let leads = LocalResource::new(|| {
        list_leads(
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        )
    });
    let preview_lead: RwSignal<Option<LeadView>> = RwSignal::new(None);
    let outcome = create.value();
    let field_error = move |field: &'static str| field_error(create, field);
    let form_error = form_error(create, &["name", "category", "content"]);
    let content_error = field_error("content");
    // A saved template clears the form (and its variable chips) for the next one.
    let form_ref = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = outcome.get() {
            content.set(String::new());
            if let Some(form) = form_ref.get() {
                form.reset();
            }
        }
    });

    view! {
        <Title text="Templates · Rarity Leads"/>
        <PageHeader title="Templates" subtitle="Reusable messages personalised with {{name}}, {{company}}…"><span></span></PageHeader>
        <div class="grid gap-6 px-4 py-6 lg:grid-cols-[22rem_1fr] lg:px-8">
            <section aria-labelledby="new-template" class=format!("{CARD} h-fit p-4")>
                <h2 id="new-template" class="mb-4 text-sm font-medium">"New template"</h2>
                <ActionForm action=create node_ref=form_ref attr:class="flex flex-col gap-3" attr:data-testid="template-form">
                    <Field label="Name" name="name" required=true error=field_error("name")/>
                    <Field label="Category" name="category" placeholder="general" list="template-categories" error=field_error("category")/>
                    <datalist id="template-categories">
                        {STARTER_CATEGORIES.map(|c| view! { <option value=c></option> }).collect_view()}
                    </datalist>
                    <div class="flex flex-col gap-1.5">
                        <label for="field-content" class="text-xs text-muted">"Message"</label>
                        <textarea id="field-content" name="content" required rows="5"
                            class=format!("{INPUT} py-2") data-testid="input-content"
                            placeholder="Hi {{name}}, thanks for your interest in {{company}}."
                            on:input=move |ev| content.set(event_target_value(&ev))></textarea>
                        <div class="flex flex-wrap gap-1" aria-label="Detected variables" data-testid="template-variables">
                            {move || chips(template_variables(&content.get()))}
                        </div>
                        <p class="text-xs text-danger" data-testid="error-content">{move || content_error.get().map(|e| sentence(&e))}</p>
                    </div>
                    <Preview content leads preview_lead/>
                    <ErrorNote message=form_error/>
                    <button type="submit" class=BUTTON_PRIMARY data-testid="template-submit"
                        disabled=move || create.pending().get()>"Save template"</button>
                </ActionForm>
            </section>
            <section aria-label="Template list">
                <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match templates.await {
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                            Ok(page) if page.templates.is_empty() && after().is_empty() => view! {
                                <EmptyState title="No templates yet"
                                    hint="Write a message once and reuse it: {{name}} and {{company}} are filled in from the lead.">
                                    <ActionForm action=starters>
                                        <button type="submit" class=BUTTON_QUIET data-testid="add-starters">"Add the starter templates"</button>
                                    </ActionForm>
                                </EmptyState>
                                <ErrorNote message=Signal::derive(move || match starters.value().get() {
                                    Some(Err(e)) => Some(user_message(&e)),
                                    _ => None,
                                })/>
                            }.into_any(),
                            Ok(TemplatePageView { templates: list, next }) => view! {
                                <ul class="flex flex-col gap-2">
                                    {list.into_iter().map(|t| view! { <TemplateRow t delete update/> }).collect_view()}
                                </ul>
                                <Pager first=(!after().is_empty()).then(|| "/templates".to_owned())
                                    next=next.map(|cursor| format!("/templates?after={cursor}"))/>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// The template as a chosen lead would receive it, or which value that lead lacks.
#[component]
fn Preview(
    content: RwSignal<String>,
    leads: LocalResource<Result<crate::api::LeadPageView, ServerFnError>>,
    preview_lead: RwSignal<Option<LeadView>>,
) -> impl IntoView {
    let rendered = move || {
        let text = content.get();
        if text.trim().is_empty() {
            return (false, String::new());
        }
        preview_lead.with(|lead| match lead {
            None => (false, "Choose a lead to see the message they would get.".to_owned()),
            Some(l) => match (templating::LeadFields {
                name: &l.name,
                phone: &l.phone,
                company: l.company.as_deref(),
                email: l.email.as_deref(),
                status: &l.status,
                extra: &l.fields,
            })
            .render(&text)
            {
                Ok(filled) => (false, filled),
                Err(missing) => (
                    true,
                    format!(
                        "{} has no {{{{{}}}}}: sending to them would be refused. Give it a fallback, as in {{{{{}|…}}}}.",
                        l.name, missing.name, missing.name
                    ),
                ),
            },
        })
    };
    view! {
        <div class="flex flex-col gap-1.5 rounded-md border border-line p-3" data-testid="template-preview">
            <label for="preview-lead" class="text-xs text-muted">"Preview for"</label>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = leads.await.map(|p| p.leads).unwrap_or_default();
                    let options = list.clone();
                    view! {
                        <select id="preview-lead" class=INPUT data-testid="preview-lead"
                            on:change=move |ev| {
                                let id = event_target_value(&ev);
                                preview_lead.set(options.iter().find(|l| l.id == id).cloned());
                            }>
                            <option value="">"Choose a lead…"</option>
                            {list.into_iter().map(|l| view! {
                                <option value=l.id.clone()>{format!("{} ({})", l.name, l.phone)}</option>
                            }).collect_view()}
                        </select>
                    }
                })}
            </Suspense>
            <p class="whitespace-pre-wrap text-sm" class:text-danger=move || rendered().0
                aria-live="polite" data-testid="preview-text">{move || rendered().1}</p>
        </div>
    }
}

/// A saved template: shown, or edited in place.
#[component]
fn TemplateRow(
    t: TemplateView,
    delete: ServerAction<DeleteTemplate>,
    update: ServerAction<UpdateTemplate>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let field_error = move |field: &'static str| field_error(update, field);
    let form_error = form_error(update, &["name", "category", "content"]);
    // A successful save closes the editor (the list refreshes with the saved row).
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            editing.set(false);
        }
    });
    let shown = t.clone();
    let stored = StoredValue::new(t);
    view! {
        <li class=format!("{CARD} flex flex-col gap-2 p-4") data-testid="template-row">
            <Show when=move || editing.get()
                fallback=move || {
                    let t = shown.clone();
                    view! {
                        <div class="flex items-center justify-between gap-2">
                            <p class="truncate text-sm font-medium" data-testid="template-name">{t.name}</p>
                            <span class="text-xs text-muted" data-testid="template-category">{t.category}</span>
                        </div>
                        <p class="whitespace-pre-wrap text-sm text-muted" data-testid="template-content">{t.content}</p>
                        <div class="flex flex-wrap items-center justify-between gap-2">
                            <div class="flex flex-wrap gap-1">{chips(t.variables)}</div>
                            <div class="flex gap-2">
                                <button type="button" class=BUTTON_QUIET data-testid="template-edit"
                                    on:click=move |_| editing.set(true)>"Edit"</button>
                                <ActionForm action=delete>
                                    <input type="hidden" name="id" value=t.id/>
                                    <button type="submit" class=BUTTON_DANGER data-testid="template-delete">"Delete"</button>
                                </ActionForm>
                            </div>
                        </div>
                    }
                }>
                {move || { let e = stored.get_value(); view! {
                <ActionForm action=update attr:class="flex flex-col gap-3" attr:data-testid="template-edit-form">
                    <input type="hidden" name="id" value=e.id.clone()/>
                    <label class="text-xs text-muted" for=format!("edit-name-{}", e.id)>"Name"</label>
                    <input id=format!("edit-name-{}", e.id) name="name" required value=e.name.clone() class=INPUT data-testid="edit-name"/>
                    <p class="text-xs text-danger">{move || field_error("name").get().map(|e| sentence(&e))}</p>
                    <label class="text-xs text-muted" for=format!("edit-category-{}", e.id)>"Category"</label>
                    <input id=format!("edit-category-{}", e.id) name="category" value=e.category.clone() list="template-categories" class=INPUT data-testid="edit-category"/>
                    <p class="text-xs text-danger">{move || field_error("category").get().map(|e| sentence(&e))}</p>
                    <label class="text-xs text-muted" for=format!("edit-content-{}", e.id)>"Message"</label>
                    <textarea id=format!("edit-content-{}", e.id) name="content" required rows="4"
                        class=format!("{INPUT} py-2") data-testid="edit-content">{e.content.clone()}</textarea>
                    <p class="text-xs text-danger">{move || field_error("content").get().map(|e| sentence(&e))}</p>
                    <ErrorNote message=form_error/>
                    <div class="flex gap-2">
                        <button type="submit" class=BUTTON_PRIMARY data-testid="template-save"
                            disabled=move || update.pending().get()>"Save"</button>
                        <button type="button" class=BUTTON_QUIET on:click=move |_| editing.set(false)>"Cancel"</button>
                    </div>
                </ActionForm>
                }}}
            </Show>
        </li>
    }
}
