//! Every list a user can grow is paged (leads, templates, conversations, a conversation's
//! messages): a page holds 1 to 200 rows and ends with an opaque cursor for the next one, so no
//! request reads an unbounded number of rows. The page types live with their queries.

pub use crate::conversations::ConversationPage;
pub use crate::leads::LeadPage;
pub use crate::templates::TemplatePage;
