use hmac::Mac as _;
use proptest::prelude::*;

use super::*;

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// Encrypted by Baileys 7.0.0-rc14 (`encryptedStream` in `Utils/messages-media.js`, run once
/// with Node against the workspace's node_modules); its output restated here as data.
struct Vector {
    kind: MediaKind,
    plaintext: &'static str,
    media_key: &'static str,
    enc: &'static str,
    file_sha256: &'static str,
    file_enc_sha256: &'static str,
}

const BAILEYS: [Vector; 2] = [
    Vector {
        kind: MediaKind::Image,
        plaintext: "Rarity media test vector: 45 bytes of text!!",
        media_key: "dff38ec2b55f50e2bea06e970c3b07cf34cc3d112fb587dcf3ccff83525b1b42",
        enc: "b8e4a8d4b4e52c483dc6228b0f204b35c03c444b7ec3adaf9118c4cf41b8ba7ad83aa70c6a11ffaadd886c9914842d141d032edd3f95c11cb789",
        file_sha256: "517e1cfcd164f1d08bb464151eeb0904e6a45d0a6259cff0344d840921cf95c6",
        file_enc_sha256: "b94437e357336f9b0d7b9c89702f2132b0c4ff6c37fac4c6e1520acc937ff115",
    },
    Vector {
        kind: MediaKind::Document,
        plaintext: "PDF-ish",
        media_key: "126b35149a43e945de69dca23592bd8cf822f8ed2e76ec348163a93f88855f9a",
        enc: "83d2cd7e39255898d978e549c05029a229073350afe26cde8080",
        file_sha256: "17f6fe38cda53571139c051fe8504bd6bc0b8dd6c9dc5f631d75604d9b1fd564",
        file_enc_sha256: "3217e06f77d5b5c0d8c38189063b093e70e614626c9858af288ac2aa4f96eae8",
    },
];

#[test]
fn image_keys_expand_as_baileys_derives_them() {
    // Baileys' getMediaKeys(mediaKey, 'image') for the first vector.
    let keys = MediaKeys::expand(&unhex(BAILEYS[0].media_key), MediaKind::Image);
    assert_eq!(hex::encode(keys.iv), "ad1a6bdf0bb99f0e372bca2523129521");
    assert_eq!(
        hex::encode(keys.cipher_key),
        "9de6659730f70eeb6936a7806179fc24a67b7e7206bc37aa16ea14bf77d7e9b4"
    );
    assert_eq!(
        hex::encode(keys.mac_key),
        "04fd8b4633eba31dbc9fe0d060cca7c31a03b79fd53a31e03888cacbac10e1e4"
    );
}

#[test]
fn encryption_matches_baileys_byte_for_byte_and_decrypts_back() {
    for v in &BAILEYS {
        let key = unhex(v.media_key);
        let (blob, info) = encrypt(&key, v.kind, v.plaintext.as_bytes());
        assert_eq!(hex::encode(&blob), v.enc, "{:?}", v.kind);
        assert_eq!(hex::encode(info.file_sha256), v.file_sha256);
        assert_eq!(hex::encode(info.file_enc_sha256), v.file_enc_sha256);
        assert_eq!(info.file_length, v.plaintext.len() as u64);
        assert_eq!(info.enc_length, blob.len() as u64);

        let expected = Expected {
            file_sha256: Some(unhex(v.file_sha256)),
            file_enc_sha256: Some(unhex(v.file_enc_sha256)),
        };
        let (plain, _) = decrypt(&key, v.kind, &hex::decode(v.enc).unwrap(), expected).unwrap();
        assert_eq!(plain, v.plaintext.as_bytes());
    }
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn chunked_encrypt(key: &[u8; 32], data: &[u8], chunk: usize) -> (Vec<u8>, EncryptedInfo) {
    let mut e = Encryptor::new(key, MediaKind::Video);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        e.update(piece, &mut out);
    }
    let info = e.finish(&mut out);
    (out, info)
}

fn chunked_decrypt(
    key: &[u8; 32],
    blob: &[u8],
    chunk: usize,
    expected: Expected,
) -> Result<Vec<u8>, MediaError> {
    let mut d = Decryptor::new(key, MediaKind::Video, expected);
    let mut out = Vec::new();
    for piece in blob.chunks(chunk.max(1)) {
        d.update(piece, &mut out);
    }
    d.finish(&mut out).map(|_| out)
}

#[test]
fn every_length_and_chunking_round_trips_and_matches_the_whole_buffer_result() {
    let key = [7u8; 32];
    for len in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 4099] {
        let data = sample(len);
        let (whole, whole_info) = encrypt(&key, MediaKind::Video, &data);
        assert_eq!(whole.len(), (len / 16 + 1) * 16 + MAC_LEN);
        for chunk in [1, 3, 7, 16, 25, 26, 27, 42, 64, 4096] {
            let (blob, info) = chunked_encrypt(&key, &data, chunk);
            assert_eq!(blob, whole, "len {len} chunk {chunk}");
            assert_eq!(info, whole_info);
            let expected = Expected {
                file_sha256: Some(info.file_sha256),
                file_enc_sha256: Some(info.file_enc_sha256),
            };
            assert_eq!(chunked_decrypt(&key, &blob, chunk, expected).unwrap(), data);
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_data_and_chunk_sizes_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        enc_chunk in 1usize..100,
        dec_chunk in 1usize..100,
    ) {
        let key = new_media_key();
        let (blob, info) = chunked_encrypt(&key, &data, enc_chunk);
        let expected = Expected { file_sha256: Some(info.file_sha256), file_enc_sha256: Some(info.file_enc_sha256) };
        prop_assert_eq!(chunked_decrypt(&key, &blob, dec_chunk, expected).unwrap(), data);
    }

    #[test]
    fn any_flipped_bit_is_refused(data in proptest::collection::vec(any::<u8>(), 1..300), at in any::<usize>(), bit in 0u8..8) {
        let key = new_media_key();
        let (mut blob, _) = encrypt(&key, MediaKind::Image, &data);
        let at = at % blob.len();
        blob[at] ^= 1 << bit;
        prop_assert_eq!(decrypt(&key, MediaKind::Image, &blob, Expected::default()).unwrap_err(), MediaError::MacMismatch);
    }
}

fn a_pdf() -> ([u8; 32], Vec<u8>, Vec<u8>, EncryptedInfo) {
    let key = new_media_key();
    let data = sample(5000);
    let (blob, info) = encrypt(&key, MediaKind::Document, &data);
    (key, data, blob, info)
}

fn expecting(info: &EncryptedInfo) -> Expected {
    Expected {
        file_sha256: Some(info.file_sha256),
        file_enc_sha256: Some(info.file_enc_sha256),
    }
}

#[test]
fn tampered_ciphertext_or_mac_is_a_mac_mismatch() {
    let (key, _, blob, info) = a_pdf();
    for at in [0, 100, blob.len() - MAC_LEN - 1, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            decrypt(&key, MediaKind::Document, &bad, expecting(&info)).unwrap_err(),
            MediaError::MacMismatch,
            "byte {at}"
        );
    }
}

#[test]
fn the_wrong_key_or_media_type_is_a_mac_mismatch() {
    let (key, _, blob, info) = a_pdf();
    assert_eq!(
        decrypt(&[9; 32], MediaKind::Document, &blob, expecting(&info)).unwrap_err(),
        MediaError::MacMismatch
    );
    assert_eq!(
        decrypt(&key, MediaKind::Image, &blob, expecting(&info)).unwrap_err(),
        MediaError::MacMismatch
    );
    assert_eq!(
        decrypt(&key[..31], MediaKind::Document, &blob, expecting(&info)).unwrap_err(),
        MediaError::BadKey(31)
    );
}

#[test]
fn intact_files_with_the_wrong_announced_hashes_are_refused() {
    let (key, data, blob, info) = a_pdf();
    let mut wrong_enc = expecting(&info);
    wrong_enc.file_enc_sha256 = Some([0; 32]);
    assert_eq!(
        decrypt(&key, MediaKind::Document, &blob, wrong_enc).unwrap_err(),
        MediaError::EncHashMismatch
    );
    let mut wrong_plain = expecting(&info);
    wrong_plain.file_sha256 = Some([0; 32]);
    assert_eq!(
        decrypt(&key, MediaKind::Document, &blob, wrong_plain).unwrap_err(),
        MediaError::FileHashMismatch
    );
    // Unchecked hashes still decrypt (the MAC alone authenticates).
    let (plain, got) = decrypt(&key, MediaKind::Document, &blob, Expected::default()).unwrap();
    assert_eq!(plain, data);
    assert_eq!(got, info);
}

#[test]
fn truncated_files_are_refused() {
    let (key, _, blob, info) = a_pdf();
    for keep in [0, 1, 10, 25, blob.len() - 1, blob.len() - 5] {
        assert_eq!(
            decrypt(&key, MediaKind::Document, &blob[..keep], expecting(&info)).unwrap_err(),
            MediaError::Truncated(keep as u64),
            "kept {keep}"
        );
    }
    // Whole blocks missing keep the shape of a file but not its MAC.
    let mut short = blob[..blob.len() - 16 - MAC_LEN].to_vec();
    short.extend_from_slice(&blob[blob.len() - MAC_LEN..]);
    assert_eq!(
        decrypt(&key, MediaKind::Document, &short, expecting(&info)).unwrap_err(),
        MediaError::MacMismatch
    );
}

#[test]
fn a_correctly_signed_file_with_broken_padding_is_bad_padding() {
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};
    let key = [3u8; 32];
    let keys = MediaKeys::expand(&key, MediaKind::Audio);
    // One block whose last byte (the padding length) is 0: invalid PKCS#7.
    let mut block = [0x41u8; 16];
    block[15] = 0;
    let mut cipher = cbc::Encryptor::<aes::Aes256>::new(&keys.cipher_key.into(), &keys.iv.into());
    cipher.encrypt_block_mut((&mut block).into());
    let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&keys.mac_key).unwrap();
    mac.update(&keys.iv);
    mac.update(&block);
    let mut blob = block.to_vec();
    blob.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
    assert_eq!(
        decrypt(&key, MediaKind::Audio, &blob, Expected::default()).unwrap_err(),
        MediaError::BadPadding
    );
}

#[test]
fn kinds_name_their_keys_and_paths() {
    for kind in MediaKind::ALL {
        assert_eq!(MediaKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(MediaKind::Audio.hkdf_info(), "WhatsApp Audio Keys");
    assert_eq!(MediaKind::Video.hkdf_info(), "WhatsApp Video Keys");
    assert_eq!(MediaKind::Document.upload_path(), "/mms/document");
    assert_eq!(MediaKind::Sticker.upload_path(), "/mms/image");
    assert_eq!(MediaKind::parse("gif"), None);
}

#[test]
fn large_files_hashed_beside_the_cipher_match_hashes_computed_directly() {
    use sha2::Digest as _;
    // Past the size where hashing moves to a helper thread, fed in uneven chunks.
    let data = sample(3 * 1024 * 1024 + 5);
    let key = new_media_key();
    let (blob, info) = chunked_encrypt(&key, &data, 65_537);
    assert_eq!(
        info.file_sha256,
        <[u8; 32]>::from(sha2::Sha256::digest(&data))
    );
    assert_eq!(
        info.file_enc_sha256,
        <[u8; 32]>::from(sha2::Sha256::digest(&blob))
    );
    assert_eq!(info.file_length, data.len() as u64);
    let (plain, _) = decrypt(&key, MediaKind::Video, &blob, expecting(&info)).unwrap();
    assert!(plain == data);
}

#[test]
fn descriptors_survive_encode_and_decode_for_every_kind() {
    use super::{MediaDescriptor, MediaMeta};
    for kind in [
        MediaKind::Image,
        MediaKind::Audio,
        MediaKind::Video,
        MediaKind::Document,
        MediaKind::Sticker,
    ] {
        let d = MediaDescriptor {
            kind,
            url: Some("https://mmg.whatsapp.net/v/t62/x.enc".into()),
            direct_path: Some("/v/t62/x.enc?oh=1".into()),
            media_key: vec![7; 32],
            file_sha256: vec![1; 32],
            file_enc_sha256: vec![2; 32],
            file_length: 12345,
            media_key_timestamp: Some(1_700_000_000),
            meta: MediaMeta {
                mimetype: "application/pdf".into(),
                ..MediaMeta::default()
            },
        };
        let back = MediaDescriptor::decode(&d.encode()).expect("decodes");
        assert_eq!(back.kind, kind);
        assert_eq!(back.direct_path, d.direct_path);
        assert_eq!(back.media_key, d.media_key);
        assert_eq!(back.file_sha256, d.file_sha256);
        assert_eq!(back.file_enc_sha256, d.file_enc_sha256);
        assert_eq!(back.file_length, 12345);
    }
    assert!(MediaDescriptor::decode(b"\xff\xff garbage").is_none());
    assert!(MediaDescriptor::decode(&[]).is_none());
}
