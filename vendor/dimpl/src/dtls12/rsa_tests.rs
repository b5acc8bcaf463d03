//! Vendored patch (see PATCHES.md): in-process DTLS 1.2 handshakes against an RSA peer.
//!
//! dimpl itself cannot sign with an RSA key (its key providers load ECDSA keys only), so the
//! RSA peer here is a dimpl endpoint whose crypto provider has a test-only RSA key provider
//! (RSASSA-PKCS1-v1_5 via aws-lc-rs). The other endpoint is stock dimpl with an ECDSA
//! certificate, as str0m uses it:
//!
//! - server role (ECDSA) with an RSA client certificate: CertificateRequest lists RSA, the
//!   client's RSA CertificateVerify is verified;
//! - client role (ECDSA) against an RSA server: ECDHE_RSA suites are offered and accepted,
//!   the RSA-signed ServerKeyExchange is verified.

use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::buffer::Buf;
use crate::certificate::generate_self_signed_certificate;
use crate::crypto::{CryptoProvider, KeyProvider, SigningKey};
use crate::dtls12::message::Dtls12CipherSuite;
use crate::types::{HashAlgorithm, SignatureAlgorithm};
use crate::{Config, CryptoError, Dtls, DtlsCertificate, Error, Output, SecurityError};

/// RSA key that signs like OpenSSL/BoringSSL do in DTLS 1.2 with `rsa_pkcs1_sha256`.
#[derive(Debug)]
struct RsaTestKey(RsaKeyPair);

impl SigningKey for RsaTestKey {
    fn sign(&mut self, data: &[u8], hash: HashAlgorithm, out: &mut Buf) -> Result<(), CryptoError> {
        assert_eq!(hash, HashAlgorithm::SHA256, "test key signs SHA-256 only");
        let mut sig = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut sig)
            .map_err(|_| CryptoError::OperationFailed(crate::CryptoOperation::Sign))?;
        out.clear();
        out.extend_from_slice(&sig);
        Ok(())
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::SHA256
    }

    fn supported_hash_algorithms(&self) -> &[HashAlgorithm] {
        &[HashAlgorithm::SHA256]
    }
}

#[derive(Debug)]
struct RsaTestKeyProvider;

impl KeyProvider for RsaTestKeyProvider {
    fn load_private_key(&self, key_der: &[u8]) -> Result<Box<dyn SigningKey>, CryptoError> {
        let key = RsaKeyPair::from_pkcs8(key_der)
            .or_else(|_| RsaKeyPair::from_der(key_der))
            .map_err(|_| CryptoError::InvalidPrivateKey)?;
        Ok(Box::new(RsaTestKey(key)))
    }
}

static RSA_TEST_KEY_PROVIDER: RsaTestKeyProvider = RsaTestKeyProvider;

fn rsa_certificate() -> DtlsCertificate {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .expect("self-signed rsa certificate");
    DtlsCertificate {
        certificate: cert.der().to_vec(),
        private_key: key.serialize_der(),
    }
}

fn rsa_config(suites: Option<&[Dtls12CipherSuite]>) -> Arc<Config> {
    let provider = CryptoProvider {
        key_provider: &RSA_TEST_KEY_PROVIDER,
        ..crate::crypto::aws_lc_rs::default_provider()
    };
    let mut builder = Config::builder().with_crypto_provider(provider);
    if let Some(suites) = suites {
        builder = builder.dtls12_cipher_suites(suites);
    }
    Arc::new(builder.build().expect("rsa config"))
}

fn ecdsa_config(suites: Option<&[Dtls12CipherSuite]>) -> Arc<Config> {
    let mut builder = Config::builder();
    if let Some(suites) = suites {
        builder = builder.dtls12_cipher_suites(suites);
    }
    Arc::new(builder.build().expect("ecdsa config"))
}

#[derive(Debug, Default)]
struct Seen {
    connected: bool,
    peer_cert: Option<Vec<u8>>,
    keying_material: bool,
}

/// Drains `from`'s output into `to`.
fn pump(from: &mut Dtls, to: &mut Dtls, seen: &mut Seen, now: Instant) -> Result<(), Error> {
    from.handle_timeout(now)?;
    let mut buf = vec![0u8; 4096];
    let mut packets = Vec::new();
    loop {
        match from.poll_output(&mut buf) {
            Output::Packet(p) => packets.push(p.to_vec()),
            Output::Connected => seen.connected = true,
            Output::PeerCert(c) => seen.peer_cert = Some(c.to_vec()),
            Output::KeyingMaterial(..) => seen.keying_material = true,
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    for p in packets {
        to.handle_packet(&p)?;
    }
    Ok(())
}

/// Runs a handshake; returns (client, server) observations or the first error.
fn handshake(client: &mut Dtls, server: &mut Dtls) -> Result<(Seen, Seen), Error> {
    let (mut c, mut s) = (Seen::default(), Seen::default());
    for _ in 0..20 {
        let now = Instant::now();
        pump(client, server, &mut c, now)?;
        pump(server, client, &mut s, now)?;
        if c.connected && s.connected {
            break;
        }
    }
    Ok((c, s))
}

fn endpoints(
    client_cert: DtlsCertificate,
    client_config: Arc<Config>,
    server_cert: DtlsCertificate,
    server_config: Arc<Config>,
) -> (Dtls, Dtls) {
    let now = Instant::now();
    let mut client = Dtls::new_12(client_config, client_cert, now);
    client.set_active(true);
    let mut server = Dtls::new_12(server_config, server_cert, now);
    server.set_active(false);
    (client, server)
}

#[test]
fn ecdsa_server_accepts_rsa_client_certificate() {
    let rsa = rsa_certificate();
    let rsa_der = rsa.certificate.clone();
    let ecdsa = generate_self_signed_certificate().unwrap();
    let ecdsa_der = ecdsa.certificate.clone();
    let (mut client, mut server) = endpoints(rsa, rsa_config(None), ecdsa, ecdsa_config(None));

    let (c, s) = handshake(&mut client, &mut server).expect("handshake");

    assert!(c.connected && s.connected, "client {c:?} server {s:?}");
    assert!(c.keying_material && s.keying_material);
    // The server verified the client's RSA CertificateVerify and reports its certificate.
    assert_eq!(s.peer_cert.as_deref(), Some(&rsa_der[..]));
    assert_eq!(c.peer_cert.as_deref(), Some(&ecdsa_der[..]));
}

#[test]
fn ecdsa_client_accepts_rsa_server() {
    for suite in [
        Dtls12CipherSuite::ECDHE_RSA_AES128_GCM_SHA256,
        Dtls12CipherSuite::ECDHE_RSA_AES256_GCM_SHA384,
    ] {
        let rsa = rsa_certificate();
        let rsa_der = rsa.certificate.clone();
        let ecdsa = generate_self_signed_certificate().unwrap();
        // The ECDSA client offers its default list (ECDSA and RSA suites); the RSA server
        // can only pick `suite`.
        let (mut client, mut server) =
            endpoints(ecdsa, ecdsa_config(None), rsa, rsa_config(Some(&[suite])));

        let (c, s) = handshake(&mut client, &mut server).expect("handshake");

        assert!(
            c.connected && s.connected,
            "{suite:?}: client {c:?} server {s:?}"
        );
        // The client verified the RSA-signed ServerKeyExchange.
        assert_eq!(c.peer_cert.as_deref(), Some(&rsa_der[..]), "{suite:?}");
        // And the server verified the client's ECDSA CertificateVerify.
        assert!(s.peer_cert.is_some(), "{suite:?}");
    }
}

#[test]
fn ecdsa_server_reports_no_common_suite_for_rsa_only_client_hello() {
    // Upstream dropped such a ClientHello as a parse error ("Many1"); now it parses and the
    // handshake fails with a clear error, since our ECDSA key cannot serve ECDHE_RSA.
    let only_rsa = [Dtls12CipherSuite::ECDHE_RSA_AES128_GCM_SHA256];
    let ecdsa_client = generate_self_signed_certificate().unwrap();
    let ecdsa_server = generate_self_signed_certificate().unwrap();
    let (mut client, mut server) = endpoints(
        ecdsa_client,
        ecdsa_config(Some(&only_rsa)),
        ecdsa_server,
        ecdsa_config(None),
    );

    let err = handshake(&mut client, &mut server).expect_err("no common suite");

    assert_eq!(
        err,
        Error::SecurityError(SecurityError::NoMutuallyAcceptableCipherSuite)
    );
}
