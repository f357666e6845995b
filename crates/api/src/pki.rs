//! The demo PKI: a CA, a server certificate for localhost, and one client
//! certificate per sample client system. For the demo and the tests only;
//! production certificates come from the operator's own CA.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::demo::CLIENTS as DEMO_CLIENTS;

const CA_CN: &str = "NSER Gateway Demo CA";

/// Create the demo PKI in `dir` unless a complete one is already there.
/// Returns whether anything was created.
pub fn ensure_demo_pki(dir: &Path) -> anyhow::Result<bool> {
    let complete = [
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "token-signing.key",
        "pseudonym.key",
    ]
    .iter()
    .map(|f| dir.join(f))
    .chain(DEMO_CLIENTS.iter().flat_map(|c| {
        [
            dir.join(format!("{}.crt", c.0)),
            dir.join(format!("{}.key", c.0)),
        ]
    }))
    .all(|p| p.exists());
    if complete {
        return Ok(false);
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca = Ca::generate(CA_CN)?;
    ca.write(dir, "ca")?;
    let (cert, key) = ca.issue_server(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])?;
    write_pair(dir, "server", &cert, &key)?;
    for (name, org, ..) in DEMO_CLIENTS {
        let (cert, key) = ca.issue_client(name, org, 0, 365)?;
        write_pair(dir, name, &cert, &key)?;
    }
    write_private(
        &dir.join("token-signing.key"),
        &crate::auth::Tokens::generate_pem()?,
    )?;
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    write_private(&dir.join("pseudonym.key"), &(hex::encode(secret) + "\n"))?;
    Ok(true)
}

/// Issue another client certificate from the CA in `dir` (for rotation and tests).
pub fn issue(dir: &Path, name: &str, org: &str, from_days: i64, days: i64) -> anyhow::Result<()> {
    let ca = Ca::load(dir)?;
    let (cert, key) = ca.issue_client(name, org, from_days, days)?;
    write_pair(dir, name, &cert, &key)
}

/// Revoke the certificate `dir/NAME.crt`: add its serial to `dir/revoked.txt`
/// and write `dir/crl.pem` signed by the CA.
pub fn revoke(dir: &Path, name: &str) -> anyhow::Result<()> {
    let pem = fs::read(dir.join(format!("{name}.crt")))
        .with_context(|| format!("no certificate {name}.crt"))?;
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .context("not a PEM certificate")??;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| anyhow::anyhow!("{e}"))?;
    let serial = hex::encode(cert.raw_serial());
    let list = dir.join("revoked.txt");
    let mut serials: Vec<String> = fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    if !serials.contains(&serial) {
        serials.push(serial);
    }
    fs::write(&list, serials.join("\n") + "\n")?;
    let ca = Ca::load(dir)?;
    let now = OffsetDateTime::now_utc();
    let params = rcgen::CertificateRevocationListParams {
        this_update: now - Duration::minutes(5),
        next_update: now + Duration::days(30),
        crl_number: rcgen::SerialNumber::from(
            u64::try_from(now.unix_timestamp())
                .unwrap_or(1)
                .to_be_bytes()
                .to_vec(),
        ),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .filter_map(|s| hex::decode(s).ok())
            .map(|serial| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(serial),
                revocation_time: now - Duration::minutes(1),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&ca.cert, &ca.key)?;
    fs::write(dir.join("crl.pem"), crl.pem()?)?;
    Ok(())
}

/// A certificate authority able to issue server and client certificates.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    /// A new self-signed CA valid for ten years.
    pub fn generate(common_name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(common_name, "NSER Gateway Demo");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// The CA whose `ca.crt` and `ca.key` are in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let cert_pem = fs::read_to_string(dir.join("ca.crt")).context("cannot read ca.crt")?;
        let key = KeyPair::from_pem(
            &fs::read_to_string(dir.join("ca.key")).context("cannot read ca.key")?,
        )?;
        // Re-signing the same name with the same key yields an issuer whose
        // signatures verify against the original ca.crt.
        let cert = CertificateParams::from_ca_cert_pem(&cert_pem)?.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// Write `NAME.crt` and `NAME.key`.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<()> {
        write_pair(dir, name, &self.cert.pem(), &self.key.serialize_pem())
    }

    /// A server certificate for the given names and addresses, valid one year.
    pub fn issue_server(&self, dns: &[&str], ips: &[IpAddr]) -> anyhow::Result<(String, String)> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(dns.first().copied().unwrap_or("localhost"), "NSER Gateway");
        params.subject_alt_names = dns
            .iter()
            .map(|d| Ok(SanType::DnsName((*d).try_into()?)))
            .chain(ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
            .collect::<anyhow::Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(365);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A client certificate for system `name` of organisation `org`, valid
    /// from `from_days` (relative to now, may be negative) for `days` days.
    pub fn issue_client(
        &self,
        name: &str,
        org: &str,
        from_days: i64,
        days: i64,
    ) -> anyhow::Result<(String, String)> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name, org);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let start = OffsetDateTime::now_utc() + Duration::days(from_days) - Duration::hours(1);
        params.not_before = start;
        params.not_after = start + Duration::days(days);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn dn(common_name: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CountryName, "PK");
    dn
}

fn write_pair(dir: &Path, name: &str, cert: &str, key: &str) -> anyhow::Result<()> {
    let cert_path = dir.join(format!("{name}.crt"));
    fs::write(&cert_path, cert).with_context(|| format!("cannot write {}", cert_path.display()))?;
    let key_path = dir.join(format!("{name}.key"));
    write_private(&key_path, key).with_context(|| format!("cannot write {}", key_path.display()))
}

/// Private keys are readable by their owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?
    };
    #[cfg(not(unix))]
    let mut f = fs::File::create(path)?;
    f.write_all(contents.as_bytes())
}
