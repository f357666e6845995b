//! The mutual-TLS set-up: the server's certificate, and a verifier that
//! demands a client certificate chaining to the configured trust anchors and
//! not revoked by the configured CRL. Both can be reloaded without a restart
//! (on SIGHUP): connections in flight keep what they negotiated, new ones
//! get the new material.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::config::Tls;

/// The crypto provider everything TLS uses (ring: no C toolchain beyond a
/// C compiler, and no build-time downloads).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate material in force, swappable at run time.
#[derive(Debug)]
pub struct Material {
    verifier: RwLock<Arc<dyn ClientCertVerifier>>,
    certified: RwLock<Arc<CertifiedKey>>,
}

impl Material {
    /// Load everything from the paths in `tls`.
    pub fn load(tls: &Tls) -> anyhow::Result<Arc<Self>> {
        let (verifier, certified) = read_material(tls)?;
        Ok(Arc::new(Self {
            verifier: RwLock::new(verifier),
            certified: RwLock::new(certified),
        }))
    }

    /// Read the files again; on any error keep the material in force.
    pub fn reload(&self, tls: &Tls) -> anyhow::Result<()> {
        let (verifier, certified) = read_material(tls)?;
        *self
            .verifier
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = verifier;
        *self
            .certified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = certified;
        Ok(())
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::clone(
            &self
                .verifier
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// A rustls server configuration backed by this material.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(Arc::new(Verifier(Arc::clone(self))))
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_material(tls: &Tls) -> anyhow::Result<(Arc<dyn ClientCertVerifier>, Arc<CertifiedKey>)> {
    let certs = read_certs(&tls.cert)?;
    let key = read_key(&tls.key)?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("{}: unusable private key", tls.key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().with_context(|| {
        format!(
            "{} does not match {}",
            tls.key.display(),
            tls.cert.display()
        )
    })?;
    let mut roots = RootCertStore::empty();
    for ca in read_certs(&tls.client_ca)? {
        roots
            .add(ca)
            .with_context(|| format!("{}: not a usable CA certificate", tls.client_ca.display()))?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if let Some(crl) = &tls.crl {
        builder = builder
            .with_crls(read_crls(crl)?)
            .allow_unknown_revocation_status();
    }
    let verifier = builder
        .build()
        .context("cannot build the client-certificate verifier")?;
    Ok((verifier, Arc::new(certified)))
}

/// Delegates to the verifier in force and logs every refusal with its reason.
#[derive(Debug)]
struct Verifier(Arc<Material>);

impl ClientCertVerifier for Verifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints would borrow from swappable state; clients with one
        // certificate present it without hints.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verifier().verify_client_cert(end_entity, intermediates, now).inspect_err(|e| {
            tracing::warn!(reason = %e, subject = ?subject_of(end_entity), "client certificate refused");
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.verifier().supported_verify_schemes()
    }
}

/// Serves the certificate in force.
#[derive(Debug)]
struct Resolver(Arc<Material>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .0
                .certified
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM certificates", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: holds no certificate",
        path.display()
    );
    Ok(certs)
}

fn read_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let crls = rustls_pemfile::crls(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM CRLs", path.display()))?;
    anyhow::ensure!(!crls.is_empty(), "{}: holds no CRL", path.display());
    Ok(crls)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .with_context(|| format!("{}: not a PEM private key", path.display()))?
        .with_context(|| format!("{}: holds no private key", path.display()))
}

/// The subject of a DER certificate, for logs and `/v1/status`.
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}
