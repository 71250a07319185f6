//! Our engine against the offline WhatsApp (`fake-whatsapp`), with an in-memory store: linking,
//! restarts, the fake's client-agnostic messaging scenarios (the same ones Baileys passes), and
//! the connection faults. The PostgreSQL store and the server binary are proven in the server's
//! tests; these pin down the engine itself.

mod baileys_media;
mod driver;
mod faults;
mod linking;
mod media;
mod messaging;
