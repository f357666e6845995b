//! The closed set of masks, and the keyed hashing behind pseudonyms and the
//! Basic role's sample. Masks are checked against field types when the
//! catalogue loads, so applying one never fails.

use std::fmt;

use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// Displays `"****"` and the last four characters of a text, without allocating.
pub(crate) struct Last4<'a>(pub(crate) &'a str);

impl fmt::Display for Last4<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")?;
        let start = self.0.char_indices().rev().nth(3).map(|(i, _)| i);
        match start {
            // More than four characters: show the last four.
            Some(i) if i > 0 => f.write_str(&self.0[i..]),
            _ => Ok(()),
        }
    }
}

/// A pseudonym: the first 8 bytes of an HMAC-SHA256, as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pseudonym([u8; 16]);

impl Pseudonym {
    /// The 16 hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or_default()
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
    /// pseudonyms and for the sample, each then keying an HMAC over the value,
    /// so hashing a value costs two SHA-256 blocks.
    pub(crate) fn for_client(&self, client_id: &str) -> ClientKey {
        ClientKey {
            pseudonym: self.derive(PSEUDONYM_DOMAIN, client_id),
            sample: self.derive(SAMPLE_DOMAIN, client_id),
        }
    }

    fn derive(&self, domain: &[u8], client_id: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(domain);
        // Length-prefixed so that no (domain, client) pair can imitate another.
        mac.update(&(client_id.len() as u64).to_le_bytes());
        mac.update(client_id.as_bytes());
        let mut block = GenericArray::default();
        block[..32].copy_from_slice(&mac.finalize().into_bytes());
        <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block)
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
    pseudonym: Hmac<Sha256>,
    sample: Hmac<Sha256>,
}

impl ClientKey {
    pub(crate) fn pseudonym(&self, value: &[u8]) -> Pseudonym {
        let mut mac = self.pseudonym.clone();
        mac.update(value);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        for (pair, byte) in out.chunks_exact_mut(2).zip(tag.iter()) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        Pseudonym(out)
    }

    /// Whether a household is in this client's 1% sample: the first 8 bytes of
    /// HMAC(secret, client id, household id) read as a number fall in the
    /// lowest hundredth of the range.
    pub(crate) fn in_sample(&self, household_id: i64) -> bool {
        let mut mac = self.sample.clone();
        mac.update(&household_id.to_le_bytes());
        let tag = mac.finalize().into_bytes();
        let mut head = [0u8; 8];
        head.copy_from_slice(&tag[..8]);
        u64::from_le_bytes(head) < u64::MAX / 100
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
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
    fn last4_shows_only_the_tail() {
        assert_eq!(Last4("03001234567").to_string(), "****4567");
        assert_eq!(Last4("1234").to_string(), "****");
        assert_eq!(Last4("").to_string(), "****");
        assert_eq!(Last4("ab\u{e9}cde").to_string(), "****\u{e9}cde");
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
}
