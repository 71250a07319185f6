//! What an uploaded file really is, judged by its content (never its name), the size limits per
//! kind, and the re-encoding of images that strips their metadata.
//!
//! Limits follow WhatsApp's own: 16 MiB for images, audio and video is what WhatsApp (and its
//! media hosts) long accepted for those kinds; documents go to 100 MiB here (WhatsApp takes up to
//! 2 GB, but a lead-management dashboard has no business relaying files that big through one
//! request). Decided in ARCHITECTURE.md.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};

/// The kinds a user can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    Image,
    Audio,
    Video,
    Document,
}

impl SendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "image" | "photo" => Some(Self::Image),
            "audio" | "voice" | "voice_note" => Some(Self::Audio),
            "video" => Some(Self::Video),
            "document" | "file" => Some(Self::Document),
            _ => None,
        }
    }

    /// The largest file of this kind we send.
    pub fn limit(self) -> u64 {
        match self {
            Self::Image | Self::Audio | Self::Video => 16 * MIB,
            Self::Document => 100 * MIB,
        }
    }

    pub fn limit_text(self) -> &'static str {
        match self {
            Self::Image => "an image may be at most 16 MiB",
            Self::Audio => "an audio file may be at most 16 MiB",
            Self::Video => "a video may be at most 16 MiB",
            Self::Document => "a document may be at most 100 MiB",
        }
    }
}

const MIB: u64 = 1024 * 1024;
/// The largest upload of any kind (the body limit of the route adds room for the form).
pub const MAX_UPLOAD: u64 = 100 * MIB;
/// How much of the file's start the content checks look at.
pub const SNIFF_LEN: usize = 8192;

/// What the content says the file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub kind: SendKind,
    pub mimetype: String,
}

/// Why a file is refused (415 with this text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn family(mime: &str) -> &str {
    mime.split('/').next().unwrap_or("")
}

/// The kind a sniffed MIME type is sent as.
fn kind_of(mime: &str) -> SendKind {
    match mime {
        "image/jpeg" | "image/png" | "image/webp" | "image/gif" => SendKind::Image,
        "video/mp4" | "video/3gpp" | "video/quicktime" => SendKind::Video,
        m if family(m) == "audio" => SendKind::Audio,
        _ => SendKind::Document,
    }
}

/// Judges a file by its first bytes (`head`, up to [`SNIFF_LEN`]): its kind and MIME type.
///
/// - Content a well-known signature identifies wins over the claimed type; a claimed kind or
///   MIME type of another family (a PDF sent as `image/png`, or with `kind=image`) is refused.
///   Any file may be sent as a document.
/// - Content no signature identifies can only be a document: plain text when it is UTF-8 and
///   claimed as `text/plain` or `text/csv`, else `application/octet-stream`.
/// - Executables are refused whatever they claim.
pub fn classify(
    head: &[u8],
    claimed_kind: Option<SendKind>,
    claimed_mime: Option<&str>,
) -> Result<Classified, Refused> {
    let claimed_mime = claimed_mime
        .map(store::normalize_mimetype)
        .filter(|m| m != "application/octet-stream");
    let sniffed = infer::get(head);
    if let Some(t) = sniffed
        && t.matcher_type() == infer::MatcherType::App
        && !matches!(t.mime_type(), "application/wasm")
    {
        return Err(Refused(format!(
            "executable files ({}) are not sent",
            t.mime_type()
        )));
    }
    let Some(t) = sniffed else {
        if let Some(kind) = claimed_kind.filter(|k| *k != SendKind::Document) {
            return Err(Refused(format!(
                "the file's content is not a recognisable {}",
                kind.as_str()
            )));
        }
        let text = std::str::from_utf8(head).is_ok()
            || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_none());
        let mimetype = match claimed_mime.as_deref() {
            Some(m @ ("text/plain" | "text/csv")) if text => m.to_owned(),
            Some(m) if family(m) == "image" || family(m) == "video" || family(m) == "audio" => {
                return Err(Refused(format!(
                    "the file claims to be {m}, but its content is not"
                )));
            }
            Some("application/pdf") => {
                return Err(Refused(
                    "the file claims to be a PDF, but its content is not".to_owned(),
                ));
            }
            _ => "application/octet-stream".to_owned(),
        };
        return Ok(Classified {
            kind: SendKind::Document,
            mimetype,
        });
    };
    let mimetype = t.mime_type().to_owned();
    let natural = kind_of(&mimetype);
    if let Some(claimed) = &claimed_mime
        && claimed != &mimetype
        && (family(claimed) != family(&mimetype) || natural != SendKind::Document)
        && !equivalent(claimed, &mimetype)
    {
        return Err(Refused(format!(
            "the file claims to be {claimed}, but its content is {mimetype}"
        )));
    }
    let kind = match claimed_kind {
        None => natural,
        Some(SendKind::Document) => SendKind::Document,
        Some(k) if k == natural => k,
        Some(k) => {
            return Err(Refused(format!(
                "the file is {mimetype}, not {} {}",
                if k == SendKind::Image { "an" } else { "a" },
                k.as_str()
            )));
        }
    };
    Ok(Classified { kind, mimetype })
}

/// Spellings browsers and tools use for the same type.
fn equivalent(claimed: &str, sniffed: &str) -> bool {
    matches!(
        (claimed, sniffed),
        ("image/jpg" | "image/pjpeg", "image/jpeg")
            | ("audio/mp3", "audio/mpeg")
            | ("audio/opus", "audio/ogg")
            | ("audio/x-m4a" | "audio/mp4" | "audio/aac", "audio/m4a")
            | ("audio/wav" | "audio/wave", "audio/x-wav")
            | ("application/x-zip-compressed", "application/zip")
            | ("video/x-m4v", "video/mp4")
    ) || (family(claimed) == "application"
        && family(sniffed) == "application"
        && sniffed == "application/zip")
}

/// An image ready to send: JPEG, re-encoded from the decoded pixels (so no EXIF, GPS or other
/// metadata survives), turned upright by its EXIF orientation first, with a small thumbnail.
#[derive(Clone, Debug)]
pub struct PreparedImage {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
}

/// The largest picture decoded (pixels per side; the decoder refuses bigger ones before
/// allocating, so a decompression bomb costs nothing).
const MAX_SIDE: u32 = 12_000;
/// The thumbnail's longer side, as WhatsApp's own are small.
const THUMB_SIDE: u32 = 96;

/// Decodes and re-encodes an image (CPU work: run it on a blocking thread).
pub fn prepare_image(bytes: &[u8]) -> Result<PreparedImage, Refused> {
    let unreadable = |e: image::ImageError| Refused(format!("the image cannot be read: {e}"));
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Refused(format!("the image cannot be read: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(768 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = decoder.orientation().ok();
    let mut picture = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    if let Some(o) = orientation {
        picture.apply_orientation(o);
    }
    // JPEG has no alpha: transparent pixels become white, as WhatsApp shows them.
    let rgb = flatten(&picture);
    let (width, height) = rgb.dimensions();
    let jpeg = encode_jpeg(&rgb, 85).map_err(unreadable)?;
    let small = DynamicImage::ImageRgb8(rgb).thumbnail(THUMB_SIDE, THUMB_SIDE);
    let thumbnail = encode_jpeg(&small.to_rgb8(), 60).map_err(unreadable)?;
    Ok(PreparedImage {
        jpeg,
        width,
        height,
        thumbnail,
    })
}

fn flatten(picture: &DynamicImage) -> image::RgbImage {
    if !picture.color().has_alpha() {
        return picture.to_rgb8();
    }
    let rgba = picture.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| -> u8 {
            let (c, a) = (u16::from(c), u16::from(a));
            ((c * a + 255 * (255 - a)) / 255) as u8
        };
        image::Rgb([over(r), over(g), over(b)])
    })
}

fn encode_jpeg(rgb: &image::RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    rgb.write_with_encoder(encoder)?;
    Ok(out)
}

/// Whether a voice note can be this file: WhatsApp plays only OGG/Opus as a voice note.
pub fn voice_note_ok(mimetype: &str) -> bool {
    mimetype == "audio/ogg"
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n";
    const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 200, 30, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn content_decides_the_kind_and_lies_are_refused() {
        let c = classify(PDF, None, Some("application/pdf")).unwrap();
        assert_eq!(
            (c.kind, c.mimetype.as_str()),
            (SendKind::Document, "application/pdf")
        );
        let c = classify(&png(2, 2), None, None).unwrap();
        assert_eq!(
            (c.kind, c.mimetype.as_str()),
            (SendKind::Image, "image/png")
        );
        // Any file may go as a document.
        let c = classify(&png(2, 2), Some(SendKind::Document), None).unwrap();
        assert_eq!(c.kind, SendKind::Document);
        // A PDF claiming to be a PNG, or sent as an image.
        let e = classify(PDF, None, Some("image/png")).unwrap_err();
        assert!(e.0.contains("application/pdf"), "{e}");
        let e = classify(PDF, Some(SendKind::Image), None).unwrap_err();
        assert!(e.0.contains("not an image"), "{e}");
        // Unrecognisable bytes claiming to be an image or a PDF.
        assert!(classify(b"hello", None, Some("image/jpeg")).is_err());
        assert!(classify(b"hello", Some(SendKind::Video), None).is_err());
        assert!(classify(b"hello", None, Some("application/pdf")).is_err());
        // Unrecognisable bytes are a document; text stays text when it is.
        let c = classify(b"name,phone\nAda,+44", None, Some("text/csv")).unwrap();
        assert_eq!(c.mimetype, "text/csv");
        let c = classify(b"\xff\xfe\x00garbage", None, Some("text/plain")).unwrap();
        assert_eq!(c.mimetype, "application/octet-stream");
        // Spellings of the same type are not lies.
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert!(classify(&jpeg, None, Some("image/jpg")).is_ok());
        // A PNG header alone is still a PNG by content.
        assert_eq!(classify(PNG_SIG, None, None).unwrap().kind, SendKind::Image);
    }

    #[test]
    fn executables_are_refused_whatever_they_claim() {
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
        assert!(classify(elf, Some(SendKind::Document), Some("application/pdf")).is_err());
        let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";
        assert!(classify(exe, None, None).is_err());
    }

    #[test]
    fn images_are_re_encoded_as_jpeg_without_metadata_and_get_a_thumbnail() {
        let p = prepare_image(&png(300, 120)).unwrap();
        assert_eq!((p.width, p.height), (300, 120));
        assert_eq!(&p.jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        assert!(!p.jpeg.windows(4).any(|w| w == b"Exif"));
        let thumb = image::load_from_memory(&p.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (96, 38));
        // Garbage behind a PNG signature is a clear refusal, not a panic.
        let mut broken = png(4, 4);
        broken.truncate(30);
        assert!(prepare_image(&broken).is_err());
        assert!(prepare_image(b"not an image").is_err());
    }

    #[test]
    fn exif_and_gps_are_gone_after_re_encoding() {
        // A JPEG with an APP1 Exif segment carrying a GPS-looking payload.
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut jpeg))
            .unwrap();
        let payload = b"Exif\0\0MM\0*\0\0\0\x08\0\0GPSLatitude 51.5N";
        let len = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
        let mut with_exif = jpeg[..2].to_vec();
        with_exif.extend_from_slice(&[0xFF, 0xE1, len[0], len[1]]);
        with_exif.extend_from_slice(payload);
        with_exif.extend_from_slice(&jpeg[2..]);
        assert!(with_exif.windows(11).any(|w| w == b"GPSLatitude"));
        let p = prepare_image(&with_exif).unwrap();
        assert!(!p.jpeg.windows(11).any(|w| w == b"GPSLatitude"));
        assert!(!p.jpeg.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn limits_per_kind_match_the_documented_ones() {
        assert_eq!(SendKind::Image.limit(), 16 * MIB);
        assert_eq!(SendKind::Document.limit(), MAX_UPLOAD);
        assert!(voice_note_ok("audio/ogg"));
        assert!(!voice_note_ok("audio/mpeg"));
    }
}
