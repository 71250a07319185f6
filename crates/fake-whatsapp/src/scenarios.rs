//! Messaging scenarios written against a [`Driver`]: anything that can act as a linked
//! WhatsApp client. `tests/fidelity.rs` drives the unmodified Baileys client through them; our
//! own engine's tests implement `Driver` for it and run the same scenarios against the same fake
//! (this module is public for that reason; its checks panic, as test helpers do).
//!
//! Every scenario checks both ends: what the client reports, and what the fake's scripted
//! phones saw (the exact plaintext they decrypted, the receipts and chat states they got).

use std::time::Duration;

use crate::{FakeWhatsApp, Phone};

/// How long any one expected event may take.
pub const STEP: Duration = Duration::from_secs(20);

/// A message the client surfaced to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The chat as the client names it (a phone-number or LID JID).
    pub chat: String,
    /// The other form of the chat JID, when the client knows it.
    pub chat_alt: Option<String>,
    pub id: String,
    pub from_me: bool,
    pub text: Option<String>,
    /// Set when the client could not decrypt it (a placeholder).
    pub undecryptable: bool,
}

impl Incoming {
    /// Whether the chat is `phone`'s, in either JID form.
    pub fn is_from(&self, phone: &Phone) -> bool {
        let pn = phone.jid();
        let lid = format!("{}@lid", phone.lid_user());
        [Some(&self.chat), self.chat_alt.as_ref()]
            .into_iter()
            .flatten()
            .any(|c| *c == pn || *c == lid)
    }
}

/// A linked client under test. Chat JIDs are phone-number JIDs (`user@s.whatsapp.net`).
#[allow(async_fn_in_trait)]
pub trait Driver {
    /// Sends a text; returns the message id.
    async fn send_text(&mut self, chat: &str, text: &str) -> String;
    /// The next message surfaced to the user for which `want` holds (earlier ones are skipped).
    async fn message(&mut self, want: impl Fn(&Incoming) -> bool) -> Incoming;
    /// Waits until the client reports `status` (`DELIVERY_ACK`, `READ`) for message `id`.
    async fn status(&mut self, id: &str, status: &str);
    /// Marks messages in `chat` as read.
    async fn mark_read(&mut self, chat: &str, ids: &[String]);
    /// Shows typing (`composing`) or stops (`paused`) in `chat`.
    async fn typing(&mut self, chat: &str, state: &str);
    /// Subscribes to `chat`'s presence.
    async fn subscribe(&mut self, chat: &str);
    /// Waits until the client reports `chat`'s presence as `state` (`available`,
    /// `unavailable`, `composing`, …).
    async fn presence(&mut self, chat: &str, state: &str);
    /// Disconnects cleanly (the client process/session ends; its credentials stay).
    async fn go_offline(&mut self);
    /// Reconnects from the saved credentials, without pairing again.
    async fn come_back(&mut self);
}

/// Waits (polling the fake) until `f` holds.
pub async fn until(fake: &FakeWhatsApp, what: &'static str, f: impl Fn(&FakeWhatsApp) -> bool) {
    fake.wait_until(what, STEP, f)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The client sends a text to `contact`: the contact's phone decrypts exactly that text, the
/// client's own phone gets the `deviceSentMessage` copy naming the chat, and the contact's
/// automatic delivery receipt and later read receipt reach the client as statuses.
pub async fn text_to_contact<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    let text = "Hello Carol 👋 — ünïcödé, <b>not html</b> & \"quotes\"";
    let id = client.send_text(&contact.jid(), text).await;
    until(fake, "the contact's phone decrypts the text", |_| {
        contact.received().iter().any(|r| r.id == id)
    })
    .await;
    let got: Vec<_> = contact
        .received()
        .into_iter()
        .filter(|r| r.id == id)
        .collect();
    assert_eq!(got.len(), 1, "one copy for the contact's phone: {got:?}");
    assert_eq!(got[0].text.as_deref(), Some(text), "{got:?}");
    assert_eq!(got[0].error, None);
    let own = me.received().into_iter().find(|r| r.id == id);
    let own = own.expect("the sender's own phone gets a copy");
    assert_eq!(own.text.as_deref(), Some(text));
    assert_eq!(own.sent_to.as_deref(), Some(contact.jid().as_str()));

    client.status(&id, "DELIVERY_ACK").await;
    contact
        .send_receipt(me.user(), std::slice::from_ref(&id), Some("read"))
        .unwrap();
    client.status(&id, "READ").await;
}

/// The contact sends texts (the first starts a Signal session from the client's uploaded
/// bundle, later ones ride it): the client shows each exactly, confirms delivery, and its read
/// receipt reaches the contact.
pub async fn text_from_contact<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    for text in ["Hi from Carol ✓", "second line\nwith a newline", "🙂"] {
        let id = contact.send_text(me.user(), text).await.unwrap();
        let msg = client.message(|m| m.id == id).await;
        assert!(msg.is_from(contact), "{msg:?}");
        assert!(!msg.from_me);
        assert_eq!(msg.text.as_deref(), Some(text));
        until(fake, "the client's delivery receipt", |f| {
            // `inactive`: delivered to a client that is not marked online.
            f.seen()
                .iter()
                .any(|s| (s.kind == "delivery" || s.kind == "inactive") && s.ids.contains(&id))
        })
        .await;
        client.mark_read(&msg.chat, std::slice::from_ref(&id)).await;
        until(fake, "the client's read receipt", |f| {
            f.seen()
                .iter()
                .any(|s| s.kind == "read" && s.ids.contains(&id))
        })
        .await;
    }
}

/// Typing and presence both ways.
pub async fn typing_and_presence<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    assert_eq!(contact.set_typing(me.user(), "composing").unwrap(), 1);
    client.presence(&contact.jid(), "composing").await;
    contact.set_typing(me.user(), "paused").unwrap();
    client.presence(&contact.jid(), "available").await;

    client.typing(&contact.jid(), "composing").await;
    until(fake, "the client's typing reaches the server", |f| {
        f.seen()
            .iter()
            .any(|s| s.kind == "composing" && s.to.as_deref() == Some(contact.jid().as_str()))
    })
    .await;

    client.subscribe(&contact.jid()).await;
    client.presence(&contact.jid(), "unavailable").await;
    contact.set_presence(true).unwrap();
    client.presence(&contact.jid(), "available").await;
    contact.set_presence(false).unwrap();
    client.presence(&contact.jid(), "unavailable").await;
}

/// Messages sent while the client is offline wait on the server and arrive when it comes back;
/// once it confirmed them the queue is empty.
pub async fn offline_queue<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    device: u16,
    contact: &Phone,
) {
    client.go_offline().await;
    until(fake, "the client is gone", |f| f.connections() == 0).await;
    let first = contact
        .send_text(me.user(), "sent while you were away")
        .await
        .unwrap();
    let second = contact
        .send_text(me.user(), "and another one")
        .await
        .unwrap();
    assert_eq!(fake.queued(me.user(), device), 2);
    client.come_back().await;
    let a = client.message(|m| m.id == first).await;
    let b = client.message(|m| m.id == second).await;
    assert_eq!(a.text.as_deref(), Some("sent while you were away"));
    assert_eq!(b.text.as_deref(), Some("and another one"));
    until(fake, "the queue drains once the client confirmed", |f| {
        f.queued(me.user(), device) == 0
    })
    .await;
}

/// A message no session can decrypt: the client surfaces a placeholder and asks for a retry
/// (`<receipt type="retry">`), and keeps working: the next real message arrives.
pub async fn undecryptable_then_recovers<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    let bad = contact.send_undecryptable(me.user()).unwrap();
    until(fake, "the client's retry receipt", |f| {
        f.seen()
            .iter()
            .any(|s| s.kind == "retry" && s.ids.contains(&bad))
    })
    .await;
    let id = contact
        .send_text(me.user(), "after the broken one")
        .await
        .unwrap();
    let msg = client.message(|m| m.id == id).await;
    assert_eq!(msg.text.as_deref(), Some("after the broken one"));
}

/// The contact's text reaches the client as garbage first (its phone remembers the real text
/// under that id): the client surfaces a placeholder and asks for a retry; the phone re-encrypts
/// the text for that device and sends it again with the same id; the client shows the real text
/// under that id and confirms delivery.
pub async fn undecryptable_then_resent<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    let resent_before = fake.stats().resent;
    let text = "sent again after your retry 🔁";
    let id = contact.send_text_garbled(me.user(), text).unwrap();
    let placeholder = client.message(|m| m.id == id).await;
    assert!(
        placeholder.undecryptable && placeholder.text.is_none(),
        "the garbage surfaces as a placeholder first: {placeholder:?}"
    );
    until(fake, "the client's retry receipt", |f| {
        f.seen()
            .iter()
            .any(|s| s.kind == "retry" && s.ids.contains(&id))
    })
    .await;
    let real = client.message(|m| m.id == id && m.text.is_some()).await;
    assert_eq!(real.text.as_deref(), Some(text));
    assert!(real.is_from(contact), "{real:?}");
    assert!(!real.undecryptable && !real.from_me, "{real:?}");
    assert_eq!(fake.stats().resent, resent_before + 1, "sent again once");
    until(fake, "the client confirms the resent text", |f| {
        f.seen()
            .iter()
            .any(|s| (s.kind == "delivery" || s.kind == "inactive") && s.ids.contains(&id))
    })
    .await;
}

/// With duplicate delivery switched on, the same message arrives twice: the client shows its
/// text once, and the session survives (the next message decrypts). The second copy cannot
/// decrypt (its message key is used up); Baileys surfaces it as an undecryptable placeholder
/// with the same id and asks for a retry — tolerated here, but never a second readable copy.
pub async fn duplicate_shown_once<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    let mut faults = fake.faults();
    faults.duplicate_deliveries = true;
    fake.set_faults(faults.clone());
    let id = contact
        .send_text(me.user(), "only once please")
        .await
        .unwrap();
    let msg = client.message(|m| m.id == id && m.text.is_some()).await;
    assert_eq!(msg.text.as_deref(), Some("only once please"));
    faults.duplicate_deliveries = false;
    fake.set_faults(faults);
    let next = contact.send_text(me.user(), "still fine").await.unwrap();
    loop {
        let m = client.message(|m| m.id == next || m.id == id).await;
        if m.id == next {
            assert_eq!(m.text.as_deref(), Some("still fine"));
            break;
        }
        assert!(m.text.is_none(), "the duplicate was shown again: {m:?}");
    }
}

/// A slow server (every answer delayed) and a silent one (no acks, no automatic delivery
/// receipts): messages still flow, and an explicit read receipt still reaches the client.
pub async fn slow_and_silent_server<D: Driver>(
    fake: &FakeWhatsApp,
    client: &mut D,
    me: &Phone,
    contact: &Phone,
) {
    let normal = fake.faults();
    fake.set_faults(crate::Faults {
        delay: Duration::from_millis(300),
        ..normal.clone()
    });
    let slow = client
        .send_text(&contact.jid(), "through a slow server")
        .await;
    until(fake, "the contact gets it despite the delay", |_| {
        contact.received().iter().any(|r| r.id == slow)
    })
    .await;
    client.status(&slow, "DELIVERY_ACK").await;

    fake.set_faults(crate::Faults {
        withhold_acks: true,
        withhold_receipts: true,
        ..normal.clone()
    });
    let silent = client
        .send_text(&contact.jid(), "no acks, no receipts")
        .await;
    until(fake, "the contact gets it without any ack", |_| {
        contact
            .received()
            .iter()
            .any(|r| r.id == silent && r.text.as_deref() == Some("no acks, no receipts"))
    })
    .await;
    contact
        .send_receipt(me.user(), std::slice::from_ref(&silent), Some("read"))
        .unwrap();
    client.status(&silent, "READ").await;
    fake.set_faults(normal);
}

/// Two linked clients of two accounts talk to each other: each text arrives exactly, the
/// sender's own phone gets its copy, and delivery and read receipts travel back between the
/// clients (not from a scripted phone this time).
pub async fn client_to_client<A: Driver, B: Driver>(
    fake: &FakeWhatsApp,
    a: &mut A,
    a_phone: &Phone,
    b: &mut B,
    b_phone: &Phone,
) {
    let text = "from one linked client to another ✉️";
    let id = a.send_text(&b_phone.jid(), text).await;
    let got = b.message(|m| m.id == id).await;
    assert_eq!(got.text.as_deref(), Some(text));
    assert!(got.is_from(a_phone), "{got:?}");
    assert!(!got.from_me);
    a.status(&id, "DELIVERY_ACK").await;
    b.mark_read(&got.chat, std::slice::from_ref(&id)).await;
    a.status(&id, "READ").await;
    let copy = a_phone.received().into_iter().find(|r| r.id == id);
    assert_eq!(
        copy.and_then(|c| c.sent_to),
        Some(b_phone.jid()),
        "the sender's phone gets its copy"
    );

    let reply = b.send_text(&a_phone.jid(), "and back").await;
    let back = a.message(|m| m.id == reply).await;
    assert_eq!(back.text.as_deref(), Some("and back"));
    assert!(back.is_from(b_phone), "{back:?}");
    until(fake, "no message left undelivered", |f| {
        f.queued(a_phone.user(), 1) == 0
    })
    .await;
}
