//! Small shared pieces: empty states, form fields, buttons, error notes.

use leptos::prelude::*;

pub const INPUT: &str = "w-full min-h-10 rounded-md border border-line bg-bg px-3 text-sm text-fg placeholder:text-muted/70 transition-colors duration-150 focus-visible:outline-offset-0";
pub const BUTTON_PRIMARY: &str = "inline-flex min-h-10 items-center justify-center rounded-md bg-accent px-4 text-sm font-medium text-black transition-opacity duration-150 hover:opacity-90 disabled:opacity-50";
pub const BUTTON_QUIET: &str = "inline-flex min-h-10 items-center justify-center rounded-md border border-line px-4 text-sm text-fg transition-colors duration-150 hover:bg-raised disabled:opacity-50";
pub const BUTTON_DANGER: &str = "inline-flex min-h-10 items-center justify-center rounded-md border border-danger/50 px-3 text-sm text-danger transition-colors duration-150 hover:bg-danger/10";
pub const CARD: &str = "rounded-lg border border-line bg-surface";

/// The five lead statuses as `<option>`s, for every status select.
pub fn lead_status_options() -> impl IntoView {
    [
        ("new", "New"),
        ("contacted", "Contacted"),
        ("qualified", "Qualified"),
        ("won", "Won"),
        ("lost", "Lost"),
    ]
    .map(|(value, label)| view! { <option value=value>{label}</option> })
    .collect_view()
}

#[component]
pub fn EmptyState(
    title: &'static str,
    hint: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex flex-col items-center gap-3 rounded-lg border border-dashed border-line px-6 py-12 text-center" data-testid="empty-state">
            <p class="text-base font-medium">{title}</p>
            <p class="max-w-sm text-sm text-muted">{hint}</p>
            {children.map(|c| c())}
        </div>
    }
}

/// Store messages are lower-case fragments ("must start with +…"); shown alone under a field they
/// read better as a sentence.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the user reads when a list or delete server function fails: our own message for server
/// errors, a plain sentence for everything else (never transport or decoding details).
pub fn user_message(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => sentence(message),
        ServerFnError::Request(_) => {
            "Could not reach the server. Check the connection and try again.".into()
        }
        _ => "Something went wrong; please try again.".into(),
    }
}

/// A labelled input; `error` shows under it when the server refused this field.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(optional)] kind: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autocomplete: Option<&'static str>,
    /// The id of a `<datalist>` of suggestions.
    #[prop(optional)]
    list: Option<&'static str>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let err_id = format!("{id}-error");
    view! {
        <div class="flex flex-col gap-1.5">
            <label for=id.clone() class="text-xs text-muted">{label}</label>
            <input
                id=id
                name=name
                type=kind.unwrap_or("text")
                placeholder=placeholder
                required=required
                autocomplete=autocomplete
                list=list
                class=INPUT
                data-testid=format!("input-{name}")
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=err_id.clone()
            />
            {hint.map(|h| view! { <p class="text-xs text-muted">{h}</p> })}
            <p id=err_id class="text-xs text-danger" data-testid=format!("error-{name}")>
                {move || error.get().map(|e| sentence(&e))}
            </p>
        </div>
    }
}

/// A secret shown this once (a new API key, a webhook signing secret), selectable for copying.
#[component]
pub fn SecretOnce(what: &'static str, secret: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="rounded-md border border-accent/40 p-3" role="status">
            <p class="text-xs text-muted">{format!("{what} — copy it now, it will not be shown again:")}</p>
            <code class="mt-1 block select-all break-all text-sm" data-testid=testid>{secret}</code>
        </div>
    }
}

/// A failure that is not tied to one field.
#[component]
pub fn ErrorNote(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <p role="alert" class="text-sm text-danger empty:hidden" data-testid="form-error">
            {move || message.get().map(|m| sentence(&m))}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn sentence_capitalises_only_the_first_letter() {
        assert_eq!(sentence("must start with +"), "Must start with +");
        assert_eq!(sentence("été"), "Été");
        assert_eq!(sentence(""), "");
    }
}
