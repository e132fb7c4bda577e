//! The verifier against every attack of research/virtual-id.md §4 ("Attack tests"), one test each,
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test
//! plus the size budget and interoperability with an independent Claim 169 implementation.
//! Keys are generated per test run; times are fixed instants around 2026-12-07 in Asia/Shanghai.

use ciborium::Value;
use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _, iana};
use ed25519_dalek::{Signer as _, SigningKey};
use enroll_credential::status::{StatusList, StatusListToken, list_uri};
use enroll_credential::trust::TrustList;
use enroll_credential::verify::Warning;
use enroll_credential::{
    IdentityClaims, KeyRole, Kid, Outcome, Profile, Reason, Sex, StatusRef, Tier, TokenClaims,
    VerifierState, day, token,
};
use jiff::civil::date;
use jiff::tz::TimeZone;

const REGISTRY: &str = "http://127.0.0.1:8443";
/// 2026-12-07T00:00:00+08:00.
const MIDNIGHT_SHANGHAI: i64 = 1_796_572_800;
/// Ten in the morning of the token's day, when the tests look at it unless they say otherwise.
const MORNING: i64 = MIDNIGHT_SHANGHAI + 10 * 3600;

fn random_key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

/// A registry's keys and a verifier that synced its lists at `lists_at`.
struct World {
    root: SigningKey,
    strict: SigningKey,
    light: SigningKey,
    status: SigningKey,
    verifier: VerifierState,
    revoked: StatusList,
}

impl World {
    fn new(lists_at: i64) -> World {
        let (root, strict, light, status) =
            (random_key(), random_key(), random_key(), random_key());
        let mut world = World {
            verifier: VerifierState::new(root.verifying_key()),
            root,
            strict,
            light,
            status,
            revoked: StatusList::new(),
        };
        let trust = world.trust_list(1, lists_at - 86_400);
        world.verifier.accept_trust_list(&trust).unwrap();
        let status = world.status_list(lists_at);
        world.verifier.accept_status_list(&status).unwrap();
        world
    }

    fn trust_list(&self, sequence: u64, issued_at: i64) -> Vec<u8> {
        let from = MIDNIGHT_SHANGHAI - 90 * 86_400;
        TrustList {
            sequence,
            issued_at_unix_s: issued_at,
            registry_url: REGISTRY.into(),
            keys: vec![
                TrustList::entry(
                    self.strict.verifying_key().to_bytes(),
                    KeyRole::Strict,
                    from,
                    365,
                ),
                TrustList::entry(
                    self.light.verifying_key().to_bytes(),
                    KeyRole::Light,
                    from,
                    365,
                ),
                TrustList::entry(
                    self.status.verifying_key().to_bytes(),
                    KeyRole::Status,
                    from,
                    365,
                ),
            ],
        }
        .sign(&self.root)
        .unwrap()
    }

    fn status_list_signed_by(&self, issued_at: i64, key: &SigningKey) -> Vec<u8> {
        StatusListToken {
            uri: list_uri(REGISTRY, 0),
            issued_at_unix_s: issued_at,
            expires_unix_s: issued_at + 25 * 3600,
            ttl_s: 3600,
            list: self.revoked.clone(),
        }
        .sign(key)
        .unwrap()
    }

    fn status_list(&self, issued_at: i64) -> Vec<u8> {
        self.status_list_signed_by(issued_at, &self.status)
    }

    fn key_for(&self, tier: Tier) -> &SigningKey {
        match tier {
            Tier::Strict => &self.strict,
            Tier::Light => &self.light,
        }
    }
}

/// The claims of the token for 2026-12-07 in Shanghai.
fn claims(tier: Tier, profile: Profile) -> TokenClaims {
    let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
    let (not_before, expires) = day::validity(date(2026, 12, 7), &shanghai).unwrap();
    let check_in = profile == Profile::CheckIn;
    TokenClaims {
        issuer: REGISTRY.into(),
        issued_at_unix_s: MIDNIGHT_SHANGHAI - 86_400,
        not_before_unix_s: not_before,
        expires_unix_s: expires,
        cti: [7; 16],
        status: Some(StatusRef {
            uri: list_uri(REGISTRY, 0),
            index: 4242,
        }),
        identity: IdentityClaims {
            handle: day::daily_handle(&[9; 32], "identity-1", date(2026, 12, 7)),
            tier,
            profile,
            age_over_18: true,
            // JPEG data does not compress: random bytes stand in for a 48-pixel thumbnail.
            face_jpeg: (0..520).map(|i| (i * 7919 % 251) as u8).collect(),
            full_name: check_in.then(|| "ZHANG San".into()),
            birth_yyyymmdd: check_in.then(|| "19900101".into()),
            sex: check_in.then_some(Sex::Male),
            region: check_in.then(|| "110105".into()),
        },
    }
}

fn outcome(world: &World, text: &str, now: i64) -> Outcome {
    world.verifier.verify(text, now).outcome
}

/// Packs a COSE structure the way a token is packed.
fn pack(cose: &[u8]) -> String {
    base45::encode(token::zlib(cose))
}

/// A COSE_Sign1 over `payload` with a chosen protected and unprotected header.
fn sign_raw(
    payload: Vec<u8>,
    key: &SigningKey,
    protected: coset::Header,
    unprotected: coset::Header,
) -> Vec<u8> {
    CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .create_signature(b"", |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

fn kid_of(key: &SigningKey) -> Vec<u8> {
    Kid::of(&key.verifying_key().to_bytes()).0.to_vec()
}

fn payload_of(claims: &TokenClaims) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::into_writer(&claims.to_cbor(), &mut bytes).unwrap();
    bytes
}

#[test]
fn tokens_of_both_tiers_and_both_profiles_are_valid_on_their_day() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    for tier in [Tier::Strict, Tier::Light] {
        for profile in Profile::ALL {
            let claims = claims(tier, profile);
            let text = token::issue(&claims, world.key_for(tier)).unwrap();
            let verdict = world.verifier.verify(&text, MORNING);
            assert_eq!(verdict.outcome, Outcome::Valid, "{tier:?} {profile:?}");
            assert_eq!(verdict.claims.as_ref(), Some(&claims));
            assert!(verdict.warnings.is_empty());
        }
    }
}

#[test]
fn the_basic_profile_discloses_no_name_birth_date_sex_or_region() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    let identity = world
        .verifier
        .verify(&text, MORNING)
        .claims
        .unwrap()
        .identity;
    assert_eq!(
        (
            identity.full_name,
            identity.birth_yyyymmdd,
            identity.sex,
            identity.region
        ),
        (None, None, None, None)
    );
    assert!(identity.age_over_18);
}

#[test]
fn both_profiles_fit_the_screen_budget_of_1300_characters() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let mut claims = claims(Tier::Strict, Profile::CheckIn);
    claims.identity.full_name = Some("OUYANG Xiaoming-Alexandrina Maximiliane".into());
    let text = token::issue(&claims, &world.strict).unwrap();
    assert!(text.len() <= 1_300, "{} characters", text.len());
}

#[test]
fn an_expired_token_is_refused_after_the_skew() {
    // Lists synced during the grace hours after the token's day.
    let world = World::new(MIDNIGHT_SHANGHAI + 25 * 3600);
    let claims = claims(Tier::Strict, Profile::Basic);
    let text = token::issue(&claims, &world.strict).unwrap();
    let last = claims.expires_unix_s + 300;
    assert_eq!(outcome(&world, &text, last), Outcome::Valid);
    assert_eq!(
        outcome(&world, &text, last + 1),
        Outcome::Invalid(Reason::Expired)
    );
}

#[test]
fn a_token_is_refused_before_it_is_valid() {
    let world = World::new(MIDNIGHT_SHANGHAI - 3 * 3600);
    let claims = claims(Tier::Strict, Profile::Basic);
    let text = token::issue(&claims, &world.strict).unwrap();
    let first = claims.not_before_unix_s - 300;
    assert_eq!(outcome(&world, &text, first), Outcome::Valid);
    assert_eq!(
        outcome(&world, &text, first - 1),
        Outcome::Invalid(Reason::NotYetValid)
    );
}

#[test]
fn a_token_claiming_more_than_27_hours_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let mut claims = claims(Tier::Strict, Profile::Basic);
    claims.expires_unix_s = claims.not_before_unix_s + 27 * 3600 + 1;
    let text = token::issue(&claims, &world.strict).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::LifetimeTooLong)
    );
}

#[test]
fn a_flipped_byte_anywhere_in_the_signed_structure_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let claims = claims(Tier::Strict, Profile::CheckIn);
    let cose = token::sign1(payload_of(&claims), &world.strict, None).unwrap();
    // The last byte is in the signature; the name is in the payload.
    let name_at = cose.windows(9).position(|w| w == b"ZHANG San").unwrap();
    for at in [cose.len() - 1, name_at + 2] {
        let mut forged = cose.clone();
        forged[at] ^= 0x01;
        assert_eq!(
            outcome(&world, &pack(&forged), MORNING),
            Outcome::Invalid(Reason::BadSignature),
            "byte {at}"
        );
    }
}

#[test]
fn a_token_signed_by_a_key_not_in_the_trust_list_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &random_key()).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::UnknownKid)
    );
}

#[test]
fn the_light_key_cannot_sign_a_strict_token() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &world.light).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::KeyNotForTier)
    );
}

#[test]
fn a_retired_key_cannot_sign_tokens_issued_after_it_left() {
    let mut world = World::new(MIDNIGHT_SHANGHAI);
    let from = MIDNIGHT_SHANGHAI - 90 * 86_400;
    let mut strict = TrustList::entry(
        world.strict.verifying_key().to_bytes(),
        KeyRole::Strict,
        from,
        30,
    );
    strict.not_after_unix_s = MIDNIGHT_SHANGHAI - 10 * 86_400;
    let list = TrustList {
        sequence: 2,
        issued_at_unix_s: MIDNIGHT_SHANGHAI - 3600,
        registry_url: REGISTRY.into(),
        keys: vec![
            strict,
            TrustList::entry(
                world.status.verifying_key().to_bytes(),
                KeyRole::Status,
                from,
                365,
            ),
        ],
    };
    world
        .verifier
        .accept_trust_list(&list.sign(&world.root).unwrap())
        .unwrap();
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::KeyNotValid)
    );
}

#[test]
fn an_algorithm_other_than_eddsa_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .key_id(kid_of(&world.strict))
        .build();
    let cose = sign_raw(
        payload_of(&claims(Tier::Strict, Profile::Basic)),
        &world.strict,
        protected,
        coset::Header::default(),
    );
    assert_eq!(
        outcome(&world, &pack(&cose), MORNING),
        Outcome::Invalid(Reason::AlgNotEdDsa)
    );
}

#[test]
fn an_algorithm_in_the_unprotected_header_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let protected = HeaderBuilder::new().key_id(kid_of(&world.strict)).build();
    let unprotected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .build();
    let cose = sign_raw(
        payload_of(&claims(Tier::Strict, Profile::Basic)),
        &world.strict,
        protected,
        unprotected,
    );
    assert_eq!(
        outcome(&world, &pack(&cose), MORNING),
        Outcome::Invalid(Reason::AlgUnprotected)
    );
}

/// The token's COSE_Sign1 under another tag (or none).
fn retagged(world: &World, tag: Option<u64>) -> String {
    let cose = token::sign1(
        payload_of(&claims(Tier::Strict, Profile::Basic)),
        &world.strict,
        None,
    )
    .unwrap();
    let Value::Tag(18, inner) = ciborium::from_reader::<Value, _>(cose.as_slice()).unwrap() else {
        panic!("a token is tagged 18");
    };
    let value = match tag {
        Some(tag) => Value::Tag(tag, inner),
        None => *inner,
    };
    let mut bytes = Vec::new();
    ciborium::into_writer(&value, &mut bytes).unwrap();
    pack(&bytes)
}

#[test]
fn a_cose_mac0_an_unknown_tag_or_no_tag_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    for tag in [Some(17), Some(61), Some(98), None] {
        assert!(
            matches!(
                outcome(&world, &retagged(&world, tag), MORNING),
                Outcome::Invalid(Reason::NotSign1(_))
            ),
            "tag {tag:?}"
        );
    }
}

#[test]
fn a_claims_map_with_a_duplicate_key_is_refused_even_when_signed() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let claims = claims(Tier::Light, Profile::Basic);
    let Value::Map(mut entries) = claims.to_cbor() else {
        panic!("claims are a map");
    };
    // A second tier claim, saying strict, after the first.
    entries.push((Value::Integer((-65_537).into()), Value::Integer(2.into())));
    let mut payload = Vec::new();
    ciborium::into_writer(&Value::Map(entries), &mut payload).unwrap();
    let cose = token::sign1(payload, &world.light, None).unwrap();
    assert_eq!(
        outcome(&world, &pack(&cose), MORNING),
        Outcome::Invalid(Reason::DuplicateKey)
    );
}

#[test]
fn bytes_after_the_signed_structure_are_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let mut cose = token::sign1(
        payload_of(&claims(Tier::Strict, Profile::Basic)),
        &world.strict,
        None,
    )
    .unwrap();
    cose.push(0x00);
    assert_eq!(
        outcome(&world, &pack(&cose), MORNING),
        Outcome::Invalid(Reason::TrailingBytes)
    );
}

#[test]
fn a_zlib_bomb_is_refused_before_it_is_inflated() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let bomb = pack(&vec![0u8; 1 << 20]);
    assert!(bomb.len() < 4_296, "the bomb fits a QR: {}", bomb.len());
    assert_eq!(
        outcome(&world, &bomb, MORNING),
        Outcome::Invalid(Reason::InflatedTooLarge)
    );
}

#[test]
fn text_that_is_not_a_token_gets_its_own_reason() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    assert_eq!(
        outcome(&world, "hello, world", MORNING),
        Outcome::Invalid(Reason::NotBase45)
    );
    assert_eq!(
        outcome(&world, &base45::encode(b"not zlib"), MORNING),
        Outcome::Invalid(Reason::NotZlib)
    );
}

#[test]
fn a_revoked_token_is_refused_once_the_list_that_says_so_is_synced() {
    let mut world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    assert_eq!(outcome(&world, &text, MORNING), Outcome::Valid);
    world.revoked.revoke(4242);
    let list = world.status_list(MIDNIGHT_SHANGHAI + 3600);
    world.verifier.accept_status_list(&list).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::Revoked)
    );
}

#[test]
fn a_token_without_a_status_claim_is_refused() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let mut claims = claims(Tier::Light, Profile::Basic);
    claims.status = None;
    let text = token::issue(&claims, &world.light).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::Invalid(Reason::StatusMissing)
    );
}

#[test]
fn without_the_tokens_status_list_the_verifier_cannot_check() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let mut claims = claims(Tier::Light, Profile::Basic);
    claims.status = Some(StatusRef {
        uri: list_uri(REGISTRY, 5),
        index: 1,
    });
    let text = token::issue(&claims, &world.light).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING),
        Outcome::CannotCheck(Reason::NoStatusList)
    );
}

#[test]
fn a_stale_status_list_refuses_strict_tokens_and_warns_on_light_ones() {
    // Lists synced 25 hours before the morning of the token's day.
    let world = World::new(MORNING - 25 * 3600);
    let strict = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    let light = token::issue(&claims(Tier::Light, Profile::Basic), &world.light).unwrap();
    assert_eq!(
        outcome(&world, &strict, MORNING),
        Outcome::CannotCheck(Reason::StatusListStale)
    );
    let verdict = world.verifier.verify(&light, MORNING);
    assert_eq!(verdict.outcome, Outcome::Valid);
    assert!(matches!(
        verdict.warnings.as_slice(),
        [Warning::StatusListStale { age_s: 90_000 }]
    ));
}

#[test]
fn a_status_list_not_signed_by_a_status_key_is_not_taken() {
    let mut world = World::new(MIDNIGHT_SHANGHAI);
    world.revoked.revoke(4242);
    let by_light_key = world.status_list_signed_by(MIDNIGHT_SHANGHAI + 60, &world.light);
    assert_eq!(
        world.verifier.accept_status_list(&by_light_key).err(),
        Some(Reason::ListNotSigned)
    );
    let mut bad_signature = world.status_list(MIDNIGHT_SHANGHAI + 60);
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x80;
    assert_eq!(
        world.verifier.accept_status_list(&bad_signature).err(),
        Some(Reason::ListNotSigned)
    );
    // The revocation those lists carried did not take effect.
    let text = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    assert_eq!(outcome(&world, &text, MORNING), Outcome::Valid);
}

#[test]
fn an_older_status_list_or_trust_list_is_a_rollback() {
    let mut world = World::new(MIDNIGHT_SHANGHAI);
    // An attacker replays the list from before a revocation.
    let older = world.status_list(MIDNIGHT_SHANGHAI - 3600);
    assert_eq!(
        world.verifier.accept_status_list(&older).err(),
        Some(Reason::Rollback)
    );
    let trust_2 = world.trust_list(2, MIDNIGHT_SHANGHAI - 3600);
    world.verifier.accept_trust_list(&trust_2).unwrap();
    let trust_1 = world.trust_list(1, MIDNIGHT_SHANGHAI - 7200);
    assert_eq!(
        world.verifier.accept_trust_list(&trust_1).err(),
        Some(Reason::Rollback)
    );
    assert_eq!(world.verifier.trust_list().unwrap().sequence, 2);
}

#[test]
fn a_trust_list_signed_by_another_root_is_not_taken() {
    let mut world = World::new(MIDNIGHT_SHANGHAI);
    world.root = random_key();
    let list = world.trust_list(5, MIDNIGHT_SHANGHAI);
    assert_eq!(
        world.verifier.accept_trust_list(&list).err(),
        Some(Reason::ListNotSigned)
    );
}

#[test]
fn moving_the_verifiers_clock_back_does_not_revive_yesterdays_token() {
    // Lists signed at 10:00 on 2026-12-08; yesterday's (12-07) token expired at 02:00 that day.
    let world = World::new(MORNING + 86_400);
    let yesterdays = token::issue(&claims(Tier::Strict, Profile::Basic), &world.strict).unwrap();
    let verdict = world.verifier.verify(&yesterdays, MORNING);
    assert_eq!(verdict.outcome, Outcome::Invalid(Reason::Expired));
    assert_eq!(verdict.checked_at_unix_s, MORNING + 86_400);
    assert!(matches!(
        verdict.warnings.as_slice(),
        [Warning::ClockBehindLists { behind_s: 86_400 }]
    ));
}

#[test]
fn moving_the_verifiers_clock_forward_expires_the_token() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Light, Profile::Basic), &world.light).unwrap();
    assert_eq!(
        outcome(&world, &text, MORNING + 2 * 86_400),
        Outcome::Invalid(Reason::Expired)
    );
}

#[test]
fn the_token_for_a_day_follows_midnight_in_the_registrys_time_zone_not_utc() {
    // The token for 2026-12-07 in Shanghai (UTC+8). The verifier synced at 23:00 local on 12-06.
    let world = World::new(MIDNIGHT_SHANGHAI - 3600);
    // A light token: the lists are 27 hours old at the end, which only warns for the light tier.
    let text = token::issue(&claims(Tier::Light, Profile::Basic), &world.light).unwrap();
    let local = |h: i64, m: i64| MIDNIGHT_SHANGHAI + h * 3600 + m * 60;
    // 23:44:59 on 12-06 local: more than 10 minutes + skew before midnight.
    assert_eq!(
        outcome(&world, &text, local(0, -15) - 1),
        Outcome::Invalid(Reason::NotYetValid)
    );
    assert_eq!(outcome(&world, &text, local(0, -15)), Outcome::Valid);
    // 08:00 local on 12-07 is midnight UTC: the UTC day changes, the token does not care.
    assert_eq!(outcome(&world, &text, local(8, 0)), Outcome::Valid);
    // Valid through the 2-hour grace after the next local midnight, plus skew.
    assert_eq!(outcome(&world, &text, local(26, 5)), Outcome::Valid);
    assert_eq!(
        outcome(&world, &text, local(26, 5) + 1),
        Outcome::Invalid(Reason::Expired)
    );
}

#[test]
fn our_tokens_decode_with_the_independent_claim169_core_implementation() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let claims = claims(Tier::Strict, Profile::CheckIn);
    let text = token::issue(&claims, &world.strict).unwrap();
    let decoded = claim169_core::Decoder::new(text.as_str())
        .verify_with_ed25519(&world.strict.verifying_key().to_bytes())
        .unwrap()
        .without_timestamp_validation()
        .decode()
        .unwrap();
    let theirs = decoded.claim169;
    let ours = &claims.identity;
    assert_eq!(theirs.id.as_ref(), Some(&ours.handle));
    assert_eq!(theirs.full_name, ours.full_name);
    assert_eq!(theirs.date_of_birth, ours.birth_yyyymmdd);
    assert_eq!(theirs.gender, Some(claim169_core::model::Gender::Male));
    assert_eq!(theirs.location_code, ours.region);
    let face = theirs.face.unwrap();
    assert_eq!(face.first().map(|f| &f.data), Some(&ours.face_jpeg));
    assert_eq!(decoded.cwt_meta.issuer.as_deref(), Some(REGISTRY));
    assert_eq!(decoded.cwt_meta.expires_at, Some(claims.expires_unix_s));
    assert_eq!(decoded.cwt_meta.not_before, Some(claims.not_before_unix_s));
    // And a token it refuses to verify with another key is refused by both.
    assert!(
        claim169_core::Decoder::new(text.as_str())
            .verify_with_ed25519(&world.light.verifying_key().to_bytes())
            .unwrap()
            .without_timestamp_validation()
            .decode()
            .is_err()
    );
}

#[test]
fn a_token_drawn_as_a_qr_reads_back_to_the_same_text() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::CheckIn), &world.strict).unwrap();
    use enroll_credential::qr;
    assert!(qr::version(&text, qr::Medium::Screen).unwrap() <= 25);
    let image = qr::render(&text, qr::Medium::Paper, 4).unwrap();
    assert_eq!(qr::decode(&image), vec![text]);
}

#[path = "support/photo.rs"]
mod photo;

#[test]
fn a_token_photographed_off_a_screen_is_found_and_verified() {
    let world = World::new(MIDNIGHT_SHANGHAI);
    let text = token::issue(&claims(Tier::Strict, Profile::CheckIn), &world.strict).unwrap();
    let picture = photo::photo_of_screen(&text);
    assert_eq!((picture.width, picture.height), (1280, 720));
    let found = enroll_credential::qr::decode(&picture);
    assert_eq!(found, vec![text]);
    assert_eq!(outcome(&world, &found[0], MORNING), Outcome::Valid);
}
