//! TLS 1.3 application-data records sealed in place (RFC 8446 §5.2), for the server's
//! downloads: the file is read straight into the payload slots of records laid end to end
//! and encrypted there, then sent with one write. Through rustls' buffered writer each
//! plaintext is first copied into a record of its own (an allocation and a copy per 16 KiB);
//! kernel TLS would do this in the kernel, and this kernel has none.

use std::io;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::ConnectionTrafficSecrets;

/// The most plaintext one record carries (RFC 8446 §5.1).
pub const MAX_PLAINTEXT: usize = 16 * 1024;
/// A record's header: type, legacy version, length.
pub const HEADER: usize = 5;
/// What follows the plaintext: the inner content type and the AEAD tag.
const TRAILER: usize = 1 + 16;
/// The room one full record takes in a batch.
pub const MAX_RECORD: usize = HEADER + MAX_PLAINTEXT + TRAILER;

/// Records one key seals here at most. AES-GCM allows 2^24.5 full records per key (RFC 8446
/// §5.5), after which rustls would send a KeyUpdate; this sealer does not, so a transfer
/// that would pass the limit stays with rustls (256 GiB at 16 KiB a record).
const RECORD_LIMIT: u64 = 1 << 24;

/// What a record carries, as its inner content type says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    ApplicationData = 0x17,
    Alert = 0x15,
}

/// One direction of a connection taken over from rustls: its AEAD key, its IV and the
/// sequence number of its next record.
struct TrafficKey {
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    next_sequence: u64,
}

impl TrafficKey {
    /// The key of the secrets rustls extracted for one direction, whose next record is
    /// number `sequence`. None for a cipher suite this does not know.
    fn new(sequence: u64, secrets: &ConnectionTrafficSecrets) -> Option<TrafficKey> {
        let (algorithm, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&aead::CHACHA20_POLY1305, key, iv),
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, key.as_ref()).ok()?);
        Some(TrafficKey { key, iv: iv.as_ref().try_into().ok()?, next_sequence: sequence })
    }

    /// The next record's nonce: the IV with its sequence number XORed into the last 8
    /// bytes (§5.3); the sequence number moves on.
    fn next_nonce(&mut self) -> Nonce {
        let mut nonce = self.iv;
        for (byte, sequence_byte) in nonce[4..].iter_mut().zip(self.next_sequence.to_be_bytes()) {
            *byte ^= sequence_byte;
        }
        self.next_sequence += 1;
        Nonce::assume_unique_for_key(nonce)
    }
}

/// The sending half of a TLS 1.3 connection taken over from rustls after the handshake.
pub struct RecordSealer {
    traffic: TrafficKey,
}

impl RecordSealer {
    /// The sealer for the sending secrets rustls extracted, whose next record is number
    /// `sequence`. None for a cipher suite this does not know.
    pub fn new(sequence: u64, secrets: &ConnectionTrafficSecrets) -> Option<RecordSealer> {
        Some(RecordSealer { traffic: TrafficKey::new(sequence, secrets)? })
    }

    /// Whether a download of `bytes` may be sealed here: it needs at most half the records
    /// one key may seal, which leaves room for any the handshake sent under it.
    pub fn may_send(bytes: u64) -> bool {
        RecordSealer::records_for(bytes) <= RECORD_LIMIT / 2
    }

    /// Whether `records` more records fit under this key's limit.
    pub fn has_room_for(&self, records: u64) -> bool {
        self.traffic.next_sequence.checked_add(records).is_some_and(|end| end <= RECORD_LIMIT)
    }

    /// The records needed for `bytes` of data and the `close_notify` after them.
    pub fn records_for(bytes: u64) -> u64 {
        bytes.div_ceil(MAX_PLAINTEXT as u64) + 1
    }

    /// Seals `filled` bytes of plaintext laid out in `batch` as [`payload_slots`] says, and
    /// returns how many bytes at the start of `batch` are now sealed records, ready to send.
    pub fn seal_batch(&mut self, batch: &mut [u8], filled: usize) -> io::Result<usize> {
        let mut end = 0;
        let mut left = filled;
        while left > 0 {
            let len = left.min(MAX_PLAINTEXT);
            end += self.seal(&mut batch[end..], len, Content::ApplicationData)?;
            left -= len;
        }
        Ok(end)
    }

    /// Seals one record at the start of `record`, whose plaintext is already at
    /// `record[5..5 + len]`; returns the record's length. `record` must have room for the
    /// header and trailer around the plaintext.
    pub fn seal(&mut self, record: &mut [u8], len: usize, content: Content) -> io::Result<usize> {
        if len > MAX_PLAINTEXT || record.len() < HEADER + len + TRAILER {
            return Err(io::Error::other("a TLS record does not fit its buffer"));
        }
        if self.traffic.next_sequence >= RECORD_LIMIT {
            return Err(io::Error::other("the TLS key has sealed as many records as it may"));
        }
        let sealed_len = (len + TRAILER) as u16;
        // The outer type of every TLS 1.3 record is application data; the real one is inside.
        let [high, low] = sealed_len.to_be_bytes();
        record[..HEADER].copy_from_slice(&[Content::ApplicationData as u8, 0x03, 0x03, high, low]);
        record[HEADER + len] = content as u8;
        let nonce = self.traffic.next_nonce();
        let (header, body) = record.split_at_mut(HEADER);
        let tag = self
            .traffic
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&header[..]), &mut body[..=len])
            .map_err(|_| io::Error::other("TLS record encryption failed"))?;
        body[len + 1..len + TRAILER].copy_from_slice(tag.as_ref());
        Ok(HEADER + len + TRAILER)
    }

    /// A sealed `close_notify` alert, the end of the stream.
    pub fn close_notify(&mut self) -> io::Result<Vec<u8>> {
        let mut record = vec![0; HEADER + 2 + TRAILER];
        record[HEADER..HEADER + 2].copy_from_slice(&[1, 0]); // warning, close_notify
        self.seal(&mut record, 2, Content::Alert)?;
        Ok(record)
    }
}

/// The length a record's header (its first [`HEADER`] bytes) declares for what follows it.
pub fn declared_len(header: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([header[3], header[4]]))
}

/// The most a TLS 1.3 record's encrypted part may be (§5.2).
const MAX_SEALED: usize = MAX_PLAINTEXT + 256;

/// What one opened record carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Data, at this range of the record's bytes.
    Data(std::ops::Range<usize>),
    /// `close_notify`: the peer's data is whole.
    Closed,
}

/// The receiving half of a TLS 1.3 connection taken over from rustls after the handshake,
/// for a server's uploads: records are decrypted where they were read.
pub struct RecordOpener {
    traffic: TrafficKey,
}

impl RecordOpener {
    /// As [`RecordSealer::new`], for the receiving secrets.
    pub fn new(sequence: u64, secrets: &ConnectionTrafficSecrets) -> Option<RecordOpener> {
        Some(RecordOpener { traffic: TrafficKey::new(sequence, secrets)? })
    }

    /// The whole length of the record at the start of `bytes`, once its header is there
    /// (None before). Anything but an application-data record of a possible length is
    /// an error: after the handshake, every TLS 1.3 record is one.
    pub fn record_len(bytes: &[u8]) -> io::Result<Option<usize>> {
        let Some(header) = bytes.get(..HEADER) else { return Ok(None) };
        let len = declared_len(header);
        if header[0] != Content::ApplicationData as u8 || header[1] != 0x03 || len <= 16 || len > MAX_SEALED {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS: not an application-data record"));
        }
        Ok(Some(HEADER + len))
    }

    /// Opens the whole record `record` (as long as [`RecordOpener::record_len`] said) in
    /// place. An alert other than `close_notify`, a handshake message (such as a
    /// KeyUpdate, which this does not follow) or a record that fails to decrypt is an error.
    pub fn open(&mut self, record: &mut [u8]) -> io::Result<Opened> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {what}"));
        if record.len() <= HEADER + 16 {
            return Err(invalid("a record too short"));
        }
        let nonce = self.traffic.next_nonce();
        let (header, body) = record.split_at_mut(HEADER);
        let inner = self
            .traffic
            .key
            .open_in_place(nonce, Aad::from(&header[..]), body)
            .map_err(|_| invalid("a record that does not decrypt (changed, or out of order)"))?;
        // The inner type is the last byte that is not padding (§5.4).
        let Some(end) = inner.iter().rposition(|&byte| byte != 0) else {
            return Err(invalid("a record with no content type"));
        };
        match inner[end] {
            t if t == Content::ApplicationData as u8 => Ok(Opened::Data(HEADER..HEADER + end)),
            t if t == Content::Alert as u8 && end == 2 && inner[1] == 0 => Ok(Opened::Closed),
            t if t == Content::Alert as u8 => Err(invalid("the peer sent an alert")),
            _ => Err(invalid("a handshake message after the handshake (not followed here)")),
        }
    }
}

/// Where `filled` bytes of plaintext go in a batch of full records laid end to end: each
/// record's payload slot, in order, the last one possibly short. For one `preadv`.
pub fn payload_slots(batch: &mut [u8], filled: usize) -> Vec<&mut [u8]> {
    batch
        .chunks_mut(MAX_RECORD)
        .scan(filled, |left, record| {
            let len = (*left).min(MAX_PLAINTEXT);
            *left -= len;
            (len > 0 && record.len() >= HEADER + len).then(|| &mut record[HEADER..HEADER + len])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::Arc;

    /// A server and a client that finished a TLS 1.3 handshake in memory; the server's
    /// configuration allows extracting its secrets.
    fn connected_pair() -> (rustls::ServerConnection, rustls::ClientConnection) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let mut server_config =
            rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert.clone()], key).unwrap();
        server_config.enable_secret_extraction = true;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut client =
            rustls::ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
        while server.is_handshaking() || client.is_handshaking() || server.wants_write() || client.wants_write() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut &wire[..]).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut &wire[..]).unwrap();
            client.process_new_packets().unwrap();
        }
        (server, client)
    }

    #[test]
    fn records_sealed_here_are_read_by_a_tls_client_then_close_notify_ends_the_stream() {
        let (mut server, mut client) = connected_pair();
        // rustls sends a record first, so the sealer must continue its sequence numbers.
        server.writer().write_all(b"before ").unwrap();
        let mut wire = Vec::new();
        server.write_tls(&mut wire).unwrap();
        let secrets = rustls::Connection::Server(server).dangerous_extract_secrets().unwrap();
        let mut sealer = RecordSealer::new(secrets.tx.0, &secrets.tx.1).unwrap();
        assert!(sealer.has_room_for(RecordSealer::records_for(1 << 30)));

        // Two and a half records' worth, written into the slots, sealed, then the alert.
        let plaintext: Vec<u8> = (0..(2 * MAX_PLAINTEXT + 100)).map(|i| (i * 7 % 251) as u8).collect();
        let mut batch = vec![0u8; 4 * MAX_RECORD];
        let mut at = 0;
        let slots = payload_slots(&mut batch, plaintext.len());
        assert_eq!(slots.iter().map(|slot| slot.len()).collect::<Vec<_>>(), [MAX_PLAINTEXT, MAX_PLAINTEXT, 100]);
        for slot in slots {
            slot.copy_from_slice(&plaintext[at..at + slot.len()]);
            at += slot.len();
        }
        let sealed = sealer.seal_batch(&mut batch, plaintext.len()).unwrap();
        assert_eq!(sealed, plaintext.len() + 3 * (HEADER + TRAILER));
        wire.extend_from_slice(&batch[..sealed]);
        wire.extend_from_slice(&sealer.close_notify().unwrap());

        let mut reader = &wire[..];
        let mut received = Vec::new();
        let mut closed = false;
        while !closed {
            client.read_tls(&mut reader).unwrap();
            client.process_new_packets().unwrap();
            // Taken as it comes: the client holds only so much plaintext. Ok(0) is the
            // close_notify; WouldBlock, more to come.
            let mut chunk = [0u8; 4096];
            loop {
                match client.reader().read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(err) => panic!("{err}"),
                }
            }
            assert!(closed || !reader.is_empty(), "the stream ended without close_notify");
        }
        assert_eq!(&received[..7], b"before ");
        assert!(received[7..] == plaintext[..], "the sealed records decrypt to what was put in them");
    }

    /// Opens every record of `wire` in place: the data, and whether close_notify ended it.
    fn opened(opener: &mut RecordOpener, wire: &mut [u8]) -> io::Result<(Vec<u8>, bool)> {
        let (mut data, mut at) = (Vec::new(), 0);
        while let Some(len) = RecordOpener::record_len(&wire[at..])? {
            match opener.open(&mut wire[at..at + len])? {
                Opened::Data(range) => data.extend_from_slice(&wire[at + range.start..at + range.end]),
                Opened::Closed => return Ok((data, true)),
            }
            at += len;
        }
        Ok((data, false))
    }

    #[test]
    fn records_a_tls_client_sends_are_opened_in_place_up_to_close_notify() {
        let (server, mut client) = connected_pair();
        let upload: Vec<u8> = (0..40_000).map(|i| (i * 13 % 253) as u8).collect();
        client.writer().write_all(&upload).unwrap();
        client.send_close_notify();
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let secrets = rustls::Connection::Server(server).dangerous_extract_secrets().unwrap();
        let mut opener = RecordOpener::new(secrets.rx.0, &secrets.rx.1).unwrap();
        let (data, closed) = opened(&mut opener, &mut wire.clone()).unwrap();
        assert!(closed, "close_notify ends the stream");
        assert!(data == upload, "the opened records give back what the client wrote");

        // A changed byte does not decrypt; nor does a record opened out of its turn.
        let mut opener = RecordOpener::new(secrets.rx.0, &secrets.rx.1).unwrap();
        let mut changed = wire.clone();
        changed[100] ^= 1;
        assert!(opened(&mut opener, &mut changed).is_err());
        let mut opener = RecordOpener::new(secrets.rx.0 + 1, &secrets.rx.1).unwrap();
        assert!(opened(&mut opener, &mut wire.clone()).is_err());
        // Bytes that are no application-data record are refused at their header.
        assert!(RecordOpener::record_len(b"GET / HTTP/1.1").is_err());
        assert_eq!(RecordOpener::record_len(&wire[..4]).unwrap(), None);
    }

    #[test]
    fn a_key_update_from_the_client_is_refused_not_skipped() {
        let (server, mut client) = connected_pair();
        client.refresh_traffic_keys().unwrap();
        client.writer().write_all(b"after the update").unwrap();
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let secrets = rustls::Connection::Server(server).dangerous_extract_secrets().unwrap();
        let mut opener = RecordOpener::new(secrets.rx.0, &secrets.rx.1).unwrap();
        let refused = opened(&mut opener, &mut wire).unwrap_err();
        assert!(refused.to_string().contains("handshake message"), "{refused}");
    }

    #[test]
    fn a_changed_byte_is_rejected_and_the_limit_is_kept() {
        let (server, mut client) = connected_pair();
        let secrets = rustls::Connection::Server(server).dangerous_extract_secrets().unwrap();
        let mut sealer = RecordSealer::new(secrets.tx.0, &secrets.tx.1).unwrap();
        let mut record = vec![0u8; MAX_RECORD];
        record[HEADER..HEADER + 3].copy_from_slice(b"abc");
        let len = sealer.seal(&mut record, 3, Content::ApplicationData).unwrap();
        record[HEADER + 1] ^= 1;
        client.read_tls(&mut &record[..len]).unwrap();
        assert!(client.process_new_packets().is_err(), "a tampered record must not decrypt");

        assert!(!sealer.has_room_for(RECORD_LIMIT));
        sealer.traffic.next_sequence = RECORD_LIMIT;
        assert!(sealer.seal(&mut record, 3, Content::ApplicationData).is_err());
        assert!(sealer.seal(&mut record, MAX_PLAINTEXT + 1, Content::ApplicationData).is_err());
    }

    /// Secrets for one direction, from arbitrary key material (no handshake needed):
    /// AES-256-GCM or ChaCha20-Poly1305 (rustls makes 16-byte AES-128 keys only itself).
    fn secrets(key: [u8; 32], iv: [u8; 12], suite: u8) -> ConnectionTrafficSecrets {
        use rustls::crypto::cipher::{AeadKey, Iv};
        match suite % 2 {
            0 => ConnectionTrafficSecrets::Aes256Gcm { key: AeadKey::from(key), iv: Iv::new(iv) },
            _ => ConnectionTrafficSecrets::Chacha20Poly1305 { key: AeadKey::from(key), iv: Iv::new(iv) },
        }
    }

    proptest::proptest! {
        /// Records sealed here open back to the same bytes under both 32-byte-key suites, in
        /// order; a record with one byte changed anywhere is refused, never opened.
        #[test]
        fn sealed_records_open_to_the_same_bytes_and_a_changed_byte_is_refused(
            key in proptest::prelude::any::<[u8; 32]>(),
            iv in proptest::prelude::any::<[u8; 12]>(),
            suite in 0u8..2,
            sequence in 0u64..RECORD_LIMIT - 8,
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000), 1..4),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let secrets = secrets(key, iv, suite);
            let mut sealer = RecordSealer::new(sequence, &secrets).unwrap();
            let mut opener = RecordOpener::new(sequence, &secrets).unwrap();
            for payload in &payloads {
                let mut record = vec![0u8; MAX_RECORD];
                record[HEADER..HEADER + payload.len()].copy_from_slice(payload);
                let len = sealer.seal(&mut record, payload.len(), Content::ApplicationData).unwrap();
                proptest::prop_assert_eq!(RecordOpener::record_len(&record[..len]).unwrap(), Some(len));
                let mut changed = record[..len].to_vec();
                changed[flip.index(len)] ^= 0x20;
                let mut refused = RecordOpener::new(opener.traffic.next_sequence, &secrets).unwrap();
                let header_still_valid = RecordOpener::record_len(&changed).is_ok_and(|l| l == Some(len));
                proptest::prop_assert!(!header_still_valid || refused.open(&mut changed).is_err());
                match opener.open(&mut record[..len]).unwrap() {
                    Opened::Data(range) => proptest::prop_assert_eq!(&record[range], &payload[..]),
                    Opened::Closed => proptest::prop_assert!(false, "data opened as close_notify"),
                }
            }
            let mut alert = sealer.close_notify().unwrap();
            proptest::prop_assert_eq!(opener.open(&mut alert).unwrap(), Opened::Closed);
        }

        /// Whatever bytes arrive, neither reading a header nor opening a record panics:
        /// junk is an error.
        #[test]
        fn junk_is_refused_without_a_panic(
            key in proptest::prelude::any::<[u8; 32]>(),
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            let mut opener = RecordOpener::new(0, &secrets(key, [7; 12], 0)).unwrap();
            let _ = RecordOpener::record_len(&junk);
            let mut record = junk.clone();
            proptest::prop_assert!(opener.open(&mut record).is_err());
        }
    }
}
