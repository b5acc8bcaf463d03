//! Signing and key loading implementations using aws-lc-rs.

use std::str;

use aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, UnparsedPublicKey};
use aws_lc_rs::signature::{ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1};
use aws_lc_rs::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA512, RSA_PSS_2048_8192_SHA256};
use aws_lc_rs::signature::{RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RsaParameters};
use der::{Decode, Encode};
use spki::ObjectIdentifier;
use x509_cert::Certificate as X509Certificate;

use super::super::{KeyProvider, SignatureVerifier, SigningKey, check_verify_scheme};
use super::super::{OID_P256, OID_P384};
use crate::buffer::Buf;
use crate::types::{HashAlgorithm, NamedGroup, SignatureAlgorithm};
use crate::{CryptoError, CryptoOperation};

/// ECDSA signing key implementation.
struct EcdsaSigningKey {
    key_pair: EcdsaKeyPair,
    signing_algorithm: &'static EcdsaSigningAlgorithm,
}

impl std::fmt::Debug for EcdsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcdsaSigningKey")
            .field("signing_algorithm", &self.signing_algorithm)
            .finish()
    }
}

impl SigningKey for EcdsaSigningKey {
    fn sign(
        &mut self,
        data: &[u8],
        hash_alg: HashAlgorithm,
        buf: &mut Buf,
    ) -> Result<(), CryptoError> {
        let key_hash = self.hash_algorithm();
        if hash_alg != key_hash {
            return Err(CryptoError::SigningKeyHashMismatch {
                key_hash,
                requested: hash_alg,
            });
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .key_pair
            .sign(&rng, data)
            .map_err(|_| CryptoError::OperationFailed(CryptoOperation::Sign))?;
        buf.clear();
        buf.extend_from_slice(signature.as_ref());
        Ok(())
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        if self.signing_algorithm == &ECDSA_P256_SHA256_ASN1_SIGNING {
            HashAlgorithm::SHA256
        } else if self.signing_algorithm == &ECDSA_P384_SHA384_ASN1_SIGNING {
            HashAlgorithm::SHA384
        } else {
            panic!("Unsupported signing algorithm")
        }
    }

    fn supported_hash_algorithms(&self) -> &[HashAlgorithm] {
        // aws-lc-rs locks the hash at key-load time; only one is supported.
        if self.signing_algorithm == &ECDSA_P256_SHA256_ASN1_SIGNING {
            &[HashAlgorithm::SHA256]
        } else if self.signing_algorithm == &ECDSA_P384_SHA384_ASN1_SIGNING {
            &[HashAlgorithm::SHA384]
        } else {
            panic!("Unsupported signing algorithm")
        }
    }
}

/// Key provider implementation.
#[derive(Debug)]
pub(super) struct AwsLcKeyProvider;

impl KeyProvider for AwsLcKeyProvider {
    fn load_private_key(&self, key_der: &[u8]) -> Result<Box<dyn SigningKey>, CryptoError> {
        // Try PKCS#8 DER format first (most common)
        if let Ok(key_pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_der) {
            return Ok(Box::new(EcdsaSigningKey {
                key_pair,
                signing_algorithm: &ECDSA_P256_SHA256_ASN1_SIGNING,
            }));
        }
        if let Ok(key_pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, key_der) {
            return Ok(Box::new(EcdsaSigningKey {
                key_pair,
                signing_algorithm: &ECDSA_P384_SHA384_ASN1_SIGNING,
            }));
        }

        // Try parsing as SEC1 DER format (OpenSSL EC private key format)
        if let Ok(ec_key) = sec1::EcPrivateKey::try_from(key_der) {
            let private_key_len = ec_key.private_key.len();

            let curve_oid = if let Some(params) = &ec_key.parameters {
                match params {
                    sec1::EcParameters::NamedCurve(oid) => Some(*oid),
                }
            } else if private_key_len == 32 {
                Some(ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")) // P-256
            } else if private_key_len == 48 {
                Some(ObjectIdentifier::new_unwrap("1.3.132.0.34")) // P-384
            } else {
                None
            };

            if let Some(curve_oid) = curve_oid {
                let ec_alg_oid = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
                let curve_params_der = curve_oid
                    .to_der()
                    .map_err(|_| CryptoError::OperationFailed(CryptoOperation::EncodeKey))?;
                let curve_params_any = der::asn1::AnyRef::try_from(curve_params_der.as_slice())
                    .map_err(|_| CryptoError::OperationFailed(CryptoOperation::EncodeKey))?;

                let algorithm = spki::AlgorithmIdentifierRef {
                    oid: ec_alg_oid,
                    parameters: Some(curve_params_any),
                };

                let private_key = der::asn1::OctetStringRef::new(key_der)
                    .map_err(|_| CryptoError::OperationFailed(CryptoOperation::EncodeKey))?;
                let pkcs8 = pkcs8::PrivateKeyInfoRef {
                    algorithm,
                    private_key,
                    public_key: None,
                };

                let pkcs8_der = pkcs8
                    .to_der()
                    .map_err(|_| CryptoError::OperationFailed(CryptoOperation::EncodeKey))?;

                let p256_curve = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
                if curve_oid == p256_curve
                    && let Ok(key_pair) =
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8_der)
                {
                    return Ok(Box::new(EcdsaSigningKey {
                        key_pair,
                        signing_algorithm: &ECDSA_P256_SHA256_ASN1_SIGNING,
                    }));
                }

                let p384_curve = ObjectIdentifier::new_unwrap("1.3.132.0.34");
                if curve_oid == p384_curve
                    && let Ok(key_pair) =
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &pkcs8_der)
                {
                    return Ok(Box::new(EcdsaSigningKey {
                        key_pair,
                        signing_algorithm: &ECDSA_P384_SHA384_ASN1_SIGNING,
                    }));
                }
            }
        }

        // Check if it's a PEM encoded key
        if let Ok(pem_str) = str::from_utf8(key_der)
            && pem_str.contains("-----BEGIN")
            && let Ok((_label, doc)) = pkcs8::Document::from_pem(pem_str)
        {
            return self.load_private_key(doc.as_bytes());
        }

        Err(CryptoError::InvalidPrivateKey)
    }
}

/// Signature verifier implementation.
#[derive(Debug)]
pub(super) struct AwsLcSignatureVerifier;

impl SignatureVerifier for AwsLcSignatureVerifier {
    fn verify_signature(
        &self,
        cert_der: &[u8],
        data: &[u8],
        signature: &[u8],
        hash_alg: HashAlgorithm,
        sig_alg: SignatureAlgorithm,
    ) -> Result<(), CryptoError> {
        // Vendored patch: RSA (PKCS#1 v1.5) and RSA-PSS are verified too, see verify_rsa.
        if sig_alg == SignatureAlgorithm::RSA || sig_alg == SignatureAlgorithm::RSA_PSS {
            return verify_rsa(cert_der, data, signature, hash_alg, sig_alg);
        }
        if sig_alg != SignatureAlgorithm::ECDSA {
            return Err(CryptoError::UnsupportedSignatureAlgorithm(sig_alg));
        }

        let cert =
            X509Certificate::from_der(cert_der).map_err(|_| CryptoError::CertificateParseFailed)?;
        let spki = cert.tbs_certificate().subject_public_key_info();

        const OID_EC_PUBLIC_KEY: ObjectIdentifier =
            ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(CryptoError::UnsupportedPublicKeyAlgorithm);
        }

        let pubkey_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or(CryptoError::InvalidSubjectPublicKey)?;

        let curve_oid: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .ok_or(CryptoError::MissingEcCurveParameter)?
            .decode_as()
            .map_err(|_| CryptoError::InvalidEcCurveParameter)?;

        let group = match curve_oid {
            OID_P256 => NamedGroup::Secp256r1,
            OID_P384 => NamedGroup::Secp384r1,
            _ => return Err(CryptoError::UnsupportedEcCurve),
        };

        check_verify_scheme(sig_alg, hash_alg, group)?;

        let algorithm: &EcdsaVerificationAlgorithm = match (group, hash_alg) {
            (NamedGroup::Secp256r1, HashAlgorithm::SHA256) => &ECDSA_P256_SHA256_ASN1,
            (NamedGroup::Secp256r1, HashAlgorithm::SHA384) => &ECDSA_P256_SHA384_ASN1,
            (NamedGroup::Secp384r1, HashAlgorithm::SHA256) => &ECDSA_P384_SHA256_ASN1,
            (NamedGroup::Secp384r1, HashAlgorithm::SHA384) => &ECDSA_P384_SHA384_ASN1,
            // unreachable: check_verify_scheme already validated
            _ => unreachable!(),
        };

        let public_key = UnparsedPublicKey::new(algorithm, pubkey_bytes);
        public_key
            .verify(data, signature)
            .map_err(|_| CryptoError::SignatureVerificationFailed {
                signature: sig_alg,
                hash: hash_alg,
                group,
            })
    }
}

/// `rsaEncryption` (RFC 8017 / RFC 3279), the key OID of RSA certificates made by OpenSSL,
/// BoringSSL (Chrome) and `cryptography` (aiortc).
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Verifies an RSA signature with the public key of an RSA certificate (vendored patch).
///
/// - `SignatureAlgorithm::RSA`: RSASSA-PKCS1-v1_5 (`rsa_pkcs1_sha256/384/512`, the classic
///   DTLS 1.2 pairs 0x0401/0x0501/0x0601).
/// - `SignatureAlgorithm::RSA_PSS`: RSASSA-PSS with MGF1 of the same hash and a salt as long
///   as the hash (`rsa_pss_rsae_sha256/384/512`, RFC 8446 §4.2.3), as aws-lc-rs'
///   `RSA_PSS_2048_8192_*` expect.
///
/// Only `rsaEncryption` keys are accepted (not `id-RSASSA-PSS`, i.e. no `rsa_pss_pss_*`),
/// with 2048 to 8192 bit moduli (aws-lc-rs rejects smaller keys), and SHA-256/384/512
/// (SHA-1 and MD5 are refused). Errors carry `NamedGroup::default()` as their `group`,
/// since RSA keys have none.
fn verify_rsa(
    cert_der: &[u8],
    data: &[u8],
    signature: &[u8],
    hash_alg: HashAlgorithm,
    sig_alg: SignatureAlgorithm,
) -> Result<(), CryptoError> {
    let cert =
        X509Certificate::from_der(cert_der).map_err(|_| CryptoError::CertificateParseFailed)?;
    let spki = cert.tbs_certificate().subject_public_key_info();

    if spki.algorithm.oid != OID_RSA_ENCRYPTION {
        return Err(CryptoError::UnsupportedPublicKeyAlgorithm);
    }

    // The BIT STRING holds the DER RSAPublicKey (PKCS#1), which aws-lc-rs takes as is.
    let pubkey_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or(CryptoError::InvalidSubjectPublicKey)?;

    let algorithm: &'static RsaParameters = match (sig_alg, hash_alg) {
        (SignatureAlgorithm::RSA, HashAlgorithm::SHA256) => &RSA_PKCS1_2048_8192_SHA256,
        (SignatureAlgorithm::RSA, HashAlgorithm::SHA384) => &RSA_PKCS1_2048_8192_SHA384,
        (SignatureAlgorithm::RSA, HashAlgorithm::SHA512) => &RSA_PKCS1_2048_8192_SHA512,
        (SignatureAlgorithm::RSA_PSS, HashAlgorithm::SHA256) => &RSA_PSS_2048_8192_SHA256,
        (SignatureAlgorithm::RSA_PSS, HashAlgorithm::SHA384) => &RSA_PSS_2048_8192_SHA384,
        (SignatureAlgorithm::RSA_PSS, HashAlgorithm::SHA512) => &RSA_PSS_2048_8192_SHA512,
        _ => {
            return Err(CryptoError::UnsupportedSignatureVerification {
                signature: sig_alg,
                hash: hash_alg,
                group: NamedGroup::default(),
            });
        }
    };

    UnparsedPublicKey::new(algorithm, pubkey_bytes)
        .verify(data, signature)
        .map_err(|_| CryptoError::SignatureVerificationFailed {
            signature: sig_alg,
            hash: hash_alg,
            group: NamedGroup::default(),
        })
}

/// Static instance of the key provider.
pub(super) static KEY_PROVIDER: AwsLcKeyProvider = AwsLcKeyProvider;

/// Static instance of the signature verifier.
pub(super) static SIGNATURE_VERIFIER: AwsLcSignatureVerifier = AwsLcSignatureVerifier;

#[cfg(all(test, feature = "rcgen"))]
mod tests {
    use super::*;
    use crate::certificate::generate_self_signed_certificate;

    #[test]
    fn invalid_signature_returns_structured_verification_error() {
        let cert = generate_self_signed_certificate().expect("generate cert");
        let mut key = KEY_PROVIDER
            .load_private_key(&cert.private_key)
            .expect("load private key");
        let data = b"signed data";
        let mut signature = Buf::new();
        key.sign(data, HashAlgorithm::SHA256, &mut signature)
            .expect("sign data");

        let last = signature.len() - 1;
        signature[last] ^= 0x01;

        let err = SIGNATURE_VERIFIER
            .verify_signature(
                &cert.certificate,
                data,
                &signature,
                HashAlgorithm::SHA256,
                SignatureAlgorithm::ECDSA,
            )
            .expect_err("corrupt signature should fail");

        assert_eq!(
            err,
            CryptoError::SignatureVerificationFailed {
                signature: SignatureAlgorithm::ECDSA,
                hash: HashAlgorithm::SHA256,
                group: NamedGroup::Secp256r1,
            }
        );
    }

    // ---- Vendored patch (PATCHES.md): RSA verification ----

    // RSA 2048 certificate + signatures of TEST_DATA made with the openssl CLI.
    const RSA_CERT: &[u8] = include_bytes!("../validation/rsa2048_cert.der");
    const TEST_DATA: &[u8] = include_bytes!("../validation/test_data.bin");
    const PKCS1_SHA256: &[u8] = include_bytes!("../validation/rsa2048_sha256_sig.bin");
    const PKCS1_SHA384: &[u8] = include_bytes!("../validation/rsa2048_sha384_sig.bin");
    const PKCS1_SHA512: &[u8] = include_bytes!("../validation/rsa2048_sha512_sig.bin");
    const PSS_SHA256: &[u8] = include_bytes!("../validation/rsa2048_pss_sha256_sig.bin");
    const PSS_SHA384: &[u8] = include_bytes!("../validation/rsa2048_pss_sha384_sig.bin");

    fn verify(
        cert: &[u8],
        sig: &[u8],
        hash: HashAlgorithm,
        alg: SignatureAlgorithm,
    ) -> Result<(), CryptoError> {
        SIGNATURE_VERIFIER.verify_signature(cert, TEST_DATA, sig, hash, alg)
    }

    #[test]
    fn rsa_pkcs1_signatures_verify() {
        let rsa = SignatureAlgorithm::RSA;
        verify(RSA_CERT, PKCS1_SHA256, HashAlgorithm::SHA256, rsa).unwrap();
        verify(RSA_CERT, PKCS1_SHA384, HashAlgorithm::SHA384, rsa).unwrap();
        verify(RSA_CERT, PKCS1_SHA512, HashAlgorithm::SHA512, rsa).unwrap();
    }

    #[test]
    fn rsa_pss_signatures_verify() {
        let pss = SignatureAlgorithm::RSA_PSS;
        verify(RSA_CERT, PSS_SHA256, HashAlgorithm::SHA256, pss).unwrap();
        verify(RSA_CERT, PSS_SHA384, HashAlgorithm::SHA384, pss).unwrap();
    }

    #[test]
    fn rsa_wrong_padding_hash_or_data_fails() {
        let failed = |sig, hash| CryptoError::SignatureVerificationFailed {
            signature: sig,
            hash,
            group: NamedGroup::default(),
        };
        // PKCS#1 v1.5 signature checked as PSS, and the reverse.
        let err = verify(
            RSA_CERT,
            PKCS1_SHA256,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA_PSS,
        );
        assert_eq!(
            err,
            Err(failed(SignatureAlgorithm::RSA_PSS, HashAlgorithm::SHA256))
        );
        let err = verify(
            RSA_CERT,
            PSS_SHA256,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA,
        );
        assert_eq!(
            err,
            Err(failed(SignatureAlgorithm::RSA, HashAlgorithm::SHA256))
        );
        // Wrong hash.
        let err = verify(
            RSA_CERT,
            PKCS1_SHA256,
            HashAlgorithm::SHA384,
            SignatureAlgorithm::RSA,
        );
        assert_eq!(
            err,
            Err(failed(SignatureAlgorithm::RSA, HashAlgorithm::SHA384))
        );
        // Corrupted signature.
        let mut bad = PKCS1_SHA256.to_vec();
        bad[10] ^= 0x01;
        let err = verify(
            RSA_CERT,
            &bad,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA,
        );
        assert_eq!(
            err,
            Err(failed(SignatureAlgorithm::RSA, HashAlgorithm::SHA256))
        );
        // Other data.
        let err = SIGNATURE_VERIFIER.verify_signature(
            RSA_CERT,
            b"other data",
            PKCS1_SHA256,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA,
        );
        assert_eq!(
            err,
            Err(failed(SignatureAlgorithm::RSA, HashAlgorithm::SHA256))
        );
    }

    #[test]
    fn rsa_sha1_and_md5_are_refused() {
        for hash in [
            HashAlgorithm::SHA1,
            HashAlgorithm::MD5,
            HashAlgorithm::SHA224,
        ] {
            let err = verify(RSA_CERT, PKCS1_SHA256, hash, SignatureAlgorithm::RSA);
            assert_eq!(
                err,
                Err(CryptoError::UnsupportedSignatureVerification {
                    signature: SignatureAlgorithm::RSA,
                    hash,
                    group: NamedGroup::default(),
                })
            );
        }
    }

    #[test]
    fn key_type_must_match_signature_algorithm() {
        // RSA signature claimed for an ECDSA certificate.
        let ec = generate_self_signed_certificate().expect("generate cert");
        let err = verify(
            &ec.certificate,
            PKCS1_SHA256,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA,
        );
        assert_eq!(err, Err(CryptoError::UnsupportedPublicKeyAlgorithm));
        // ECDSA signature claimed for an RSA certificate.
        let err = verify(
            RSA_CERT,
            PKCS1_SHA256,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::ECDSA,
        );
        assert_eq!(err, Err(CryptoError::UnsupportedPublicKeyAlgorithm));
    }

    #[test]
    fn rcgen_rsa_certificate_with_aws_lc_signatures() {
        use aws_lc_rs::signature::{RSA_PKCS1_SHA384, RSA_PSS_SHA256, RsaKeyPair};

        // A fresh self-signed RSA 2048 certificate made with rcgen, signed with aws-lc-rs.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .expect("self-signed");
        let signer = RsaKeyPair::from_pkcs8(&key.serialize_der()).expect("load rsa key");
        let rng = aws_lc_rs::rand::SystemRandom::new();

        let mut sig = vec![0; signer.public_modulus_len()];
        signer
            .sign(&RSA_PSS_SHA256, &rng, TEST_DATA, &mut sig)
            .unwrap();
        verify(
            cert.der(),
            &sig,
            HashAlgorithm::SHA256,
            SignatureAlgorithm::RSA_PSS,
        )
        .unwrap();

        signer
            .sign(&RSA_PKCS1_SHA384, &rng, TEST_DATA, &mut sig)
            .unwrap();
        verify(
            cert.der(),
            &sig,
            HashAlgorithm::SHA384,
            SignatureAlgorithm::RSA,
        )
        .unwrap();
        assert!(
            verify(
                RSA_CERT,
                &sig,
                HashAlgorithm::SHA384,
                SignatureAlgorithm::RSA
            )
            .is_err()
        );
    }
}
