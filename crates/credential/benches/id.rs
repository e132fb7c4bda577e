//! The virtual ID's speed (issue 25's targets), criterion: checking a token's text with the lists
//! held (≤ 5 ms), finding and checking it in a 1280 × 720 photo of a screen (≤ 50 ms), and
//! issuing one check-in token: sign, zlib, Base45 (≥ 2,000 tokens/s on one core, so ≤ 0.5 ms).
//! `scripts/bench.sh id` runs it and prints the ratios. Keys are made per run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // bench code: a panic is a failed run

#[path = "../tests/support/photo.rs"]
mod photo;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use enroll_credential::status::{StatusList, StatusListToken, list_uri};
use enroll_credential::trust::TrustList;
use enroll_credential::{
    IdentityClaims, KeyRole, Outcome, Profile, Sex, StatusRef, Tier, TokenClaims, VerifierState,
    qr, token,
};

const NOW: i64 = 1_796_608_800;

fn key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

fn claims() -> TokenClaims {
    TokenClaims {
        issuer: "https://registry.example.gov.cn".into(),
        issued_at_unix_s: NOW - 86_400,
        not_before_unix_s: NOW - 3_600,
        expires_unix_s: NOW + 20 * 3_600,
        cti: [7; 16],
        status: Some(StatusRef {
            uri: list_uri("https://registry.example.gov.cn", 0),
            index: 70_001,
        }),
        identity: IdentityClaims {
            handle: "4c4903d71b66f8b6085b".into(),
            tier: Tier::Strict,
            profile: Profile::CheckIn,
            age_over_18: true,
            face_jpeg: (0..520).map(|i| (i * 7919 % 251) as u8).collect(),
            full_name: Some("ZHANG San".into()),
            birth_yyyymmdd: Some("19900101".into()),
            sex: Some(Sex::Male),
            region: Some("北京市公安局东城分局".into()),
        },
    }
}

fn bench(c: &mut Criterion) {
    let (root, strict, status) = (key(), key(), key());
    let mut verifier = VerifierState::new(root.verifying_key());
    let trust = TrustList {
        sequence: 1,
        issued_at_unix_s: NOW - 7_200,
        registry_url: "https://registry.example.gov.cn".into(),
        keys: vec![
            TrustList::entry(
                strict.verifying_key().to_bytes(),
                KeyRole::Strict,
                NOW - 86_400 * 30,
                90,
            ),
            TrustList::entry(
                status.verifying_key().to_bytes(),
                KeyRole::Status,
                NOW - 86_400 * 30,
                90,
            ),
        ],
    };
    verifier
        .accept_trust_list(&trust.sign(&root).unwrap())
        .unwrap();
    let list = StatusListToken {
        uri: list_uri("https://registry.example.gov.cn", 0),
        issued_at_unix_s: NOW - 600,
        expires_unix_s: NOW + 86_400,
        ttl_s: 3_600,
        list: StatusList::new(),
    };
    verifier
        .accept_status_list(&list.sign(&status).unwrap())
        .unwrap();
    let claims = claims();
    let text = token::issue(&claims, &strict).unwrap();
    assert_eq!(verifier.verify(&text, NOW).outcome, Outcome::Valid);
    let picture = photo::photo_of_screen(&text);
    assert_eq!(qr::decode(&picture), vec![text.clone()]);

    let mut group = c.benchmark_group("id");
    group.sample_size(50);
    group.bench_function("verify_text", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&text), NOW)))
    });
    group.bench_function("verify_photo_1280x720", |b| {
        b.iter(|| {
            let found = qr::decode(black_box(&picture));
            black_box(verifier.verify(&found[0], NOW))
        })
    });
    group.bench_function("issue_token", |b| {
        b.iter(|| black_box(token::issue(black_box(&claims), &strict).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
