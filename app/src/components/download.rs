//! A download link with a progress bar. Exports are streamed ZIPs without a `Content-Length`, so
//! a browser's own download shows no percentage; once the page is hydrated the link fetches the
//! file itself, reads it chunk by chunk against the server's `X-Export-Estimated-Bytes`, and saves
//! it under the server's file name. Before hydration (or without JavaScript) it is a plain
//! download link.

use leptos::prelude::*;

/// Where a download is (only the browser build moves it past `Idle`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Progress {
    Idle,
    /// Bytes received, and the estimate of the whole (0 = unknown).
    Receiving(u64, u64),
    Done(u64),
    Failed(String),
}

fn megabytes(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[component]
pub fn DownloadWithProgress(
    href: String,
    label: &'static str,
    class: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let progress = RwSignal::new(Progress::Idle);
    let start = {
        let href = href.clone();
        move |ev: leptos::ev::MouseEvent| {
            if matches!(progress.get_untracked(), Progress::Receiving(..)) {
                ev.prevent_default();
                return;
            }
            #[cfg(feature = "hydrate")]
            {
                ev.prevent_default();
                let href = href.clone();
                leptos::task::spawn_local(async move {
                    progress.set(Progress::Receiving(0, 0));
                    match fetch::fetch_and_save(&href, progress).await {
                        Ok(total) => progress.set(Progress::Done(total)),
                        Err(e) => progress.set(Progress::Failed(e)),
                    }
                });
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&ev, &href);
        }
    };
    let status = move || match progress.get() {
        Progress::Idle => None,
        Progress::Receiving(got, estimate) => Some(if estimate > 0 {
            format!(
                "Downloading… {} of about {}",
                megabytes(got),
                megabytes(estimate)
            )
        } else {
            format!("Downloading… {}", megabytes(got))
        }),
        Progress::Done(total) => Some(format!("Downloaded ({}).", megabytes(total))),
        Progress::Failed(why) => Some(why),
    };
    // Percent of the estimate; held below 100 until the last byte, as estimates are rough.
    let percent = move || match progress.get() {
        Progress::Receiving(got, estimate) if estimate > 0 => {
            Some((got.saturating_mul(100) / estimate).min(99))
        }
        Progress::Receiving(..) => Some(0),
        _ => None,
    };
    view! {
        <div class="flex flex-col gap-2">
            <div>
                <a href=href download class=class data-testid=testid on:click=start>{label}</a>
            </div>
            {move || percent().map(|p| view! {
                <progress class="h-2 w-full accent-accent" max="100" value=p.to_string()
                    aria-label="Download progress" data-testid=format!("{testid}-progress")></progress>
            })}
            <p class="text-xs text-muted empty:hidden" aria-live="polite" data-testid=format!("{testid}-status")
                class:text-danger=move || matches!(progress.get(), Progress::Failed(_))>{status}</p>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod fetch {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::Progress;

    fn js_error<T>(_: T) -> String {
        "The download stopped; please try again.".to_owned()
    }

    /// The file name in a `Content-Disposition: attachment; filename="…"` header.
    fn file_name(disposition: Option<String>) -> String {
        disposition
            .and_then(|d| {
                d.split("filename=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_owned)
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "export.zip".to_owned())
    }

    /// Fetches `href`, reporting progress, then saves it; returns its size.
    pub async fn fetch_and_save(href: &str, progress: RwSignal<Progress>) -> Result<u64, String> {
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response = JsFuture::from(window.fetch_with_str(href))
            .await
            .map_err(js_error)?
            .dyn_into()
            .map_err(js_error)?;
        if !response.ok() {
            return Err(match response.status() {
                503 => "Too many exports are running; please try again in a minute.".to_owned(),
                401 => "Your session ended; sign in again.".to_owned(),
                _ => "The export failed; please try again.".to_owned(),
            });
        }
        let headers = response.headers();
        let estimate = headers
            .get("x-export-estimated-bytes")
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let name = file_name(headers.get("content-disposition").ok().flatten());
        let body = response.body().ok_or("The export was empty.")?;
        let reader: web_sys::ReadableStreamDefaultReader =
            body.get_reader().dyn_into().map_err(js_error)?;
        let chunks = js_sys::Array::new();
        let mut got: u64 = 0;
        loop {
            let step = JsFuture::from(reader.read()).await.map_err(js_error)?;
            let done = js_sys::Reflect::get(&step, &JsValue::from_str("done"))
                .map_err(js_error)?
                .as_bool()
                .unwrap_or(true);
            if done {
                break;
            }
            let chunk: js_sys::Uint8Array =
                js_sys::Reflect::get(&step, &JsValue::from_str("value"))
                    .map_err(js_error)?
                    .dyn_into()
                    .map_err(js_error)?;
            got += u64::from(chunk.length());
            chunks.push(&chunk);
            progress.set(Progress::Receiving(got, estimate.max(got)));
        }
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/zip");
        let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&chunks, &options)
            .map_err(js_error)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)?;
        let document = window.document().ok_or("no document")?;
        let link: web_sys::HtmlAnchorElement = document
            .create_element("a")
            .map_err(js_error)?
            .dyn_into()
            .map_err(js_error)?;
        link.set_href(&url);
        link.set_download(&name);
        link.click();
        // Freed once the browser has surely taken the file (revoking at once can cancel it).
        set_timeout(
            move || {
                let _ = web_sys::Url::revoke_object_url(&url);
            },
            std::time::Duration::from_secs(60),
        );
        Ok(got)
    }
}
