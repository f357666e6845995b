//! The closed set of masks, and the keyed hashing behind pseudonyms and the
//! Basic role's sample. Masks are checked against field types when the
//! catalogue loads, so applying one never fails.

use std::fmt;

use hmac::digest::consts::U64;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{compress256, Digest, Sha256};

use crate::field::FieldType;

/// How a field is de-identified when a shape asks for less than its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// Leave the field out (the field is withheld).
    Omit,
    /// Keep the key, replace the value with `"[redacted]"`.
    Redact,
    /// Text: `"****"` followed by the last four characters (only `"****"` when
    /// the text is four characters or shorter).
    Last4,
    /// Date or timestamp: the year alone, as a number.
    YearOnly,
    /// Float (the PMT score): the band it falls in, e.g. `"16.17-32"`.
    Band,
    /// Text or int: a keyed hash of the value, 16 hex digits, different for
    /// every client.
    Pseudonym,
}

impl MaskKind {
    /// Every mask kind.
    pub const ALL: [MaskKind; 6] = [
        MaskKind::Omit,
        MaskKind::Redact,
        MaskKind::Last4,
        MaskKind::YearOnly,
        MaskKind::Band,
        MaskKind::Pseudonym,
    ];

    /// The name the catalogue uses.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            MaskKind::Omit => "omit",
            MaskKind::Redact => "redact",
            MaskKind::Last4 => "last4",
            MaskKind::YearOnly => "year_only",
            MaskKind::Band => "band",
            MaskKind::Pseudonym => "pseudonym",
        }
    }

    /// Whether the mask can be applied to a field of type `ty`.
    #[must_use]
    pub const fn accepts(self, ty: FieldType) -> bool {
        match self {
            MaskKind::Omit | MaskKind::Redact => true,
            MaskKind::Last4 => matches!(ty, FieldType::Text),
            MaskKind::YearOnly => matches!(ty, FieldType::Date | FieldType::Timestamp),
            MaskKind::Band => matches!(ty, FieldType::Float),
            MaskKind::Pseudonym => matches!(ty, FieldType::Text | FieldType::Int),
        }
    }
}

impl fmt::Display for MaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value a redacted field carries.
pub const REDACTED: &str = "[redacted]";

/// Lower edges of the PMT bands. The first two inner edges are the
/// eligibility cut-offs (16.17, BISP's original cut-off; 32, the Kafaalat
/// cut-off since the 2021 survey), so a band never straddles one; above 32 the
/// bands are ten points wide.
const BAND_EDGES: [f64; 9] = [0.0, 16.17, 32.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];
const BAND_LABELS: [&str; 9] = [
    "0-16.17", "16.17-32", "32-40", "40-50", "50-60", "60-70", "70-80", "80-90", "90-100",
];

/// The band of a PMT score: lower edge inclusive, upper exclusive, scores
/// outside 0-100 clamped to the end bands. `None` for NaN.
#[must_use]
pub fn band(score: f64) -> Option<&'static str> {
    if score.is_nan() {
        return None;
    }
    let i = BAND_EDGES
        .iter()
        .rposition(|&edge| score >= edge)
        .unwrap_or(0);
    BAND_LABELS.get(i).copied()
}

/// What the `last4` mask keeps of a text after `"****"`: its last four
/// characters, or nothing when it has four or fewer.
pub(crate) fn last4(text: &str) -> &str {
    match text.char_indices().rev().nth(3) {
        Some((i, _)) if i > 0 => &text[i..],
        _ => "",
    }
}

/// A pseudonym: the first 8 bytes of an HMAC-SHA256, as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pseudonym([u8; 16]);

impl Pseudonym {
    /// Placeholder for the empty slots of a [`Memo`]; never handed out.
    const BLANK: Pseudonym = Pseudonym([b'0'; 16]);

    /// The 16 hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Appends the pseudonym as a JSON string (hex needs no escaping).
    #[inline]
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(&self.0);
        out.push(b'"');
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.as_str())
    }
}

impl Serialize for Pseudonym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The shortest server secret [`Pseudonymiser::new`] accepts, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The server secret given to [`Pseudonymiser::new`] is shorter than
/// [`MIN_SECRET_LEN`] bytes, short enough to make pseudonyms guessable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pseudonymisation secret has {0} bytes; at least {MIN_SECRET_LEN} are required")]
pub struct SecretTooShort(pub usize);

const PSEUDONYM_DOMAIN: &[u8] = b"nser-gateway/pseudonym\0";
const SAMPLE_DOMAIN: &[u8] = b"nser-gateway/sample\0";

/// Keyed hashing with the server secret: pseudonyms, and the Basic role's
/// sample. Every output is keyed by the client id too, so two clients cannot
/// join what they were given: a pseudonym is
/// `HMAC(HMAC(secret, "nser-gateway/pseudonym" || len || client id), value)`.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl Pseudonymiser {
    /// Keys the pseudonymiser with the server secret.
    pub fn new(secret: &[u8]) -> Result<Self, SecretTooShort> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort(secret.len()));
        }
        // HMAC's own key preparation (hash when longer than a block, then pad
        // with zeros), done here so that keying cannot fail.
        let mut block = GenericArray::default();
        if secret.len() > block.len() {
            let digest = Sha256::digest(secret);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        Ok(Pseudonymiser {
            mac: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block),
        })
    }

    /// The pseudonym `client_id` is given for a value (an int is
    /// pseudonymised as its decimal text).
    #[must_use]
    pub fn pseudonym(&self, client_id: &str, value: &str) -> Pseudonym {
        self.for_client(client_id).pseudonym(value.as_bytes())
    }

    /// The keys of one client: `HMAC(secret, domain || client id)` for
    /// pseudonyms and for the sample, each then keying an HMAC over the value.
    pub(crate) fn for_client(&self, client_id: &str) -> ClientKey {
        ClientKey {
            pseudonym: KeyedMac::new(&self.derive(PSEUDONYM_DOMAIN, client_id)),
            sample: KeyedMac::new(&self.derive(SAMPLE_DOMAIN, client_id)),
        }
    }

    fn derive(&self, domain: &[u8], client_id: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(domain);
        // Length-prefixed so that no (domain, client) pair can imitate another.
        mac.update(&(client_id.len() as u64).to_le_bytes());
        mac.update(client_id.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymiser(..)")
    }
}

/// The keyed hashes of one client.
#[derive(Clone)]
pub(crate) struct ClientKey {
    pseudonym: KeyedMac,
    sample: KeyedMac,
}

impl ClientKey {
    pub(crate) fn pseudonym(&self, value: &[u8]) -> Pseudonym {
        let tag = self.pseudonym.mac(value);
        // The first 8 bytes of the tag as 16 hex digits (one 16-byte store).
        let digits = u128::from(hex8(tag[0])) << 64 | u128::from(hex8(tag[1]));
        Pseudonym(digits.to_be_bytes())
    }

    /// Whether a household is in this client's 1% sample: the first 8 bytes of
    /// HMAC(secret, client id, household id) read as a number fall in the
    /// lowest hundredth of the range.
    pub(crate) fn in_sample(&self, household_id: i64) -> bool {
        let tag = self.sample.mac(&household_id.to_le_bytes());
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&tag[0].to_be_bytes());
        head[4..].copy_from_slice(&tag[1].to_be_bytes());
        u64::from_le_bytes(head) < u64::MAX / 100
    }
}

/// A 32-bit word as 8 lowercase ASCII hex digits, computed in one register;
/// big-endian, the most significant digit first.
fn hex8(word: u32) -> u64 {
    const LOW_NIBBLES: u64 = u64::from_ne_bytes([0x0f; 8]);
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    // Spread the eight nibbles over eight bytes: byte i holds nibble i.
    let mut x = u64::from(word);
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & LOW_NIBBLES;
    // 0-9 -> '0'-'9'; 10-15 -> 'a'-'f' ('a' is 0x27 past '0' + 10).
    let letters = ((x + ONES * 6) >> 4) & ONES;
    x + ONES * u64::from(b'0') + letters * 0x27
}

type Block = GenericArray<u8, U64>;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// HMAC-SHA256 (RFC 2104) under one fixed 32-byte key, with the key's inner
/// and outer pad blocks absorbed once, here: a value of up to 55 bytes then
/// costs exactly two SHA-256 compressions, with none of the generic
/// `hmac`/`digest` buffering around them. Checked against the `hmac` crate in
/// the tests below.
#[derive(Clone)]
struct KeyedMac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl KeyedMac {
    fn new(key: &[u8; 32]) -> KeyedMac {
        let (mut ipad, mut opad) = (Block::default(), Block::default());
        for (i, (ip, op)) in ipad.iter_mut().zip(opad.iter_mut()).enumerate() {
            let k = key.get(i).copied().unwrap_or(0);
            *ip = k ^ 0x36;
            *op = k ^ 0x5c;
        }
        let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
        compress256(&mut inner, std::slice::from_ref(&ipad));
        compress256(&mut outer, std::slice::from_ref(&opad));
        KeyedMac { inner, outer }
    }

    /// `HMAC-SHA256(key, message)`, as SHA-256's eight big-endian words.
    fn mac(&self, message: &[u8]) -> [u32; 8] {
        // Inner hash: the ipad block (absorbed), the message, SHA-256 padding.
        let mut state = self.inner;
        let mut blocks = message.chunks_exact(64);
        for block in &mut blocks {
            compress256(&mut state, std::slice::from_ref(Block::from_slice(block)));
        }
        let rest = blocks.remainder();
        let mut last = Block::default();
        last[..rest.len()].copy_from_slice(rest);
        last[rest.len()] = 0x80;
        if rest.len() >= 56 {
            compress256(&mut state, std::slice::from_ref(&last));
            last = Block::default();
        }
        let bits = (message.len() as u64).wrapping_add(64).wrapping_mul(8);
        last[56..].copy_from_slice(&bits.to_be_bytes());
        compress256(&mut state, std::slice::from_ref(&last));

        // Outer hash: the opad block (absorbed), the inner digest, padding.
        // Written 16 bytes at a time, the width SHA-NI reads it at, so the
        // reads are served straight from the stores.
        let quad = |w: &[u32]| {
            w.iter()
                .fold(0u128, |acc, &word| acc << 32 | u128::from(word))
                .to_be_bytes()
        };
        let mut block = Block::default();
        block[..16].copy_from_slice(&quad(&state[..4]));
        block[16..32].copy_from_slice(&quad(&state[4..]));
        block[32..48].copy_from_slice(&(0x80u128 << 120).to_be_bytes());
        block[48..].copy_from_slice(&u128::from((64u64 + 32) * 8).to_be_bytes());
        let mut state = self.outer;
        compress256(&mut state, std::slice::from_ref(&block));
        state
    }
}

/// A value to pseudonymise, borrowed from a row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plain<'v> {
    /// Hashed as its decimal text.
    Int(i64),
    Text(&'v str),
}

/// How many distinct values one [`Memo`] remembers; further values are
/// still pseudonymised, just not remembered.
const MEMO_SLOTS: usize = 32;

/// The pseudonyms of one shaped household, each distinct value hashed once:
/// the household id recurs in every member row, and a father's name recurs
/// as his children's guardian name. Lives on the stack for one household.
pub(crate) struct Memo<'k, 'v> {
    key: &'k ClientKey,
    len: usize,
    /// A cheap fingerprint of each remembered value, scanned first.
    prints: [u64; MEMO_SLOTS],
    values: [Plain<'v>; MEMO_SLOTS],
    pseudonyms: [Pseudonym; MEMO_SLOTS],
}

impl<'k, 'v> Memo<'k, 'v> {
    pub(crate) fn new(key: &'k ClientKey) -> Self {
        Memo {
            key,
            len: 0,
            prints: [0; MEMO_SLOTS],
            values: [Plain::Int(0); MEMO_SLOTS],
            pseudonyms: [Pseudonym::BLANK; MEMO_SLOTS],
        }
    }

    /// The client's pseudonym of `value`.
    #[inline]
    pub(crate) fn pseudonym(&mut self, value: Plain<'v>) -> Pseudonym {
        let print = fingerprint(value);
        let len = self.len;
        if let Some(i) = self.prints[..len]
            .iter()
            .zip(&self.values[..len])
            .position(|(p, v)| *p == print && *v == value)
        {
            return self.pseudonyms[i];
        }
        let pseudonym = match value {
            Plain::Int(i) => self.key.pseudonym(itoa::Buffer::new().format(i).as_bytes()),
            Plain::Text(s) => self.key.pseudonym(s.as_bytes()),
        };
        if len < MEMO_SLOTS {
            self.prints[len] = print;
            self.values[len] = value;
            self.pseudonyms[len] = pseudonym;
            self.len = len + 1;
        }
        pseudonym
    }
}

/// Length and the first and last 8 bytes: tells apart most values that differ.
fn fingerprint(value: Plain<'_>) -> u64 {
    match value {
        Plain::Int(i) => u64::from_le_bytes(i.to_le_bytes()),
        Plain::Text(s) => {
            let bytes = s.as_bytes();
            let n = bytes.len();
            let mix = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
                (Some(head), Some(tail)) => {
                    u64::from_le_bytes(*head) ^ u64::from_le_bytes(*tail).rotate_left(29)
                }
                _ => bytes.iter().fold(0, |h, &b| h << 8 | u64::from(b)),
            };
            mix ^ (n as u64).rotate_right(8)
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test data"
)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_cut_offs() {
        assert_eq!(band(0.0), Some("0-16.17"));
        assert_eq!(band(16.16), Some("0-16.17"));
        assert_eq!(band(16.17), Some("16.17-32"));
        assert_eq!(band(31.99), Some("16.17-32"));
        assert_eq!(band(32.0), Some("32-40"));
        assert_eq!(band(100.0), Some("90-100"));
        assert_eq!(band(-3.0), Some("0-16.17"));
        assert_eq!(band(f64::NAN), None);
    }

    #[test]
    fn hex8_is_lowercase_hex() {
        for word in [
            0,
            1,
            0x0123_4567,
            0x89ab_cdef,
            0xdead_beef,
            u32::MAX,
            0x0a0a_0a0a,
        ] {
            assert_eq!(
                hex8(word).to_be_bytes().to_vec(),
                format!("{word:08x}").into_bytes()
            );
        }
    }

    #[test]
    fn last4_keeps_only_the_tail() {
        assert_eq!(last4("03001234567"), "4567");
        assert_eq!(last4("1234"), "");
        assert_eq!(last4(""), "");
        assert_eq!(last4("ab\u{e9}cde"), "\u{e9}cde");
    }

    #[test]
    fn keying_matches_hmac_for_any_secret_length() {
        for len in [32, 64, 65, 200] {
            let secret = vec![7u8; len];
            let ours = Pseudonymiser::new(&secret).map(|p| p.mac.finalize().into_bytes());
            let reference =
                <Hmac<Sha256> as Mac>::new_from_slice(&secret).map(|m| m.finalize().into_bytes());
            assert_eq!(ours.ok(), reference.ok());
        }
        assert_eq!(Pseudonymiser::new(b"short").err(), Some(SecretTooShort(5)));
    }

    #[test]
    fn keyed_mac_is_hmac_sha256() {
        for seed in [0u8, 1, 0x36, 0x5c, 0xff] {
            let key: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
            let ours = KeyedMac::new(&key);
            let message: Vec<u8> = (0..300u16).map(|i| (i as u8) ^ seed).collect();
            for len in 0..=message.len() {
                let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
                reference.update(&message[..len]);
                let words = ours.mac(&message[..len]);
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
                assert_eq!(
                    bytes,
                    reference.finalize().into_bytes().to_vec(),
                    "key seed {seed}, {len} bytes"
                );
            }
        }
    }

    /// The documented definitions, computed with the `hmac` crate alone.
    fn reference(secret: &[u8], domain: &[u8], client: &str, value: &[u8]) -> [u8; 32] {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        derive.update(domain);
        derive.update(&(client.len() as u64).to_le_bytes());
        derive.update(client.as_bytes());
        let key = derive.finalize().into_bytes();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn pseudonyms_and_sample_follow_their_definitions() {
        let secret = b"a server secret of at least thirty-two bytes";
        let p = Pseudonymiser::new(secret).unwrap();
        for client in ["a", "punjab-sed", "bench-client-01"] {
            for value in ["", "3630212345671", "Muhammad Akram", "1001"] {
                let tag = reference(secret, PSEUDONYM_DOMAIN, client, value.as_bytes());
                let hex: String = tag[..8]
                    .iter()
                    .fold(String::new(), |hex, b| hex + &format!("{b:02x}"));
                assert_eq!(p.pseudonym(client, value).as_str(), hex);
            }
            let key = p.for_client(client);
            for id in [0i64, 1, 1247, -5, i64::MAX] {
                let tag = reference(secret, SAMPLE_DOMAIN, client, &id.to_le_bytes());
                let head = u64::from_le_bytes(tag[..8].try_into().unwrap());
                assert_eq!(key.in_sample(id), head < u64::MAX / 100);
            }
        }
    }

    #[test]
    fn the_sample_is_one_percent() {
        let p = Pseudonymiser::new(b"a server secret of at least thirty-two bytes").unwrap();
        for client in ["a", "punjab-sed"] {
            let key = p.for_client(client);
            let n = (1..=200_000i64).filter(|id| key.in_sample(*id)).count();
            // Binomial(200,000, 1%): mean 2,000, sd 44.5; the band is 4.5 sd
            // (fixed secret and ids: the same count every run).
            assert!((1_800..=2_200).contains(&n), "{client}: {n} of 200,000");
        }
    }

    #[test]
    fn memo_gives_what_the_key_gives() {
        let p = Pseudonymiser::new(&[9; 32]).unwrap();
        let key = p.for_client("memo-test");
        let names: Vec<String> = (0..40).map(|i| format!("name {}", i % 25)).collect();
        let texts: Vec<String> = (0..40).map(|i| (i % 30 - 3).to_string()).collect();
        let mut memo = Memo::new(&key);
        for round in 0..2 {
            for (i, name) in names.iter().enumerate() {
                let id = i64::try_from(i % 30).unwrap() - 3;
                assert_eq!(
                    memo.pseudonym(Plain::Int(id)),
                    p.pseudonym("memo-test", &id.to_string()),
                    "round {round}"
                );
                assert_eq!(
                    memo.pseudonym(Plain::Text(name)),
                    p.pseudonym("memo-test", name)
                );
                // An int and its decimal text are the same value.
                assert_eq!(
                    memo.pseudonym(Plain::Text(&texts[i])),
                    p.pseudonym("memo-test", &id.to_string())
                );
            }
        }
        assert_eq!(memo.len, MEMO_SLOTS);
    }
}
