//! One enrollment through the library the GUI's workers use: a capture and the card photo of the
//! same person (development face set fixtures) match, the record is committed and the
//! applicant's receipt text verifies against the terminal's key; a capture without a face is
//! refused with a clear error and stores nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;
use enroll_core::domain::challenge::{ChallengeOutcome, ChallengeRecord, TurnSide};

use enroll_core::domain::applicant_receipt::ApplicantReceipt;
use enroll_core::domain::tier::Tier;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{PreparedSeal, SealingPrivateKey, TerminalSigningKey};
use enroll_face::FaceEngine;
use enroll_kiosk::app::enrollment::{CommitParams, EnrollError, check, commit};
use enroll_store::{GuardLimits, Outbox};
use image::RgbImage;

use common::root;

fn photo(name: &str) -> RgbImage {
    image::open(root().join("tests/fixtures/faces").join(name))
        .unwrap()
        .to_rgb8()
}

#[test]
fn a_matching_capture_is_committed_with_a_receipt_the_terminal_key_verifies() {
    let config =
        enroll_kiosk::config::Config::load(&root().join("kiosk-config/demo.toml")).unwrap();
    let engine = FaceEngine::load(&config.face.engine).unwrap();
    let live = photo("Anders_Fogh_Rasmussen_0001.jpg");
    let card_photo = photo("Anders_Fogh_Rasmussen_0003.jpg");
    let checked = check(&engine, &live, Some(&card_photo)).unwrap();
    let decision = checked.decision.unwrap();
    assert!(decision.is_match, "score {}", decision.score_cosine);

    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    let terminal_key = TerminalSigningKey::from_seed([3; 32]);
    let (_, registry_key) = SealingPrivateKey::from_seed([4; 32]);
    let limits = GuardLimits {
        min_free_disk_mb: 1,
        max_unsent_records: 100,
        max_unsent_age_days: 30,
    };
    let params = CommitParams {
        terminal_id: "DEMO-0001",
        tier: Tier::SelfService,
        officer_id: None,
        supervisor_id: None,
        actor: "applicant",
        limits: &limits,
        terminal_key: &terminal_key,
        threshold_cosine: engine.threshold_cosine(),
        models_sha256: engine.models_sha256(),
        model_pack: engine.pack().name(),
        // The applicant passed the liveness challenge before the capture was checked.
        challenge: ChallengeRecord {
            outcome: Some(ChallengeOutcome {
                passed: true,
                side: TurnSide::Right,
                blink_done_ms: Some(640),
                turn_done_ms: Some(1_480),
                total_ms: 1_480,
                failure: None,
            }),
            waived: None,
        },
    };
    let card = common::card();
    let enrolled = commit(
        &mut outbox,
        &card,
        &checked,
        &params,
        UnixMs(1_790_000_000_000),
        [9; 10],
        PreparedSeal::new(&registry_key, [8; 32]).unwrap(),
    )
    .unwrap();
    assert_eq!(outbox.status().unwrap().pending, 1);
    // The signed record names the pack and keeps the challenge's result and timing.
    let (body, _) = outbox
        .signed_body(&enrolled.committed.id.to_string())
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["face"]["model_pack"], "open");
    assert_eq!(
        body["face"]["liveness_challenge"],
        serde_json::json!({"passed": true, "side": "right", "blink_done_ms": 640,
            "turn_done_ms": 1480, "total_ms": 1480, "failure": null})
    );
    assert!(
        body["face"].get("liveness_challenge_waived").is_none(),
        "nothing was waived"
    );

    let (receipt, signature) = ApplicantReceipt::parse(&enrolled.receipt_text).unwrap();
    assert_eq!(receipt.record_id, enrolled.committed.id);
    assert_eq!(receipt.body_sha256, enrolled.committed.body_sha256);
    terminal_key
        .public()
        .verify(&receipt.signed_bytes(), &signature)
        .unwrap();
    let public = terminal_key.public();
    assert!(outbox.verify_records(&public).unwrap().is_intact());

    // A capture without a face: refused, nothing stored.
    let error = check(&engine, &RgbImage::new(640, 480), Some(&card_photo))
        .err()
        .unwrap();
    assert!(matches!(error, EnrollError::NoFaceInCapture), "{error}");
    assert!(error.to_string().contains("capture the applicant again"));
    assert_eq!(outbox.status().unwrap().pending, 1);
}
