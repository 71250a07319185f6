//! CSV import of leads: choose a file and a default country, see its columns with a suggested
//! mapping and the first rows, adjust the mapping, import with an upload progress bar, then read
//! the report (created, updated, merged, and every refused row with its line and reason).
//!
//! It talks to the REST API (`/api/leads/import/preview`, `/api/leads/import`), which takes the
//! file as the request body, so it needs the hydrated page: the upload goes through
//! `XMLHttpRequest` for its progress events. Before hydration the controls are inert.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::ui::{BUTTON_PRIMARY, BUTTON_QUIET, CARD, ErrorNote, INPUT};

/// `store::ImportPreview` as the API sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub columns: Vec<String>,
    pub suggested: Vec<Target>,
    pub sample: Vec<Vec<String>>,
    pub rows: usize,
}

/// `store::ColumnTarget` as JSON: `{"to": "name"}`, `{"to": "field", "field": "city"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// `store::ImportReport` as the API sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub merged: usize,
    pub errors: Vec<RowError>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Stage {
    Idle,
    Reading,
    Mapping(Preview),
    /// Bytes sent of the whole.
    Uploading(f64, f64),
    /// The server is writing the rows (upload finished).
    Importing,
    Done(Report),
}

/// Countries offered as the default for numbers written without their country code.
const COUNTRIES: [(&str, &str); 16] = [
    ("", "None (numbers have +country code)"),
    ("GB", "United Kingdom (+44)"),
    ("US", "United States (+1)"),
    ("CA", "Canada (+1)"),
    ("IE", "Ireland (+353)"),
    ("DE", "Germany (+49)"),
    ("FR", "France (+33)"),
    ("ES", "Spain (+34)"),
    ("IT", "Italy (+39)"),
    ("NL", "Netherlands (+31)"),
    ("PT", "Portugal (+351)"),
    ("BR", "Brazil (+55)"),
    ("MX", "Mexico (+52)"),
    ("IN", "India (+91)"),
    ("ZA", "South Africa (+27)"),
    ("AU", "Australia (+61)"),
];

/// The select value of a target (`field:<name>` for extra fields).
fn target_value(t: &Target) -> String {
    match (t.to.as_str(), &t.field) {
        ("field", Some(name)) => format!("field:{name}"),
        (to, _) => to.to_owned(),
    }
}

fn target_of(value: &str) -> Target {
    match value.strip_prefix("field:") {
        Some(name) => Target {
            to: "field".into(),
            field: Some(name.to_owned()),
        },
        None => Target {
            to: value.to_owned(),
            field: None,
        },
    }
}

/// A field name for a header, as the server derives it (lower case, `_` between words).
fn field_name(header: &str) -> String {
    let mut out = String::new();
    for c in header.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

#[component]
pub fn ImportCsv(
    /// Bumped after an import wrote leads, so the list refreshes.
    imported: RwSignal<u32>,
) -> impl IntoView {
    #[cfg(not(feature = "hydrate"))]
    let _ = imported;
    let stage = RwSignal::new(Stage::Idle);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let country = RwSignal::new(String::new());
    let mapping: RwSignal<Vec<Target>> = RwSignal::new(Vec::new());
    let file_ref = NodeRef::<leptos::html::Input>::new();

    let on_file = move |_| {
        error.set(None);
        #[cfg(feature = "hydrate")]
        if let Some(file) = file_ref
            .get()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0))
        {
            stage.set(Stage::Reading);
            leptos::task::spawn_local(async move {
                match browser::preview(&file).await {
                    Ok(p) => {
                        mapping.set(p.suggested.clone());
                        stage.set(Stage::Mapping(p));
                    }
                    Err(e) => {
                        error.set(Some(e));
                        stage.set(Stage::Idle);
                    }
                }
            });
        }
    };
    let start = move |_| {
        error.set(None);
        #[cfg(feature = "hydrate")]
        if let Some(file) = file_ref
            .get()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0))
        {
            let map = serde_json::to_string(&mapping.get_untracked()).unwrap_or_default();
            browser::upload(file, country.get_untracked(), map, stage, error, imported);
        }
    };

    let mapping_view = move || {
        match stage.get() {
        Stage::Mapping(p) => {
            let columns = p.columns.clone();
            view! {
                <p class="text-xs text-muted" data-testid="import-rows">{format!("{} rows. Choose what each column is:", p.rows)}</p>
                <div class="overflow-x-auto">
                    <table class="text-left text-xs" data-testid="import-preview">
                        <thead>
                            <tr>
                                {columns.iter().enumerate().map(|(i, header)| {
                                    let extra = format!("field:{}", field_name(header));
                                    let extra_label = format!("Variable {{{{{}}}}}", field_name(header));
                                    view! {
                                        <th class="p-1 align-top font-normal">
                                            <div class="mb-1 font-medium text-fg">{header.clone()}</div>
                                            <select class=format!("{INPUT} min-w-32") data-testid="import-map"
                                                aria-label=format!("Column {header}")
                                                prop:value=move || mapping.with(|m| m.get(i).map(target_value).unwrap_or_default())
                                                on:change=move |ev| {
                                                    let value = event_target_value(&ev);
                                                    mapping.update(|m| if let Some(t) = m.get_mut(i) { *t = target_of(&value); });
                                                }>
                                                <option value="name">"Name"</option>
                                                <option value="phone">"Phone"</option>
                                                <option value="company">"Company"</option>
                                                <option value="email">"Email"</option>
                                                <option value="status">"Status"</option>
                                                <option value=extra.clone()>{extra_label}</option>
                                                <option value="ignore">"Ignore"</option>
                                            </select>
                                        </th>
                                    }
                                }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {p.sample.into_iter().map(|row| view! {
                                <tr class="border-t border-line">
                                    {row.into_iter().map(|cell| view! { <td class="max-w-40 truncate p-1 text-muted">{cell}</td> }).collect_view()}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <button type="button" class=BUTTON_PRIMARY data-testid="import-start" on:click=start>
                    {format!("Import {} rows", p.rows)}
                </button>
            }
            .into_any()
        }
        Stage::Reading => view! { <p class="text-xs text-muted">"Reading the file…"</p> }.into_any(),
        Stage::Uploading(sent, total) => {
            let percent = if total > 0.0 { (sent / total * 100.0).round() as i64 } else { 0 };
            view! {
                <div class="h-2 overflow-hidden rounded-full bg-raised" role="progressbar" aria-label="Upload"
                    aria-valuemin="0" aria-valuemax="100" aria-valuenow=percent.to_string() data-testid="import-progress">
                    <div class="h-full bg-accent" style=format!("width: {percent}%")></div>
                </div>
                <p class="text-xs text-muted">{format!("Uploading… {percent} %")}</p>
            }
            .into_any()
        }
        Stage::Importing => view! {
            <div class="h-2 overflow-hidden rounded-full bg-raised" role="progressbar" aria-label="Upload"
                aria-valuemin="0" aria-valuemax="100" aria-valuenow="100" data-testid="import-progress">
                <div class="h-full w-full animate-pulse bg-accent"></div>
            </div>
            <p class="text-xs text-muted">"Checking and saving the rows…"</p>
        }
        .into_any(),
        Stage::Done(r) => view! {
            <p class="text-sm text-accent" data-testid="import-report">
                {format!("Imported {} rows: {} new leads, {} updated, {} duplicate rows merged{}.",
                    r.rows, r.created, r.updated, r.merged,
                    if r.errors.is_empty() { String::new() } else { format!(", {} refused", r.errors.len()) })}
            </p>
            {(!r.errors.is_empty()).then(|| view! {
                <ul class="max-h-48 overflow-y-auto text-xs text-danger" data-testid="import-errors">
                    {r.errors.into_iter().map(|e| view! { <li>{format!("Line {}: {}", e.line, e.reason)}</li> }).collect_view()}
                </ul>
            })}
            <button type="button" class=BUTTON_QUIET on:click=move |_| stage.set(Stage::Idle)>"Import another file"</button>
        }
        .into_any(),
        Stage::Idle => ().into_any(),
    }
    };

    view! {
        <section aria-labelledby="import-leads" class=format!("{CARD} h-fit p-4 flex flex-col gap-3")>
            <h2 id="import-leads" class="text-sm font-medium">"Import from CSV"</h2>
            <p class="text-xs text-muted">"One lead per phone number: duplicates are merged and existing leads updated. Bad rows are listed and skipped."</p>
            <div class="flex flex-col gap-1.5">
                <label for="import-country" class="text-xs text-muted">"Country of numbers without a code"</label>
                <select id="import-country" class=INPUT data-testid="import-country"
                    on:change=move |ev| country.set(event_target_value(&ev))>
                    {COUNTRIES.map(|(code, label)| view! { <option value=code>{label}</option> }).collect_view()}
                </select>
            </div>
            <input type="file" accept=".csv,text/csv" node_ref=file_ref on:change=on_file
                class="text-sm text-muted file:mr-3 file:rounded-md file:border file:border-line file:bg-raised file:px-3 file:py-1.5 file:text-fg"
                data-testid="import-file" aria-label="CSV file"/>
            {mapping_view}
            <ErrorNote message=error/>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen_futures::JsFuture;

    /// An API error body's message, or a plain sentence.
    fn message(status: u16, body: &str) -> String {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("The server refused the file ({status})."))
    }

    pub async fn preview(file: &web_sys::File) -> Result<Preview, String> {
        let window = web_sys::window().ok_or("no window")?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(file.as_ref());
        let headers = web_sys::Headers::new().map_err(|_| "headers")?;
        headers
            .set("Content-Type", "text/csv")
            .map_err(|_| "headers")?;
        init.set_headers(&headers);
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str_and_init("/api/leads/import/preview", &init))
                .await
                .map_err(|_| "Could not reach the server. Check the connection and try again.")?
                .dyn_into()
                .map_err(|_| "no response")?;
        let text = JsFuture::from(response.text().map_err(|_| "no body")?)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        if !response.ok() {
            return Err(message(response.status(), &text));
        }
        serde_json::from_str(&text).map_err(|_| "The server's answer could not be read.".to_owned())
    }

    /// Uploads with progress; the stage moves to `Done` (or back to `Idle` with the error).
    pub fn upload(
        file: web_sys::File,
        country: String,
        mapping: String,
        stage: RwSignal<Stage>,
        error: RwSignal<Option<String>>,
        imported: RwSignal<u32>,
    ) {
        let fail = move |e: String| {
            error.set(Some(e));
            stage.set(Stage::Idle);
        };
        let Ok(xhr) = web_sys::XmlHttpRequest::new() else {
            return fail("This browser cannot upload files.".into());
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("default_country", &country)
            .append_pair("mapping", &mapping)
            .finish();
        let url = format!("/api/leads/import?{query}");
        if xhr.open("POST", &url).is_err()
            || xhr.set_request_header("Content-Type", "text/csv").is_err()
        {
            return fail("This browser cannot upload files.".into());
        }
        stage.set(Stage::Uploading(0.0, file.size()));
        if let Ok(upload) = xhr.upload() {
            let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(
                move |e: web_sys::ProgressEvent| {
                    if e.loaded() >= e.total() && e.total() > 0.0 {
                        stage.set(Stage::Importing);
                    } else {
                        stage.set(Stage::Uploading(e.loaded(), e.total()));
                    }
                },
            );
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
            on_progress.forget();
        }
        let done_xhr = xhr.clone();
        let on_load = Closure::<dyn FnMut()>::new(move || {
            let status = done_xhr.status().unwrap_or(0);
            let body = done_xhr.response_text().ok().flatten().unwrap_or_default();
            if (200..300).contains(&status) {
                match serde_json::from_str::<Report>(&body) {
                    Ok(report) => {
                        stage.set(Stage::Done(report));
                        imported.update(|n| *n = n.wrapping_add(1));
                    }
                    Err(_) => fail("The server's answer could not be read.".into()),
                }
            } else {
                fail(message(status, &body));
            }
        });
        xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
        on_load.forget();
        let on_error = Closure::<dyn FnMut()>::new(move || {
            fail("Could not reach the server. Check the connection and try again.".into())
        });
        xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        if xhr.send_with_opt_blob(Some(&file)).is_err() {
            fail("The file could not be sent.".into());
        }
    }
}
