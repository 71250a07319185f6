//! The browser half: hydrate the server-rendered page. Nothing else lives here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes (`app::routes`) need the asynchronous hydration, which waits for the page's
    // WASM chunks before hydrating it: `leptos::mount::hydrate_lazy`, written out here so that the
    // page is marked interactive once it really is.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        // The end-to-end tests wait for this mark before using hydrated behaviour.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
