//! The pages' resources, with the one JSON reader the browser build also uses for server function
//! answers.
//!
//! A resource's server-rendered value reaches the browser as JSON in the page. Leptos' default
//! codec reads it with `serde_json::from_str`, while server function answers are read with
//! `serde_json::from_slice`; each reader compiles its own copy of every type's decoder into the
//! WASM. Reading both the same way (`from_slice`) keeps one copy. What goes over the wire is the
//! same JSON.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON written by `serde_json::to_string`, read by `serde_json::from_slice`.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A page's resource (see the module's documentation).
pub type Res<T> = Resource<T, Json>;

/// `Resource::new` with [`Json`]: `fetcher` runs again whenever `source` changes.
#[track_caller]
pub fn new<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Res<T>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
