pub mod accounts;
pub mod auth;
pub mod campaigns;
pub mod chats;
pub mod embed;
pub mod leads;
pub mod settings;
pub mod templates;
