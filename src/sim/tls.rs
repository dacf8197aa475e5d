//! The simulator's certificates: a throwaway CA and a server certificate it signs for the loopback
//! names. Clients trust the CA as an extra root; nothing ever disables verification.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Generated {
    pub ca_pem: String,
    /// base64 SHA-256 of the CA's and the server's SubjectPublicKeyInfo, the form Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub spki_hashes: Vec<String>,
    pub server_config: Arc<rustls::ServerConfig>,
}

pub fn generate() -> Result<Generated, String> {
    let err = |e: &dyn std::fmt::Display| format!("simulator certificate: {e}");
    let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pretix-race simulator CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err(&e))?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(|e| err(&e))?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        // Names tests reach the simulator by with `--resolve`, so the rules for remote hosts apply.
        "marketplace.test".to_string(),
        "shop.test".to_string(),
        // Any number of names, for tests of many hosts (the gate's).
        "*.sim.test".to_string(),
    ])
    .map_err(|e| err(&e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "pretix-race simulated marketplace");
    let leaf_cert = leaf.signed_by(&key, &issuer).map_err(|e| err(&e))?;

    let spki = |k: &KeyPair| {
        use base64::Engine as _;
        let d = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &rcgen::PublicKeyData::subject_public_key_info(k),
        );
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    };
    let spki_hashes = vec![spki(issuer.key()), spki(&key)];
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| err(&e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        spki_hashes,
        server_config: Arc::new(cfg),
    })
}
