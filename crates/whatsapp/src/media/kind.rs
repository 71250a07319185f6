//! Media types and the keys a media key expands to.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The media types this engine sends and receives. A voice note is [`MediaKind::Audio`] with
/// `ptt` set in the message; a sticker uses the image keys and upload path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub const ALL: [Self; 5] = [
        Self::Image,
        Self::Audio,
        Self::Video,
        Self::Document,
        Self::Sticker,
    ];

    /// The HKDF info string (Baileys' `MEDIA_HKDF_KEY_MAPPING`: "WhatsApp <Type> Keys").
    pub fn hkdf_info(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker => "WhatsApp Image Keys",
            Self::Audio => "WhatsApp Audio Keys",
            Self::Video => "WhatsApp Video Keys",
            Self::Document => "WhatsApp Document Keys",
        }
    }

    /// The media host's upload path (Baileys' `MEDIA_PATH_MAP`).
    pub fn upload_path(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker => "/mms/image",
            Self::Audio => "/mms/audio",
            Self::Video => "/mms/video",
            Self::Document => "/mms/document",
        }
    }

    /// A stable lower-case name (`image`, `audio`, `video`, `document`, `sticker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    /// The inverse of [`MediaKind::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a media key expands to for one media type. Wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MediaKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    /// The last 32 bytes; WhatsApp uses them for media references we do not need.
    pub ref_key: [u8; 32],
}

impl std::fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKeys(..)")
    }
}

impl MediaKeys {
    /// HKDF-SHA256(media key, no salt, the kind's info) → 112 bytes.
    pub fn expand(media_key: &[u8; 32], kind: MediaKind) -> Self {
        let mut okm = [0u8; 112];
        // 112 bytes is far below HKDF-SHA256's limit of 255 × 32, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, media_key).expand(kind.hkdf_info().as_bytes(), &mut okm);
        let mut keys = Self {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys.mac_key.copy_from_slice(&okm[48..80]);
        keys.ref_key.copy_from_slice(&okm[80..]);
        okm.zeroize();
        keys
    }
}
