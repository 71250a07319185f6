//! What a media message says about its file, in both directions: read from an incoming
//! `imageMessage` / `audioMessage` / `videoMessage` / `documentMessage` / `stickerMessage`, and
//! turned into one to send. Field numbers are WhatsApp's (`proto/message.proto`, checked against
//! Baileys' WAProto.proto).

use crate::proto::Message;
use crate::proto::message::{AudioMessage, DocumentMessage, ImageMessage, VideoMessage};

use super::{EncryptedInfo, Expected, MediaKind};

/// What the sender says about a file before it is uploaded: everything in the message except
/// where the file is and how it is encrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaMeta {
    pub mimetype: String,
    /// Images, videos and documents show one.
    pub caption: Option<String>,
    /// Documents: the name shown and used when saving.
    pub file_name: Option<String>,
    /// Documents: a title (WhatsApp shows the file name when absent).
    pub title: Option<String>,
    pub page_count: Option<u32>,
    /// A small JPEG preview (images, videos, documents).
    pub jpeg_thumbnail: Option<Vec<u8>>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Audio and video duration.
    pub seconds: Option<u32>,
    /// Audio: a voice note (push-to-talk) rather than an audio file.
    pub ptt: bool,
    /// Video: plays as a GIF.
    pub gif_playback: bool,
}

/// Everything needed to show, find, download and verify one media file: what a media message
/// carries. `media_key` and the hashes are raw bytes as they arrive (validated when used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescriptor {
    pub kind: MediaKind,
    /// A full URL on the media host (it expires; `direct_path` is preferred for downloads).
    pub url: Option<String>,
    /// The path on any media host (`/v/t62.7118-24/…`).
    pub direct_path: Option<String>,
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Vec<u8>,
    /// Plaintext bytes.
    pub file_length: u64,
    /// Unix seconds when the key was made.
    pub media_key_timestamp: Option<i64>,
    pub meta: MediaMeta,
}

fn hash32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

impl MediaDescriptor {
    /// The description of a file just encrypted with `media_key` and uploaded.
    pub fn uploaded(
        kind: MediaKind,
        meta: MediaMeta,
        media_key: [u8; 32],
        info: &EncryptedInfo,
        url: Option<String>,
        direct_path: Option<String>,
        media_key_timestamp: i64,
    ) -> Self {
        Self {
            kind,
            url,
            direct_path,
            media_key: media_key.to_vec(),
            file_sha256: info.file_sha256.to_vec(),
            file_enc_sha256: info.file_enc_sha256.to_vec(),
            file_length: info.file_length,
            media_key_timestamp: Some(media_key_timestamp),
            meta,
        }
    }

    /// The hashes a download must match. A hash of the wrong size is demanded as all-zero, so
    /// it can never match (a message that lies about its hashes is refused, not trusted).
    pub fn expected(&self) -> Expected {
        let demand = |h: &[u8]| Some(hash32(h).unwrap_or([0; 32]));
        Expected {
            file_sha256: demand(&self.file_sha256),
            file_enc_sha256: demand(&self.file_enc_sha256),
        }
    }

    /// The media in a message (after unwrapping `deviceSentMessage`), if it is a media message.
    pub fn from_message(message: &Message) -> Option<Self> {
        if let Some(inner) = message
            .document_with_caption_message
            .as_ref()
            .and_then(|w| w.message.as_deref())
        {
            return Self::from_message(inner);
        }
        if let Some(m) = &message.image_message {
            return Some(Self {
                kind: MediaKind::Image,
                url: m.url.clone(),
                direct_path: m.direct_path.clone(),
                media_key: m.media_key.clone().unwrap_or_default(),
                file_sha256: m.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: m.file_enc_sha256.clone().unwrap_or_default(),
                file_length: m.file_length.unwrap_or(0),
                media_key_timestamp: m.media_key_timestamp,
                meta: MediaMeta {
                    mimetype: m.mimetype.clone().unwrap_or_default(),
                    caption: m.caption.clone(),
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    width: m.width,
                    height: m.height,
                    ..MediaMeta::default()
                },
            });
        }
        if let Some(m) = &message.sticker_message {
            return Some(Self {
                kind: MediaKind::Sticker,
                url: m.url.clone(),
                direct_path: m.direct_path.clone(),
                media_key: m.media_key.clone().unwrap_or_default(),
                file_sha256: m.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: m.file_enc_sha256.clone().unwrap_or_default(),
                file_length: m.file_length.unwrap_or(0),
                media_key_timestamp: m.media_key_timestamp,
                meta: MediaMeta {
                    mimetype: m.mimetype.clone().unwrap_or_default(),
                    width: m.width,
                    height: m.height,
                    ..MediaMeta::default()
                },
            });
        }
        if let Some(m) = &message.audio_message {
            return Some(Self {
                kind: MediaKind::Audio,
                url: m.url.clone(),
                direct_path: m.direct_path.clone(),
                media_key: m.media_key.clone().unwrap_or_default(),
                file_sha256: m.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: m.file_enc_sha256.clone().unwrap_or_default(),
                file_length: m.file_length.unwrap_or(0),
                media_key_timestamp: m.media_key_timestamp,
                meta: MediaMeta {
                    mimetype: m.mimetype.clone().unwrap_or_default(),
                    seconds: m.seconds,
                    ptt: m.ptt.unwrap_or(false),
                    ..MediaMeta::default()
                },
            });
        }
        if let Some(m) = &message.video_message {
            return Some(Self {
                kind: MediaKind::Video,
                url: m.url.clone(),
                direct_path: m.direct_path.clone(),
                media_key: m.media_key.clone().unwrap_or_default(),
                file_sha256: m.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: m.file_enc_sha256.clone().unwrap_or_default(),
                file_length: m.file_length.unwrap_or(0),
                media_key_timestamp: m.media_key_timestamp,
                meta: MediaMeta {
                    mimetype: m.mimetype.clone().unwrap_or_default(),
                    caption: m.caption.clone(),
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    width: m.width,
                    height: m.height,
                    seconds: m.seconds,
                    gif_playback: m.gif_playback.unwrap_or(false),
                    ..MediaMeta::default()
                },
            });
        }
        if let Some(m) = &message.document_message {
            return Some(Self {
                kind: MediaKind::Document,
                url: m.url.clone(),
                direct_path: m.direct_path.clone(),
                media_key: m.media_key.clone().unwrap_or_default(),
                file_sha256: m.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: m.file_enc_sha256.clone().unwrap_or_default(),
                file_length: m.file_length.unwrap_or(0),
                media_key_timestamp: m.media_key_timestamp,
                meta: MediaMeta {
                    mimetype: m.mimetype.clone().unwrap_or_default(),
                    caption: m.caption.clone(),
                    file_name: m.file_name.clone(),
                    title: m.title.clone(),
                    page_count: m.page_count,
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    ..MediaMeta::default()
                },
            });
        }
        None
    }

    /// The descriptor as bytes to keep (the encoded message protobuf): what a store holds to
    /// download the file again or send it; [`MediaDescriptor::decode`] reads it back.
    pub fn encode(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.to_message())
    }

    /// Reads [`MediaDescriptor::encode`]'s bytes; `None` for anything that is not a media message.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let message = <Message as prost::Message>::decode(bytes).ok()?;
        Self::from_message(&message)
    }

    /// The message that sends this media.
    pub fn to_message(&self) -> Message {
        let m = &self.meta;
        let key = Some(self.media_key.clone());
        let sha = Some(self.file_sha256.clone());
        let enc = Some(self.file_enc_sha256.clone());
        let len = Some(self.file_length);
        let mime = Some(m.mimetype.clone());
        match self.kind {
            MediaKind::Image => Message {
                image_message: Some(Box::new(ImageMessage {
                    url: self.url.clone(),
                    mimetype: mime,
                    caption: m.caption.clone(),
                    file_sha256: sha,
                    file_length: len,
                    height: m.height,
                    width: m.width,
                    media_key: key,
                    file_enc_sha256: enc,
                    direct_path: self.direct_path.clone(),
                    media_key_timestamp: self.media_key_timestamp,
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::Sticker => Message {
                sticker_message: Some(Box::new(crate::proto::message::StickerMessage {
                    url: self.url.clone(),
                    file_sha256: sha,
                    file_enc_sha256: enc,
                    media_key: key,
                    mimetype: mime,
                    height: m.height,
                    width: m.width,
                    direct_path: self.direct_path.clone(),
                    file_length: len,
                    media_key_timestamp: self.media_key_timestamp,
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::Audio => Message {
                audio_message: Some(Box::new(AudioMessage {
                    url: self.url.clone(),
                    mimetype: mime,
                    file_sha256: sha,
                    file_length: len,
                    seconds: m.seconds,
                    ptt: Some(m.ptt),
                    media_key: key,
                    file_enc_sha256: enc,
                    direct_path: self.direct_path.clone(),
                    media_key_timestamp: self.media_key_timestamp,
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::Video => Message {
                video_message: Some(Box::new(VideoMessage {
                    url: self.url.clone(),
                    mimetype: mime,
                    file_sha256: sha,
                    file_length: len,
                    seconds: m.seconds,
                    media_key: key,
                    caption: m.caption.clone(),
                    gif_playback: m.gif_playback.then_some(true),
                    height: m.height,
                    width: m.width,
                    file_enc_sha256: enc,
                    direct_path: self.direct_path.clone(),
                    media_key_timestamp: self.media_key_timestamp,
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::Document => Message {
                document_message: Some(Box::new(DocumentMessage {
                    url: self.url.clone(),
                    mimetype: mime,
                    title: m.title.clone().or_else(|| m.file_name.clone()),
                    file_sha256: sha,
                    file_length: len,
                    page_count: m.page_count,
                    media_key: key,
                    file_name: m.file_name.clone(),
                    file_enc_sha256: enc,
                    direct_path: self.direct_path.clone(),
                    media_key_timestamp: self.media_key_timestamp,
                    jpeg_thumbnail: m.jpeg_thumbnail.clone(),
                    caption: m.caption.clone(),
                    ..Default::default()
                })),
                ..Default::default()
            },
        }
    }

    /// The `mediatype` attribute of the `<enc>` nodes that carry this media (Baileys'
    /// `getMediaType`): `ptt` for voice notes, `gif` for GIF videos.
    pub fn enc_mediatype(&self) -> &'static str {
        match self.kind {
            MediaKind::Audio if self.meta.ptt => "ptt",
            MediaKind::Video if self.meta.gif_playback => "gif",
            kind => kind.as_str(),
        }
    }
}
