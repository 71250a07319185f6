//! Media in the chat: how a message's file shows in its bubble (a photo that opens full size, a
//! player for voice notes and audio, a video, a document card with its name, size and download),
//! and sending files from the composer (the attach button, drag-and-drop, paste) with an upload
//! progress bar. Files are fetched from `GET /api/media/{id}` lazily (only when in view), and sent
//! through `POST /api/messages/media` (the REST API checks, converts and queues them).

use leptos::prelude::*;

use crate::fns::{MediaPayload, MessagePayload};

/// `1.4 MB`, `830 KB`, `12 B`.
pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1_000_000.0 {
        format!("{:.1} MB", b / 1_000_000.0)
    } else if b >= 1_000.0 {
        format!("{:.0} KB", b / 1_000.0)
    } else {
        format!("{bytes} B")
    }
}

/// `0:07`, `12:30`.
pub fn duration(seconds: i32) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

fn noun(m: &MediaPayload) -> &'static str {
    match m.kind.as_str() {
        "image" => "photo",
        "sticker" => "sticker",
        "audio" if m.ptt => "voice note",
        "audio" => "audio",
        "video" => "video",
        _ => "document",
    }
}

/// The file of a media message, inside its bubble.
#[component]
pub fn MediaView(message: MessagePayload, media: MediaPayload) -> impl IntoView {
    let id = message.id.clone();
    let url = format!("/api/media/{id}");
    let thumb = format!("/api/media/{id}/thumbnail");
    let what = noun(&media);
    let alt = message
        .text
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("A {what}"));
    match media.state.as_str() {
        "pending" => view! {
            <div class="flex items-center gap-2 rounded-md bg-raised px-3 py-2 text-sm text-muted" data-testid="media-pending">
                {media.has_thumbnail.then(|| view! {
                    <img src=thumb.clone() alt="" class="h-12 w-12 rounded object-cover blur-[1px]" loading="lazy"/>
                })}
                <span>{format!("Receiving the {what}…")}</span>
            </div>
        }
        .into_any(),
        "failed" => view! {
            <p class="rounded-md bg-raised px-3 py-2 text-sm text-danger" data-testid="media-failed">
                {format!("The {what} could not be downloaded: {}", media.state_reason.clone().unwrap_or_else(|| "unknown reason".into()))}
            </p>
        }
        .into_any(),
        _ => match media.kind.as_str() {
            "image" | "sticker" => {
                // Reserve the picture's space before it loads (no jumping thread).
                let (w, h) = match (media.width, media.height) {
                    (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
                    _ => (320, 240),
                };
                let full = url.clone();
                view! {
                    <a href=full target="_blank" rel="noopener" class="block" data-testid="media-image"
                        title="Open full size">
                        <img src=url alt=alt width=w height=h loading="lazy" decoding="async"
                            class="h-auto max-h-72 w-auto max-w-full rounded-md bg-raised object-contain"/>
                    </a>
                }
                .into_any()
            }
            "audio" => {
                let label = match (media.ptt, media.seconds) {
                    (true, Some(s)) => format!("Voice note · {}", duration(s)),
                    (true, None) => "Voice note".to_owned(),
                    (false, Some(s)) => format!("Audio · {}", duration(s)),
                    (false, None) => "Audio".to_owned(),
                };
                view! {
                    <div class="flex flex-col gap-1" data-testid="media-audio">
                        <audio controls preload="none" src=url class="h-10 w-64 max-w-full" aria-label=label.clone()></audio>
                        <span class="text-xs text-muted">{label}</span>
                    </div>
                }
                .into_any()
            }
            "video" => view! {
                <video controls preload="none" src=url poster=media.has_thumbnail.then_some(thumb)
                    class="max-h-72 w-72 max-w-full rounded-md bg-raised" data-testid="media-video"></video>
            }
            .into_any(),
            _ => {
                let name = media
                    .file_name
                    .clone()
                    .unwrap_or_else(|| "Document".to_owned());
                let detail = format!(
                    "{} · {}",
                    human_size(media.file_length),
                    media
                        .mimetype
                        .rsplit('/')
                        .next()
                        .unwrap_or("file")
                        .to_ascii_uppercase()
                );
                let save_as = name.clone();
                view! {
                    <a href=url download=save_as data-testid="media-document"
                        class="flex min-h-12 w-64 max-w-full items-center gap-3 rounded-md border border-line bg-raised px-3 py-2 hover:border-accent">
                        <svg viewBox="0 0 24 24" class="h-6 w-6 shrink-0 text-muted" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true">
                            <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"></path>
                            <path d="M14 3v5h5"></path>
                        </svg>
                        <span class="min-w-0 flex-1">
                            <span class="block truncate text-sm" data-testid="document-name">{name}</span>
                            <span class="block text-xs text-muted">{detail}</span>
                        </span>
                        <span class="text-xs text-accent">"Download"</span>
                    </a>
                }
                .into_any()
            }
        },
    }
}

/// An upload in progress: bytes sent of total (`None` once the server is working on it).
#[derive(Clone, Debug, PartialEq)]
pub struct Uploading {
    pub name: String,
    pub sent: Option<(f64, f64)>,
}

/// The upload progress bar under the composer.
#[component]
pub fn UploadProgress(uploading: RwSignal<Option<Uploading>>) -> impl IntoView {
    move || {
        uploading.get().map(|u| {
            let (percent, label) = match u.sent {
                Some((sent, total)) if total > 0.0 => {
                    let p = (sent / total * 100.0).clamp(0.0, 100.0);
                    (p, format!("Uploading {} — {p:.0} %", u.name))
                }
                _ => (100.0, format!("Sending {}…", u.name)),
            };
            view! {
                <div class="flex flex-col gap-1" data-testid="upload-progress">
                    <span class="text-xs text-muted">{label}</span>
                    <div class="h-2 overflow-hidden rounded-full bg-raised" role="progressbar" aria-label="Upload"
                        aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{percent:.0}")>
                        <div class="h-full bg-accent" style=format!("width: {percent:.1}%")></div>
                    </div>
                </div>
            }
        })
    }
}

#[cfg(feature = "hydrate")]
pub mod browser {
    //! The upload itself: `XMLHttpRequest` for its progress events.

    use super::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    fn message(status: u16, body: &str) -> String {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("The server refused the file ({status})."))
    }

    /// Sends `file` to `to` from `account_id`, reporting progress in `uploading`; `done` gets the
    /// queued message or the reason it was refused.
    pub fn send_file(
        file: web_sys::File,
        account_id: String,
        to: String,
        caption: String,
        uploading: RwSignal<Option<Uploading>>,
        done: impl Fn(Result<MessagePayload, String>) + Clone + 'static,
    ) {
        let name = file.name();
        let finish = {
            let done = done.clone();
            move |result: Result<MessagePayload, String>| {
                uploading.set(None);
                done(result);
            }
        };
        let (Ok(xhr), Ok(form)) = (web_sys::XmlHttpRequest::new(), web_sys::FormData::new()) else {
            return finish(Err("This browser cannot upload files.".into()));
        };
        let filled = form.append_with_str("account_id", &account_id).is_ok()
            && form.append_with_str("to", &to).is_ok()
            && form.append_with_str("caption", &caption).is_ok()
            && form
                .append_with_blob_and_filename("file", &file, &name)
                .is_ok();
        if !filled || xhr.open("POST", "/api/messages/media").is_err() {
            return finish(Err("This browser cannot upload files.".into()));
        }
        uploading.set(Some(Uploading {
            name: name.clone(),
            sent: Some((0.0, file.size())),
        }));
        if let Ok(upload) = xhr.upload() {
            let name = name.clone();
            let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(
                move |e: web_sys::ProgressEvent| {
                    let sent = (e.loaded() < e.total()).then_some((e.loaded(), e.total()));
                    uploading.set(Some(Uploading {
                        name: name.clone(),
                        sent,
                    }));
                },
            );
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
            on_progress.forget();
        }
        let done_xhr = xhr.clone();
        let on_load = {
            let finish = finish.clone();
            Closure::<dyn FnMut()>::new(move || {
                let status = done_xhr.status().unwrap_or(0);
                let body = done_xhr.response_text().ok().flatten().unwrap_or_default();
                if (200..300).contains(&status) {
                    finish(
                        serde_json::from_str::<MessagePayload>(&body)
                            .map_err(|_| "The server's answer could not be read.".to_owned()),
                    );
                } else {
                    finish(Err(message(status, &body)));
                }
            })
        };
        xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
        on_load.forget();
        let on_error = {
            let finish = finish.clone();
            Closure::<dyn FnMut()>::new(move || {
                finish(Err(
                    "Could not reach the server. Check the connection and try again.".into(),
                ))
            })
        };
        xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        if xhr.send_with_opt_form_data(Some(&form)).is_err() {
            finish(Err("The file could not be sent.".into()));
        }
    }

    /// The files of a file list (an input, a drop, a paste).
    pub fn files(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
        let Some(list) = list else {
            return Vec::new();
        };
        (0..list.length()).filter_map(|i| list.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(830_000), "830 KB");
        assert_eq!(human_size(1_400_000), "1.4 MB");
        assert_eq!(duration(7), "0:07");
        assert_eq!(duration(750), "12:30");
    }
}
