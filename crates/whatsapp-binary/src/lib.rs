//! WhatsApp's binary XML stanza codec: nodes, JIDs, the v3 token dictionary, and the
//! frame-payload wrapper (flag byte + optional zlib).
//!
//! Pure library: no I/O, no async. Decoding untrusted input never panics, never allocates
//! for a length the input cannot back, and caps nesting (see [`decode::MAX_DEPTH`]).
//!
//! ```
//! use whatsapp_binary::{Jid, Node, pack, unpack};
//! let ping = Node::new("iq")
//!     .attr("id", "1")
//!     .attr("to", Jid::server_only(whatsapp_binary::Server::Pn))
//!     .attr("type", "get")
//!     .attr("xmlns", "w:p")
//!     .child(Node::new("ping"));
//! let payload = pack(&ping).unwrap();
//! assert_eq!(unpack(&payload).unwrap(), ping);
//! ```

pub mod decode;
pub mod encode;
pub mod error;
pub mod jid;
pub mod node;
pub mod pack;
mod token_table;
pub mod tokens;

pub use decode::{MAX_DEPTH, decode};
pub use encode::{encode, encode_into};
pub use error::{DecodeError, EncodeError, JidError};
pub use jid::{Jid, Server};
pub use node::{AttrError, AttrValue, Content, Node};
pub use pack::{DEFAULT_INFLATE_LIMIT, pack, pack_compressed, unpack, unpack_with_limit};
