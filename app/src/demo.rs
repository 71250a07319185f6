//! Demo mode (`DEMO=true`, `./scripts/start.sh --demo`): the offline WhatsApp runs inside the
//! server and a clearly labelled **demo phone** panel lets anyone try the product without a
//! phone or the internet: scan the QR shown in the link dialog (or type the pairing code), then
//! write to your account as one of the demo contacts, type, go online, read what you sent.
//!
//! Off by default. When it is off, the panel is not rendered and every `/fn/demo/*` server
//! function answers 404 without doing anything.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::components::ui::{BUTTON_PRIMARY, BUTTON_QUIET, CARD, ErrorNote, INPUT, user_message};

/// What the panel shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoView {
    /// The signed-in user's own (simulated) WhatsApp number: the account they link.
    pub my_number: String,
    /// (name, number) of the demo contacts.
    pub contacts: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
pub mod world {
    //! The simulated WhatsApp the demo runs on.

    use std::sync::Arc;

    use fake_whatsapp::{Config, FakeError, FakeWhatsApp, Phone};
    use uuid::Uuid;

    /// The demo contacts: (number, LID user, name).
    pub const CONTACTS: [(&str, &str, &str); 3] = [
        ("15550009001", "190000000009001", "Ana Demo"),
        ("15550009002", "190000000009002", "Ben Demo"),
        ("15550009003", "190000000009003", "Chloe Demo"),
    ];

    /// The offline WhatsApp of demo mode, shared by every request.
    #[derive(Clone)]
    pub struct DemoWorld {
        pub fake: Arc<FakeWhatsApp>,
    }

    impl DemoWorld {
        pub async fn start() -> Result<Self, FakeError> {
            let fake = FakeWhatsApp::start(Config {
                phone_number: "15550000000".into(),
                lid_user: "190000000000000".into(),
                name: "Demo".into(),
                ..Config::default()
            })
            .await?;
            for (number, lid, name) in CONTACTS {
                fake.add_account(number, lid, name)?;
            }
            Ok(Self {
                fake: Arc::new(fake),
            })
        }

        /// The user's own simulated phone (one per user, created on first use): a number of
        /// the form +1 555 2xx xxxx derived from the user id.
        pub fn phone_of(&self, user: Uuid) -> Result<Phone, FakeError> {
            let n =
                u64::from_le_bytes(user.as_bytes()[..8].try_into().unwrap_or([0; 8])) % 9_000_000;
            let number = format!("15552{:06}", n % 1_000_000);
            let lid = format!("1910{:011}", n);
            if let Some(phone) = self.fake.account(&number) {
                return Ok(phone);
            }
            match self.fake.add_account(&number, &lid, "You") {
                Ok(phone) => Ok(phone),
                // Created by a concurrent request meanwhile.
                Err(FakeError::AccountExists(_)) => self
                    .fake
                    .account(&number)
                    .ok_or(FakeError::UnknownAccount(number)),
                Err(e) => Err(e),
            }
        }

        pub fn contact(&self, number: &str) -> Option<Phone> {
            CONTACTS
                .iter()
                .any(|(n, _, _)| *n == number)
                .then(|| self.fake.account(number))
                .flatten()
        }
    }
}

#[cfg(feature = "ssr")]
fn demo() -> Result<(world::DemoWorld, uuid::Uuid), ServerFnError> {
    use crate::fns::server::{context, set_status};
    let (ctx, user) = context()?;
    match ctx.demo {
        Some(world) => Ok((world, user)),
        None => {
            set_status(http::StatusCode::NOT_FOUND);
            Err(ServerFnError::new("not found"))
        }
    }
}

#[cfg(feature = "ssr")]
fn refused(e: fake_whatsapp::FakeError) -> ServerFnError {
    crate::fns::server::set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
    ServerFnError::new(format!("The demo phone says: {e}"))
}

/// `None` when demo mode is off.
#[server(prefix = "/fn", endpoint = "demo/state")]
pub async fn demo_state() -> Result<Option<DemoView>, ServerFnError> {
    let (ctx, user) = crate::fns::server::context()?;
    let Some(world) = ctx.demo else {
        return Ok(None);
    };
    let phone = world.phone_of(user).map_err(refused)?;
    Ok(Some(DemoView {
        my_number: format!("+{}", phone.user()),
        contacts: world::CONTACTS
            .iter()
            .map(|(n, _, name)| ((*name).to_owned(), format!("+{n}")))
            .collect(),
    }))
}

/// Scans the QR code on show for one of the user's accounts with the user's demo phone.
#[server(prefix = "/fn", endpoint = "demo/scan")]
pub async fn demo_scan() -> Result<(), ServerFnError> {
    let (world, user) = demo()?;
    let ctx = crate::ctx::app_context()?;
    let mut tx = crate::fns::server::user_tx().await?;
    let accounts = tx
        .whatsapp_sessions_list()
        .await
        .map_err(crate::fns::server::internal)?;
    tx.commit().await.map_err(crate::fns::server::internal)?;
    let qr = accounts
        .iter()
        .find_map(|a| ctx.sessions.current_qr(user, a.id))
        .map(|(qr, _)| qr);
    let Some(qr) = qr else {
        crate::fns::server::set_status(http::StatusCode::CONFLICT);
        return Err(ServerFnError::new(
            "No QR code is on show: click Link on an account first.",
        ));
    };
    world
        .phone_of(user)
        .map_err(refused)?
        .scan(&qr)
        .map_err(refused)?;
    Ok(())
}

/// Types a pairing code on the user's demo phone.
#[server(prefix = "/fn", endpoint = "demo/code")]
pub async fn demo_enter_code(#[server(default)] code: String) -> Result<(), ServerFnError> {
    let (world, user) = demo()?;
    world
        .phone_of(user)
        .map_err(refused)?
        .enter_pairing_code(&code)
        .map_err(refused)
}

/// `action`: `send` (with `text`), `typing`, `paused`, `online`, `offline`, `read`.
#[server(prefix = "/fn", endpoint = "demo/contact")]
pub async fn demo_contact(
    #[server(default)] contact: String,
    #[server(default)] action: String,
    #[server(default)] text: String,
) -> Result<(), ServerFnError> {
    let (world, user) = demo()?;
    let me = world.phone_of(user).map_err(refused)?;
    let digits: String = contact.chars().filter(char::is_ascii_digit).collect();
    let Some(contact) = world.contact(&digits) else {
        crate::fns::server::set_status(http::StatusCode::NOT_FOUND);
        return Err(ServerFnError::new("No such demo contact."));
    };
    match action.as_str() {
        "send" => {
            if text.trim().is_empty() {
                crate::fns::server::set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
                return Err(ServerFnError::new("Write something to send."));
            }
            contact
                .send_text(me.user(), &text)
                .await
                .map(|_| ())
                .map_err(refused)
        }
        "typing" | "paused" => {
            let state = if action == "typing" {
                "composing"
            } else {
                "paused"
            };
            contact
                .set_typing(me.user(), state)
                .map(|_| ())
                .map_err(refused)
        }
        "online" | "offline" => contact
            .set_presence(action == "online")
            .map(|_| ())
            .map_err(refused),
        "read" => {
            // Everything the user's devices sent this contact, marked read.
            let ids: Vec<String> = contact
                .received()
                .into_iter()
                .filter(|r| r.from.starts_with(me.user()))
                .map(|r| r.id)
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            contact
                .send_receipt(me.user(), &ids, Some("read"))
                .map_err(refused)
        }
        _ => {
            crate::fns::server::set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
            Err(ServerFnError::new("Unknown demo action."))
        }
    }
}

/// Whether demo mode is on, for the whole dashboard (set once the panel has loaded).
#[derive(Clone, Copy)]
pub struct DemoMode(pub RwSignal<bool>);

pub fn provide_demo_mode() {
    provide_context(DemoMode(RwSignal::new(false)));
}

/// The demo phone panel (only when demo mode is on).
#[component]
pub fn DemoPhone() -> impl IntoView {
    let state = crate::resource::new(|| (), |_| demo_state());
    let mode = use_context::<DemoMode>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let view = state.await.ok().flatten();
                if let Some(mode) = mode {
                    mode.0.set(view.is_some());
                }
                view.map(|view| view! { <Panel view/> })
            })}
        </Suspense>
    }
}

/// Inside the link dialog in demo mode: link with the demo phone in one click (scan the QR on
/// show, or type `code` on it). Renders nothing when demo mode is off.
#[component]
pub fn DemoLinkButton(code: Option<String>) -> impl IntoView {
    let on = use_context::<DemoMode>().map(|m| m.0);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let label = if code.is_some() {
        "Type it on the demo phone"
    } else {
        "Scan with the demo phone"
    };
    let click = move |_| {
        let code = code.clone();
        busy.set(true);
        spawn_local(async move {
            let done = match code {
                Some(code) => demo_enter_code(code).await,
                None => demo_scan().await,
            };
            busy.set(false);
            error.set(done.err().map(|e| user_message(&e)));
        });
    };
    view! {
        <Show when=move || on.is_some_and(|s| s.get())>
            <div class="flex flex-col gap-2 rounded-md border border-warning/30 p-3">
                <p class="text-xs text-warning">"Demo mode: no phone needed."</p>
                <button type="button" class=BUTTON_QUIET data-testid="demo-link" disabled=move || busy.get()
                    on:click=click.clone()>{label}</button>
                <ErrorNote message=error/>
            </div>
        </Show>
    }
}

#[component]
fn Panel(view: DemoView) -> impl IntoView {
    let open = RwSignal::new(false);
    let contact = RwSignal::new(
        view.contacts
            .first()
            .map(|c| c.1.clone())
            .unwrap_or_default(),
    );
    let text = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let note: RwSignal<Option<String>> = RwSignal::new(None);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let run = move |what: &'static str,
                    work: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), ServerFnError>> + Send>,
    >| {
        spawn_local(async move {
            match work.await {
                Ok(()) => {
                    error.set(None);
                    note.set(Some(what.to_owned()));
                }
                Err(e) => error.set(Some(user_message(&e))),
            }
        });
    };
    let act = move |action: &'static str, label: &'static str| {
        let (c, t) = (contact.get_untracked(), text.get_untracked());
        if action == "send" {
            text.set(String::new());
        }
        run(label, Box::pin(demo_contact(c, action.to_owned(), t)));
    };
    let contacts = view.contacts.clone();
    view! {
        <div class="border-b border-warning/30 bg-surface px-4 py-2 lg:px-8" data-testid="demo-phone">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <p class="text-xs text-warning">"Demo mode: accounts link to a simulated WhatsApp built into this server."</p>
                <button type="button" class="min-h-10 rounded-md border border-line px-3 text-sm text-fg transition-colors duration-150 hover:bg-raised"
                    aria-expanded=move || open.get().to_string() data-testid="demo-toggle"
                    on:click=move |_| open.update(|o| *o = !*o)>
                    {move || if open.get() { "Hide demo phone" } else { "Demo phone" }}
                </button>
            </div>
            <Show when=move || open.get()>
                <div class=format!("{CARD} my-2 grid gap-3 p-4 lg:grid-cols-3")>
                    <p class="text-xs text-muted">
                        "This is not WhatsApp: an offline stand-in built into demo mode. Your demo number is "
                        <span class="text-fg" data-testid="demo-number">{view.my_number.clone()}</span>"."
                    </p>
                    <button type="button" class=BUTTON_PRIMARY data-testid="demo-scan"
                        on:click=move |_| run("Scanned the QR code.", Box::pin(demo_scan()))>"Scan the QR code on screen"</button>
                    <form class="flex gap-2" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        run("Typed the pairing code.", Box::pin(demo_enter_code(code.get_untracked())));
                    }>
                        <input class=INPUT placeholder="Pairing code" aria-label="Pairing code" data-testid="demo-code"
                            prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev))/>
                        <button type="submit" class=BUTTON_QUIET>"Enter"</button>
                    </form>
                    <label class="text-xs text-muted" for="demo-contact">"Act as contact"</label>
                    <select id="demo-contact" class=INPUT data-testid="demo-contact" on:change=move |ev| contact.set(event_target_value(&ev))>
                        {contacts.iter().map(|(name, number)| view! {
                            <option value=number.clone()>{format!("{name} ({number})")}</option>
                        }).collect_view()}
                    </select>
                    <form class="flex gap-2" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); act("send", "Sent."); }>
                        <input class=INPUT placeholder="Message to your account" aria-label="Message as the contact" data-testid="demo-text"
                            prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                        <button type="submit" class=BUTTON_PRIMARY data-testid="demo-send">"Send"</button>
                    </form>
                    <div class="grid grid-cols-2 gap-2">
                        <button type="button" class=BUTTON_QUIET data-testid="demo-typing" on:click=move |_| act("typing", "Typing…")>"Typing"</button>
                        <button type="button" class=BUTTON_QUIET data-testid="demo-paused" on:click=move |_| act("paused", "Stopped typing.")>"Stop typing"</button>
                        <button type="button" class=BUTTON_QUIET data-testid="demo-online" on:click=move |_| act("online", "Online.")>"Go online"</button>
                        <button type="button" class=BUTTON_QUIET data-testid="demo-read" on:click=move |_| act("read", "Read your messages.")>"Read yours"</button>
                    </div>
                    <p class="text-xs text-accent" aria-live="polite" data-testid="demo-note">{move || note.get()}</p>
                    <ErrorNote message=error/>
                </div>
            </Show>
        </div>
    }
}
