//! Human users: argon2id passwords, lockout, and short-lived EdDSA tokens
//! bound to the client certificate they were issued over (RFC 8705
//! `cnf.x5t#S256`), with the public keys at `/.well-known/jwks.json`.

use std::path::Path;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Issuer and audience of every token.
pub const ISSUER: &str = "nser-gateway";

/// Hash a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

/// Whether `password` matches the stored hash. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The certificate thumbprint RFC 8705 binds tokens to: base64url SHA-256 of the DER.
pub fn x5t_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der))
}

/// The confirmation claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub cnf: Confirmation,
}

/// Signs and verifies tokens with one Ed25519 key.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    public_x: String,
    ttl_seconds: i64,
}

/// Why a presented token is refused (logged; the client sees one answer).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed, forged, expired or foreign token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("token bound to another client certificate")]
    WrongCertificate,
}

impl Tokens {
    /// Load the PKCS#8 Ed25519 key at `path`.
    pub fn load(path: &Path, ttl_seconds: i64) -> anyhow::Result<Self> {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read token signing key {}", path.display()))?;
        let der = match rustls_pemfile::private_key(&mut pem.as_slice()) {
            Ok(Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k))) => k.secret_pkcs8_der().to_vec(),
            _ => anyhow::bail!("{}: not a PKCS#8 PEM private key", path.display()),
        };
        Self::from_pkcs8(&der, ttl_seconds)
            .with_context(|| format!("{}: not an Ed25519 key", path.display()))
    }

    fn from_pkcs8(der: &[u8], ttl_seconds: i64) -> anyhow::Result<Self> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| anyhow::anyhow!("{e}"))?;
        let public = pair.public_key().as_ref();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        let kid = hex::encode(&Sha256::digest(public)[..8]);
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der),
            decoding: DecodingKey::from_ed_components(&public_x)?,
            kid,
            public_x,
            ttl_seconds,
        })
    }

    /// A new PKCS#8 Ed25519 key as PEM (for `pki init`).
    pub fn generate_pem() -> anyhow::Result<String> {
        let der = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|e| anyhow::anyhow!("cannot generate key: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// A token for user `user_id`, bound to the certificate `cert_der`.
    pub fn issue(&self, user_id: i64, cert_der: &[u8]) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: ISSUER.into(),
            sub: user_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
            cnf: Confirmation {
                x5t_s256: x5t_s256(cert_der),
            },
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// Verify a token presented over the connection whose client certificate is `cert_der`.
    /// Only EdDSA with our key id is accepted (`alg: none` and HMAC tricks fail here).
    pub fn verify(&self, token: &str, cert_der: &[u8]) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::UnknownKey);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?;
        // Constant-time is not needed: the thumbprint is not a secret.
        if data.claims.cnf.x5t_s256 != x5t_s256(cert_der) {
            return Err(TokenError::WrongCertificate);
        }
        Ok(data.claims)
    }

    /// The JSON Web Key Set with the public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.public_x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let pem = Tokens::generate_pem().unwrap();
        let dir = std::env::temp_dir().join(format!("nser-tok-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.pem"), pem).unwrap();
        Tokens::load(&dir.join("k.pem"), 600).unwrap()
    }

    #[test]
    fn tokens_verify_only_over_their_certificate() {
        let t = tokens();
        let token = t.issue(7, b"cert-a").unwrap();
        assert_eq!(t.verify(&token, b"cert-a").unwrap().sub, "7");
        assert!(matches!(
            t.verify(&token, b"cert-b"),
            Err(TokenError::WrongCertificate)
        ));
        // Another key cannot forge one.
        let other = tokens();
        let forged = other.issue(7, b"cert-a").unwrap();
        assert!(t.verify(&forged, b"cert-a").is_err());
    }

    #[test]
    fn alg_none_and_tampering_are_refused() {
        let t = tokens();
        let token = t.issue(7, b"cert-a").unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, t.kid));
        parts[0] = &none_header;
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert!(t.verify(&unsigned, b"cert-a").is_err());
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"1"}"#);
        let tampered = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            claims,
            token.split('.').nth(2).unwrap()
        );
        assert!(t.verify(&tampered, b"cert-a").is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
