//! proptest strategies for nodes shaped like real traffic and unlike it.

use proptest::prelude::*;
use whatsapp_binary::{AttrValue, Content, Jid, Node, Server, tokens};

/// Which texts a generator may produce.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Texts containing `@`. wacore's (and Baileys') encoders re-read such text as a JID,
    /// so the generator for their encoder leaves `@` out; ours never sniffs text.
    pub at_sign: bool,
    /// JIDs whose wire form wacore's encoder does not write losslessly (a `msgr` device, an
    /// interop device or integrator; see `wacore_crosscheck`).
    pub all_jid_forms: bool,
}

pub const OURS: Shape = Shape {
    at_sign: true,
    all_jid_forms: true,
};

/// What other codecs' encoders take losslessly (see `wacore_crosscheck`).
pub const PEERS: Shape = Shape {
    at_sign: false,
    all_jid_forms: false,
};

fn token() -> impl Strategy<Value = String> {
    let all: Vec<&'static str> = tokens::all().collect();
    prop::sample::select(all).prop_map(str::to_owned)
}

/// Any text: dictionary tokens, nibble/hex-packable strings (including the 127/128-character
/// boundary), lower-case hex (not packable), arbitrary Unicode, and long raw strings.
pub fn text(shape: Shape) -> BoxedStrategy<String> {
    let arbitrary = if shape.at_sign {
        "\\PC{0,24}"
    } else {
        "[^@]{0,24}"
    };
    prop_oneof![
        3 => token(),
        2 => "[0-9.-]{1,24}",
        1 => "[0-9]{126,129}",
        2 => "[0-9A-F]{1,24}",
        1 => "[0-9a-f]{1,24}",
        3 => arbitrary,
        1 => "[a-z ]{120,300}",
    ]
    .boxed()
}

/// A non-empty tag, from the dictionary or not.
pub fn tag(shape: Shape) -> BoxedStrategy<String> {
    text(shape)
        .prop_filter("tags are non-empty", |t| !t.is_empty())
        .boxed()
}

fn jid_user(server: Server) -> BoxedStrategy<String> {
    match server {
        Server::Lid | Server::HostedLid => "[1-9][0-9]{0,15}(\\.[0-9]{1,3})?".boxed(),
        Server::Group => prop_oneof!["[1-9][0-9]{17}", "[1-9][0-9]{10}-[0-9]{10}"].boxed(),
        Server::Broadcast => prop_oneof![Just("status".to_owned()), "[1-9][0-9]{9}"].boxed(),
        _ => prop_oneof![
            "[1-9][0-9]{5,14}",
            token().prop_filter("no separators", |t| {
                // `_` too: Baileys reads `user_agent` in JID text.
                !t.contains(['@', ':', '.', '-', '_'])
            })
        ]
        .boxed(),
    }
}

pub fn jid(shape: Shape) -> BoxedStrategy<Jid> {
    prop::sample::select(Server::ALL.to_vec())
        .prop_flat_map(move |server| {
            let device = match server {
                Server::Pn | Server::Lid | Server::Hosted | Server::HostedLid => {
                    prop_oneof![Just(0u16), 1u16..=255].boxed()
                }
                Server::Messenger | Server::Interop if shape.all_jid_forms => any::<u16>().boxed(),
                _ => Just(0u16).boxed(),
            };
            let integrator = if server == Server::Interop && shape.all_jid_forms {
                any::<u16>().boxed()
            } else {
                Just(0u16).boxed()
            };
            let user = prop_oneof![9 => jid_user(server), 1 => Just(String::new())];
            (user, device, integrator).prop_map(move |(user, device, integrator)| {
                if user.is_empty() {
                    return Jid::server_only(server);
                }
                let built = if server == Server::Interop {
                    Jid::interop(user, device, integrator)
                } else {
                    Jid::device(user, server, device)
                };
                built.unwrap_or_else(|e| panic!("generator built an invalid JID: {e}"))
            })
        })
        .boxed()
}

fn attr_value(shape: Shape) -> BoxedStrategy<AttrValue> {
    prop_oneof![
        3 => text(shape).prop_map(AttrValue::Text),
        1 => jid(shape).prop_map(AttrValue::Jid),
    ]
    .boxed()
}

fn attrs(shape: Shape) -> BoxedStrategy<Vec<(String, AttrValue)>> {
    prop::collection::vec((tag(shape), attr_value(shape)), 0..6)
        .prop_map(|mut attrs| {
            // Unique keys: lookups return the first, and every client treats keys as a map.
            let mut seen = std::collections::HashSet::new();
            attrs.retain(|(k, _)| seen.insert(k.clone()));
            attrs
        })
        .boxed()
}

fn leaf_content() -> BoxedStrategy<Content> {
    prop_oneof![
        3 => Just(Content::None),
        3 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Content::Bytes),
        1 => prop::collection::vec(any::<u8>(), 256..2000).prop_map(Content::Bytes),
    ]
    .boxed()
}

/// Nested nodes up to four levels, up to five children each.
pub fn node(shape: Shape) -> BoxedStrategy<Node> {
    let leaf = (tag(shape), attrs(shape), leaf_content()).prop_map(|(tag, attrs, content)| Node {
        tag,
        attrs,
        content,
    });
    leaf.prop_recursive(4, 64, 5, move |inner| {
        (tag(shape), attrs(shape), prop::collection::vec(inner, 1..5)).prop_map(
            |(tag, attrs, children)| Node {
                tag,
                attrs,
                content: Content::Nodes(children),
            },
        )
    })
    .boxed()
}
