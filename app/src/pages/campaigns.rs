//! Campaigns: a template sent to a segment of leads from a set of accounts at a safe pace. The
//! page lists campaigns with their progress, creates one (template, accounts, segment, quiet
//! hours, pacing with safe defaults), and shows one (`?id=`) with live counts, a progress bar,
//! pause / resume / cancel, and the per-lead table filterable by state, each lead linking to its
//! chat. The list and the open campaign refresh themselves every 2 s.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::components::form::{field_error, form_error};
use crate::components::layout::PageHeader;
use crate::components::ui::{
    BUTTON_DANGER, BUTTON_PRIMARY, BUTTON_QUIET, CARD, EmptyState, ErrorNote, Field, INPUT,
    lead_status_options, user_message,
};
use crate::fns::campaigns::{
    CampaignAct, CampaignView, CountsView, CreateCampaign, campaign_detail, campaigns_overview,
};

/// (label, classes) of a campaign status.
fn status_tone(status: &str) -> (&'static str, &'static str) {
    match status {
        "running" => ("Running", "text-accent border-accent/40"),
        "paused" => ("Paused", "text-warning border-warning/40"),
        "completed" => ("Completed", "text-fg border-line"),
        "cancelled" => ("Cancelled", "text-muted border-line"),
        _ => ("Draft", "text-muted border-line"),
    }
}

/// (label, classes) of a lead's state in a campaign.
fn lead_tone(state: &str) -> (&'static str, &'static str) {
    match state {
        "pending" => ("Pending", "text-muted border-line"),
        "queued" => ("Queued", "text-muted border-line"),
        "sent" => ("Sent", "text-fg border-line"),
        "delivered" => ("Delivered", "text-fg border-line"),
        "read" => ("Read", "text-accent border-accent/40"),
        "replied" => ("Replied", "text-accent border-accent"),
        "failed" => ("Failed", "text-danger border-danger/40"),
        _ => ("Skipped", "text-warning border-warning/40"),
    }
}

#[component]
fn Badge(label: &'static str, tone: &'static str, testid: &'static str) -> impl IntoView {
    view! {
        <span class=format!("inline-flex items-center rounded border px-1.5 py-0.5 text-xs {tone}") data-testid=testid>{label}</span>
    }
}

#[component]
fn Progress(counts: CountsView) -> impl IntoView {
    let percent = counts.percent();
    view! {
        <div class="flex items-center gap-3">
            <div class="h-2 flex-1 overflow-hidden rounded-full bg-raised" role="progressbar"
                aria-valuemin="0" aria-valuemax="100" aria-valuenow=percent.to_string()
                aria-label="Campaign progress" data-testid="campaign-progress">
                <div class="h-full rounded-full bg-accent transition-[width] duration-300" style=format!("width: {percent}%")></div>
            </div>
            <span class="w-24 text-right text-xs tabular-nums text-muted" data-testid="campaign-percent">
                {format!("{percent} % · {}/{}", counts.done(), counts.total)}
            </span>
        </div>
    }
}

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let create = ServerAction::<CreateCampaign>::new();
    let act = ServerAction::<CampaignAct>::new();
    let query = use_query_map();
    let selected = Memo::new(move |_| query.read().get("id").filter(|id| !id.is_empty()));
    let state_filter = RwSignal::new(String::new());
    // Refreshes while something runs (see the Effect below).
    let tick = RwSignal::new(0_u32);
    let overview = crate::resource::new(
        move || (create.version().get(), act.version().get(), tick.get()),
        |_| campaigns_overview(),
    );
    // The form's choices are fetched apart from the list, so the refresh never resets what the
    // user is typing.
    let choices = crate::resource::new(move || create.version().get(), |_| campaigns_overview());
    let detail = crate::resource::new(
        move || {
            (
                selected.get(),
                state_filter.get(),
                act.version().get(),
                tick.get(),
            )
        },
        |(id, state, _, _)| async move {
            match id {
                Some(id) => campaign_detail(id, state).await.map(Some),
                None => Ok(None),
            }
        },
    );
    #[cfg(feature = "hydrate")]
    {
        let timer = set_interval_with_handle(
            // Replies and read receipts keep arriving after a campaign has sent everything.
            move || tick.update(|t| *t = t.wrapping_add(1)),
            std::time::Duration::from_secs(2),
        )
        .ok();
        on_cleanup(move || {
            if let Some(t) = timer {
                t.clear();
            }
        });
    }
    // A created campaign opens at once.
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/campaigns?id={id}"), Default::default());
        }
    });
    let act_error = Signal::derive(move || match act.value().get() {
        Some(Err(e)) => Some(user_message(&e)),
        _ => None,
    });

    view! {
        <Title text="Campaigns · Rarity Leads"/>
        <PageHeader title="Campaigns" subtitle="Personal messages to many leads, at a pace WhatsApp accepts"><span></span></PageHeader>
        <div class="grid gap-6 px-4 py-6 lg:grid-cols-[24rem_1fr] lg:px-8">
            <Transition fallback=|| view! { <p class="text-sm text-muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match choices.await {
                        Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        Ok(o) => view! { <NewCampaign create templates=o.templates accounts=o.accounts/> }.into_any(),
                    }
                })}
            </Transition>
            <section aria-label="Campaigns" class="flex min-w-0 flex-col gap-4">
                <ErrorNote message=act_error/>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match detail.await {
                            Ok(Some(d)) => view! { <Detail detail=d act state_filter/> }.into_any(),
                            Ok(None) => ().into_any(),
                            Err(e) => view! { <ErrorNote message=Some(user_message(&e))/> }.into_any(),
                        }
                    })}
                </Transition>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match overview.await {
                            Err(_) => ().into_any(),
                            Ok(o) if o.campaigns.is_empty() => view! {
                                <EmptyState title="No campaigns yet"
                                    hint="Choose a template, the accounts to send from and the leads to reach. Messages go out one by one at a safe pace, and every lead is tracked to their reply."/>
                            }.into_any(),
                            Ok(o) => view! {
                                <ul class="flex flex-col gap-2" data-testid="campaign-list">
                                    {o.campaigns.into_iter().map(|c| view! { <Row campaign=c/> }).collect_view()}
                                </ul>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn Row(campaign: CampaignView) -> impl IntoView {
    let (label, tone) = status_tone(&campaign.status);
    view! {
        <li class=format!("{CARD} flex flex-col gap-2 p-3") data-testid="campaign-row">
            <div class="flex items-center justify-between gap-2">
                <a class="truncate text-sm font-medium hover:underline" href=format!("/campaigns?id={}", campaign.id)>{campaign.name}</a>
                <Badge label tone testid="campaign-status"/>
            </div>
            <Progress counts=campaign.counts/>
        </li>
    }
}

#[component]
fn Detail(
    detail: crate::fns::campaigns::CampaignDetailView,
    act: ServerAction<CampaignAct>,
    state_filter: RwSignal<String>,
) -> impl IntoView {
    let c = detail.campaign;
    let (label, tone) = status_tone(&c.status);
    let id = c.id.clone();
    let button = move |action: &'static str, text: &'static str, class: &'static str| {
        let id = id.clone();
        view! {
            <button type="button" class=class data-testid=format!("campaign-{action}")
                disabled=move || act.pending().get()
                on:click=move |_| { act.dispatch(CampaignAct { id: id.clone(), action: action.into() }); }>
                {text}
            </button>
        }
    };
    let controls = match c.status.as_str() {
        "running" => view! { {button("pause", "Pause", BUTTON_QUIET)} {button("cancel", "Cancel", BUTTON_DANGER)} }.into_any(),
        "paused" => view! { {button("resume", "Resume", BUTTON_PRIMARY)} {button("cancel", "Cancel", BUTTON_DANGER)} }.into_any(),
        "draft" => view! { {button("start", "Start", BUTTON_PRIMARY)} {button("delete", "Delete", BUTTON_DANGER)} }.into_any(),
        _ => ().into_any(),
    };
    let n = &c.counts;
    let stats = [
        ("Pending", n.pending),
        ("Sent", n.sent + n.queued),
        ("Delivered", n.delivered),
        ("Read", n.read),
        ("Replied", n.replied),
        ("Failed", n.failed),
        ("Skipped", n.skipped),
    ];
    view! {
        <section class=format!("{CARD} flex flex-col gap-4 p-4") data-testid="campaign-detail" aria-labelledby="campaign-title">
            <div class="flex flex-wrap items-start justify-between gap-3">
                <div class="min-w-0">
                    <h2 id="campaign-title" class="truncate text-base font-medium">{c.name.clone()}</h2>
                    <p class="text-xs text-muted">{format!("{} · {} account(s) · starts {}", c.pacing, c.accounts, c.start_at)}</p>
                    {c.quiet_hours.clone().map(|q| view! { <p class="text-xs text-muted">{format!("Quiet hours {q}")}</p> })}
                </div>
                <div class="flex items-center gap-2">
                    <Badge label tone testid="detail-status"/>
                    {controls}
                </div>
            </div>
            {c.pause_reason.clone().filter(|_| c.status == "paused").map(|r| view! {
                <p class="rounded-md border border-warning/40 px-3 py-2 text-sm text-warning" data-testid="pause-reason">{r}</p>
            })}
            <Progress counts=c.counts.clone()/>
            <dl class="grid grid-cols-4 gap-2 sm:grid-cols-7">
                {stats.into_iter().map(|(label, value)| view! {
                    <div class="rounded-md border border-line px-2 py-1.5">
                        <dt class="text-xs text-muted">{label}</dt>
                        <dd class="text-sm tabular-nums" data-testid=format!("count-{}", label.to_lowercase())>{value}</dd>
                    </div>
                }).collect_view()}
            </dl>
            <p class="whitespace-pre-wrap rounded-md bg-raised px-3 py-2 text-sm text-muted">{c.content.clone()}</p>
            <div class="flex items-center justify-between gap-2">
                <h3 class="text-sm font-medium">"Leads"</h3>
                <select class=format!("{INPUT} w-40") aria-label="Show leads in state" data-testid="lead-state-filter"
                    prop:value=move || state_filter.get()
                    on:change=move |ev| state_filter.set(event_target_value(&ev))>
                    <option value="">"All"</option>
                    {crate::fns::campaigns::STATES.iter().map(|s| view! { <option value=*s>{lead_tone(s).0}</option> }).collect_view()}
                </select>
            </div>
            <div class="overflow-x-auto">
                <table class="w-full text-left text-sm" data-testid="campaign-leads">
                    <thead class="text-xs text-muted">
                        <tr><th class="py-1 pr-3 font-normal">"Lead"</th><th class="py-1 pr-3 font-normal">"State"</th><th class="py-1 pr-3 font-normal">"When"</th><th class="py-1 font-normal"></th></tr>
                    </thead>
                    <tbody>
                        {detail.leads.into_iter().map(|l| {
                            let (label, tone) = lead_tone(&l.state);
                            view! {
                                <tr class="border-t border-line align-top" data-testid="campaign-lead" data-state=l.state.clone()>
                                    <td class="py-1.5 pr-3"><div>{l.name}</div><div class="text-xs text-muted">{l.phone}</div></td>
                                    <td class="py-1.5 pr-3"><Badge label tone testid="lead-state"/>
                                        {l.reason.map(|r| view! { <div class="text-xs text-muted">{r}</div> })}</td>
                                    <td class="py-1.5 pr-3 text-xs tabular-nums text-muted">{l.at.unwrap_or_default()}</td>
                                    <td class="py-1.5 text-right"><a class="text-xs text-accent hover:underline" data-testid="open-chat"
                                        href=format!("/chats?lead={}", l.lead_id)>"Open chat"</a></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn NewCampaign(
    create: ServerAction<CreateCampaign>,
    templates: Vec<crate::fns::campaigns::Choice>,
    accounts: Vec<crate::fns::campaigns::Choice>,
) -> impl IntoView {
    let field_error = move |field: &'static str| field_error(create, field);
    let form_error = form_error(
        create,
        &[
            "name",
            "template_id",
            "account_ids",
            "segment",
            "lead_ids",
            "start_at",
            "time_zone",
            "quiet_end",
            "per_minute",
            "per_hour",
            "per_day",
            "first_contact_per_day",
            "jitter_seconds",
        ],
    );
    // Every account starts chosen; the hidden field carries the choice (comma-separated ids).
    let chosen: RwSignal<BTreeSet<String>> =
        RwSignal::new(accounts.iter().map(|a| a.id.clone()).collect());
    let chosen_value = move || chosen.get().into_iter().collect::<Vec<_>>().join(",");
    let no_templates = templates.is_empty();
    // Leads picked on the Leads page ("New campaign…" with a selection) arrive through session
    // storage; without them, the segment is a filter.
    let query = use_query_map();
    let picked: RwSignal<Option<String>> = RwSignal::new(None);
    Effect::new(move |_| {
        if query.read().get("picked").is_some() {
            picked.set(read_picked());
        }
    });
    let picked_count = move || {
        picked.with(|p| {
            p.as_deref()
                .map_or(0, |ids| ids.split(',').filter(|s| !s.is_empty()).count())
        })
    };
    view! {
        <section aria-labelledby="new-campaign" class=format!("{CARD} h-fit p-4")>
            <h2 id="new-campaign" class="mb-4 text-sm font-medium">"New campaign"</h2>
            <ActionForm action=create attr:class="flex flex-col gap-3" attr:data-testid="campaign-form">
                <Field label="Name" name="name" required=true error=field_error("name")/>
                <div class="flex flex-col gap-1.5">
                    <label for="field-template" class="text-xs text-muted">"Template"</label>
                    <select id="field-template" name="template_id" class=INPUT data-testid="input-template">
                        {templates.into_iter().map(|t| view! { <option value=t.id>{t.label}</option> }).collect_view()}
                    </select>
                    {no_templates.then(|| view! { <p class="text-xs text-warning">"Create a template first."</p> })}
                    <ErrorNote message=field_error("template_id")/>
                </div>
                <fieldset class="flex flex-col gap-1.5">
                    <legend class="mb-1 text-xs text-muted">"Send from (in rotation)"</legend>
                    <input type="hidden" name="accounts" prop:value=chosen_value/>
                    {accounts.into_iter().map(|a| {
                        let id = a.id.clone();
                        let checked = chosen.get_untracked().contains(&id);
                        view! {
                            <label class="flex items-center gap-2 text-sm">
                                <input type="checkbox" checked=checked data-testid="input-account"
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|set| { if on { set.insert(id.clone()); } else { set.remove(&id); } });
                                    }/>
                                {a.label}
                            </label>
                        }
                    }).collect_view()}
                    <ErrorNote message=field_error("account_ids")/>
                </fieldset>
                <fieldset class="flex flex-col gap-2">
                    <legend class="mb-1 text-xs text-muted">"Leads"</legend>
                    <Show when=move || picked.with(Option::is_some) fallback=move || view! {
                        <Field label="Matching (name, phone, company; empty = all)" name="search" error=field_error("segment")/>
                        <div class="flex flex-col gap-1.5">
                            <label for="field-segment-status" class="text-xs text-muted">"With status"</label>
                            <select id="field-segment-status" name="status" class=INPUT>
                                <option value="">"Any"</option>
                                {lead_status_options()}
                            </select>
                        </div>
                        <p class="text-xs text-muted">"To pick leads one by one, select them on the Leads page and choose \u{201c}New campaign…\u{201d}."</p>
                    }>
                        <input type="hidden" name="lead_ids" prop:value=move || picked.get().unwrap_or_default()/>
                        <p class="text-sm" data-testid="picked-leads">{move || format!("{} leads picked on the Leads page", picked_count())}</p>
                        {move || (picked_count() > PICK_MAX).then(|| view! {
                            <p class="text-xs text-danger">{format!("Pick at most {PICK_MAX} leads here; for more, use a filter.")}</p>
                        })}
                        <button type="button" class=format!("{BUTTON_QUIET} self-start") on:click=move |_| picked.set(None)>"Use a filter instead"</button>
                        <ErrorNote message=field_error("segment")/>
                    </Show>
                </fieldset>
                <details class="flex flex-col gap-2">
                    <summary class="cursor-pointer text-xs text-muted">"Schedule and pacing (safe defaults)"</summary>
                    <div class="mt-2 grid grid-cols-2 gap-2">
                        <Field label="Start at (empty = now)" name="start_at" kind="datetime-local" error=field_error("start_at")/>
                        <Field label="Time zone" name="time_zone" placeholder="UTC" error=field_error("time_zone")/>
                        <Field label="Quiet from" name="quiet_start" kind="time" error=field_error("quiet_start")/>
                        <Field label="Quiet until" name="quiet_end" kind="time" error=field_error("quiet_end")/>
                        <Field label="Per minute" name="per_minute" kind="number" placeholder="4" error=field_error("per_minute")/>
                        <Field label="Per hour" name="per_hour" kind="number" placeholder="60" error=field_error("per_hour")/>
                        <Field label="Per day" name="per_day" kind="number" placeholder="300" error=field_error("per_day")/>
                        <Field label="New contacts / day" name="first_contact_per_day" kind="number" placeholder="100" error=field_error("first_contact_per_day")/>
                        <Field label="Random wait up to (s)" name="jitter_seconds" kind="number" placeholder="20" error=field_error("jitter_seconds")/>
                        <label class="flex items-center gap-2 self-end text-sm">
                            <input type="checkbox" name="skip_warm_up" value="on"/>"Skip warm-up"
                        </label>
                    </div>
                    <p class="mt-2 text-xs text-muted">"Caps hold per account across all campaigns. Unless warm-up is skipped, accounts linked recently start at 20 messages a day, doubling daily. A campaign pauses itself if an account is logged out or messages start failing."</p>
                </details>
                <label class="flex items-center gap-2 text-sm">
                    <input type="checkbox" name="draft" value="on"/>"Save as draft (start later)"
                </label>
                <ErrorNote message=form_error/>
                <button type="submit" class=BUTTON_PRIMARY data-testid="campaign-submit" disabled=move || { create.pending().get() || picked_count() > PICK_MAX }>
                    {move || if create.pending().get() { "Creating…" } else { "Launch campaign" }}
                </button>
            </ActionForm>
        </section>
    }
}

/// The most leads a picked list may carry through the form (the request body limit).
const PICK_MAX: usize = 1000;

/// The leads picked on the Leads page, if any (see `leads::PICKED_LEADS_KEY`).
fn read_picked() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.session_storage().ok().flatten())
            .and_then(|s| s.get_item(super::leads::PICKED_LEADS_KEY).ok().flatten())
            .filter(|ids| !ids.trim().is_empty())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}
