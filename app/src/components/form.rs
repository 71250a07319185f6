//! Feedback for create forms whose server function fails with [`FormError`]: the message for one
//! field, or for the form as a whole. The action's value is also seeded from the URL after a
//! no-JavaScript post (the router reads `__path`/`__err`), so this works before hydration too.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::FormError;

/// The server's message about `field` from the last submission, if it blamed that field.
pub fn field_error<S>(action: ServerAction<S>, field: &'static str) -> Signal<Option<String>>
where
    S: ServerFn<Error = FormError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let value = action.value();
    Signal::derive(move || match value.get() {
        Some(Err(FormError::Invalid { field: f, message })) if f == field => Some(message),
        _ => None,
    })
}

/// A failure not shown next to one of `fields` (the form has no input for it, or it is general).
pub fn form_error<S>(
    action: ServerAction<S>,
    fields: &'static [&'static str],
) -> Signal<Option<String>>
where
    S: ServerFn<Error = FormError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let value = action.value();
    Signal::derive(move || match value.get() {
        Some(Err(e)) if e.field().is_none_or(|f| !fields.contains(&f)) => {
            Some(e.message().to_string())
        }
        _ => None,
    })
}
