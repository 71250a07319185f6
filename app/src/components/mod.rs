pub mod badge;
pub mod download;
pub mod form;
pub mod import;
pub mod layout;
pub mod pager;
pub mod ui;
