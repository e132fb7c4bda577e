//! Passive authentication (`enroll_crypto::passive_auth`) against security objects the test PKI
//! signs: every signer algorithm passes, and every tampering, untrusted CSCA or expiry is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use enroll_core::domain::card_read::DataGroupBytes;
use enroll_crypto::passive_auth::*;
use enroll_sim::sod_issuer::{KeyKind, TestPki};

const NOW_S: i64 = 1_790_000_000;

fn groups() -> Vec<DataGroupBytes> {
    vec![
        DataGroupBytes {
            number: 1,
            bytes: b"\x61\x03\x5F\x1F\x00".to_vec(),
        },
        DataGroupBytes {
            number: 2,
            bytes: vec![0x75, 0x02, 0x01, 0x02],
        },
    ]
}

fn signed(pki: &TestPki) -> Vec<u8> {
    let groups = groups();
    let pairs: Vec<(u8, &[u8])> = groups
        .iter()
        .map(|g| (g.number, g.bytes.as_slice()))
        .collect();
    pki.sign_sod(&pairs).unwrap()
}

#[test]
fn a_freshly_signed_sod_passes_and_names_the_csca() {
    let pki = TestPki::utopia(NOW_S).unwrap();
    let outcome = verify(
        &signed(&pki),
        &groups(),
        std::slice::from_ref(&pki.csca.certificate_der),
        NOW_S,
    );
    assert_eq!(outcome.failure, None);
    assert_eq!(
        outcome.csca_subject.as_deref(),
        Some("CN=Utopia Test CSCA, C=UT")
    );
}

#[test]
fn a_brainpool_p256r1_document_signer_passes() {
    let pki = TestPki::utopia_on(KeyKind::BrainpoolP256r1, NOW_S).unwrap();
    let outcome = verify(
        &signed(&pki),
        &groups(),
        std::slice::from_ref(&pki.csca.certificate_der),
        NOW_S,
    );
    assert_eq!(outcome.failure, None);
}

#[test]
fn rsa_pkcs1_and_pss_document_signers_pass_and_a_tampered_group_still_fails() {
    for kind in [KeyKind::Rsa2048Pkcs1, KeyKind::Rsa2048Pss] {
        let pki = TestPki::utopia_on(kind, NOW_S).unwrap();
        let store = std::slice::from_ref(&pki.csca.certificate_der);
        assert_eq!(
            verify(&signed(&pki), &groups(), store, NOW_S).failure,
            None,
            "{kind:?}"
        );
        let mut tampered = groups();
        tampered[0].bytes[2] ^= 1;
        assert_eq!(
            verify(&signed(&pki), &tampered, store, NOW_S)
                .failure
                .as_deref(),
            Some("data group 1 hash mismatch")
        );
    }
}

#[test]
fn a_changed_data_group_is_a_hash_mismatch() {
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut groups = groups();
    groups[1].bytes[3] ^= 1;
    let outcome = verify(
        &signed(&pki),
        &groups,
        std::slice::from_ref(&pki.csca.certificate_der),
        NOW_S,
    );
    assert_eq!(
        outcome.failure.as_deref(),
        Some("data group 2 hash mismatch")
    );
}

#[test]
fn another_csca_is_not_trusted() {
    let pki = TestPki::utopia(NOW_S).unwrap();
    let other = TestPki::utopia(NOW_S).unwrap();
    let outcome = verify(
        &signed(&pki),
        &groups(),
        std::slice::from_ref(&other.csca.certificate_der),
        NOW_S,
    );
    assert_eq!(
        outcome.failure.as_deref(),
        Some("document signer not issued by a trusted CSCA")
    );
}

#[test]
fn a_flipped_signature_byte_invalidates_the_sod() {
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut sod = signed(&pki);
    let last = sod.len() - 3;
    sod[last] ^= 0x55;
    let outcome = verify(
        &sod,
        &groups(),
        std::slice::from_ref(&pki.csca.certificate_der),
        NOW_S,
    );
    assert_eq!(outcome.failure.as_deref(), Some("SOD signature invalid"));
}

#[test]
fn an_expired_document_signer_fails() {
    let pki = TestPki::utopia(NOW_S).unwrap();
    let later = NOW_S + 6 * 365 * 86_400;
    let outcome = verify(
        &signed(&pki),
        &groups(),
        std::slice::from_ref(&pki.csca.certificate_der),
        later,
    );
    assert_eq!(
        outcome.failure.as_deref(),
        Some("document signer certificate expired or not yet valid")
    );
}
