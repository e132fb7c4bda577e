//! One enrollment from a card read and a live capture, shared by `kiosk enroll` and the GUI's
//! workers: [`check`] (analysis of the capture, the ICAO token portrait, the match with the card
//! photo) and [`commit`] (seal, sign, store, and the applicant's receipt text). It reads no files
//! and no clock: keys, time and randomness come in. It decides no flow step.

use enroll_core::domain::challenge::ChallengeRecord;
use std::collections::BTreeMap;

use image::RgbImage;

use enroll_core::domain::activation::ActivationCode;
use enroll_core::domain::applicant_receipt::ApplicantReceipt;
use enroll_core::domain::card_read::CardRead;
use enroll_core::domain::document::Photo;
use enroll_core::domain::record::{
    CardEvidenceSummary, DocumentData, RecordDraft, RecordId, SEALED_FORMAT, SealedContent,
};
use enroll_core::domain::tier::Tier;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{DocumentTagKey, PreparedSeal, RecordCryptoError, RecordSigner};
use enroll_devices::card::photo::decode_photo;
use enroll_face::compare::Decision;
use enroll_face::evidence::face_evidence;
use enroll_face::portrait::Portrait;
use enroll_face::{
    Analysis, FaceAnalyzer as _, FaceEngine, FaceError, FaceMatcher as _, PortraitMaker as _,
    decode_image,
};
use enroll_store::{Committed, FleetItem, GuardLimits, Outbox, StoreError};

/// Why an enrollment could not be checked or committed. No personal data in the text.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// No usable face in the live capture.
    #[error("no usable face in the capture; capture the applicant again")]
    NoFaceInCapture,
    /// The card's photo cannot be used for the comparison.
    #[error("the card photo cannot be used: {0}")]
    CardPhoto(String),
    /// The face engine failed.
    #[error(transparent)]
    Face(#[from] FaceError),
    /// Sealing failed.
    #[error(transparent)]
    Crypto(#[from] RecordCryptoError),
    /// The outbox refused or failed (a guard, a full disk).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record body cannot be read.
    #[error(transparent)]
    Format(#[from] enroll_core::domain::record::RecordFormatError),
}

/// The card photo as an image, when the card carries a decodable one.
pub fn card_photo_image(photo: &Photo) -> Result<Option<RgbImage>, EnrollError> {
    Ok(match photo {
        Photo::Jpeg(bytes) | Photo::Bmp(bytes) => {
            Some(decode_image(bytes, 8192).map_err(|e| EnrollError::CardPhoto(e.to_string()))?)
        }
        Photo::Jpeg2000(_) => {
            let decoded = decode_photo(photo).map_err(|e| EnrollError::CardPhoto(e.to_string()))?;
            Some(
                RgbImage::from_raw(decoded.width_px, decoded.height_px, decoded.rgb).ok_or_else(
                    || EnrollError::CardPhoto("the decoded photo has an inconsistent size".into()),
                )?,
            )
        }
        Photo::Undecoded { .. } | Photo::Absent => None,
    })
}

/// A checked capture: its analysis, the portrait to store and the comparison with the card photo
/// (`None` when the card has no usable photo).
pub struct Checked {
    pub analysis: Analysis,
    pub portrait: Portrait,
    pub decision: Option<Decision>,
}

impl Checked {
    /// Passive liveness of the capture, when the engine measured it.
    pub fn live_probability(&self) -> Option<f32> {
        self.analysis
            .face
            .as_ref()
            .and_then(|face| face.liveness.as_ref())
            .map(|score| score.live_probability)
    }
}

/// Analyses the capture, crops the token portrait and compares it with the card photo.
pub fn check(
    engine: &FaceEngine,
    live: &RgbImage,
    card_photo: Option<&RgbImage>,
) -> Result<Checked, EnrollError> {
    let analysis = engine.analyze_still(live)?;
    if analysis.face.is_none() {
        return Err(EnrollError::NoFaceInCapture);
    }
    let portrait = engine.portrait(live, &analysis)?;
    let decision = match card_photo {
        Some(card_photo) => {
            let live_embedding = engine.embed_analyzed(live, &analysis)?;
            let card_embedding = engine
                .embed_still(card_photo)
                .map_err(|e| EnrollError::CardPhoto(format!("no usable face in it ({e})")))?;
            Some(engine.compare(&live_embedding, &card_embedding)?)
        }
        None => None,
    };
    Ok(Checked {
        analysis,
        portrait,
        decision,
    })
}

/// Whether the face that did the liveness challenge (`challenge_face`, a camera frame from just
/// after the blink) is the captured face: the challenge proves only that *someone* live was in
/// front of the camera, and a photo held up for the capture must not borrow another person's
/// blink. A frame without a usable face is not the same person.
/// The capture's own analysis (from [`check`]) is reused: only its embedding is computed again.
pub fn same_person(
    engine: &FaceEngine,
    capture: &RgbImage,
    checked: &Checked,
    challenge_face: &RgbImage,
) -> Result<bool, EnrollError> {
    let captured = engine.embed_analyzed(capture, &checked.analysis)?;
    let Ok(challenged) = engine.embed_still(challenge_face) else {
        return Ok(false);
    };
    Ok(engine.compare(&captured, &challenged)?.is_match)
}

/// Who records the enrollment, with which keys and limits.
pub struct CommitParams<'a> {
    pub terminal_id: &'a str,
    pub tier: Tier,
    pub officer_id: Option<String>,
    pub supervisor_id: Option<String>,
    /// The audit log's actor ("applicant" or "officer:ID").
    pub actor: &'a str,
    pub limits: &'a GuardLimits,
    pub terminal_key: &'a dyn RecordSigner,
    pub threshold_cosine: f32,
    pub models_sha256: &'a BTreeMap<String, String>,
    /// The model pack the engine runs (the record names it).
    pub model_pack: &'a str,
    /// The liveness challenge run before the capture was checked, and the officer's waiver.
    pub challenge: ChallengeRecord,
}

/// A committed enrollment, the applicant's receipt text (for the QR code) and the one-time
/// activation code that brings the virtual ID to the applicant's phone.
pub struct Enrolled {
    pub committed: Committed,
    pub receipt_text: String,
    pub activation_code: ActivationCode,
}

/// The applicant's one-time activation code for a record. Derived from the terminal key, so a
/// reprint shows the same code and the outbox never stores it; it travels to the registry only
/// inside the sealed payload.
pub fn activation_code(
    terminal_key: &dyn RecordSigner,
    record_id: &RecordId,
) -> Result<ActivationCode, RecordCryptoError> {
    Ok(ActivationCode::from_bits(&terminal_key.try_derive_secret(
        "activation code",
        &record_id.to_string(),
    )?))
}

/// Seals the biometrics and card evidence to the registry with `seal` (prepared to the registry
/// key ahead, see [`PreparedSeal`]), signs the record and commits it. `id_random` is fresh random
/// bytes.
pub fn commit(
    outbox: &mut Outbox,
    card: &CardRead,
    checked: &Checked,
    params: &CommitParams<'_>,
    now_unix_ms: UnixMs,
    id_random: [u8; 10],
    seal: PreparedSeal,
) -> Result<Enrolled, EnrollError> {
    let id = RecordId::v7(now_unix_ms, id_random);
    let activation_code = activation_code(params.terminal_key, &id)?;
    let content = SealedContent {
        format: SEALED_FORMAT.to_owned(),
        version: 2,
        record_id: id,
        portrait_jpeg: checked.portrait.jpeg_bytes().to_vec(),
        card_photo: card.identity.photo.clone(),
        card_evidence: card.evidence.clone(),
        activation_code: Some(activation_code.as_str().to_owned()),
        document: Some(DocumentData::from(&card.identity)),
    };
    let sealed = seal.seal(&id, content.to_bytes())?;
    // The registry's tag key arrives with the first sync; records made before carry no tag (the
    // registry computes it from the sealed number).
    let document_tag = outbox
        .fleet_item(FleetItem::DocumentTagKey)?
        .and_then(|hex| DocumentTagKey::from_hex(&String::from_utf8_lossy(&hex)))
        .and_then(|key| key.tag(card.identity.kind, &card.identity.document_number));
    let override_by = checked
        .decision
        .as_ref()
        .filter(|d| !d.is_match)
        .and(params.supervisor_id.clone());
    let face = face_evidence(
        &checked.analysis,
        checked.decision.as_ref(),
        params.threshold_cosine,
        params.models_sha256,
        params.model_pack,
        params.challenge,
        override_by,
    );
    let draft = RecordDraft {
        id,
        terminal_id: params.terminal_id.to_owned(),
        created_at_unix_ms: now_unix_ms,
        tier: params.tier,
        officer_id: params.officer_id.clone(),
        supervisor_id: params.supervisor_id.clone(),
        document_kind: card.identity.kind,
        document_tag,
        card_verification: card.verification.clone(),
        card_evidence: CardEvidenceSummary {
            // A digest unique to one document: it stays in the sealed payload (its bytes).
            ef_sod_sha256: None,
            data_groups: card.evidence.data_groups.iter().map(|g| g.number).collect(),
            sam_text_block: card.evidence.sam_text_block.is_some(),
        },
        face,
    };
    let committed = outbox.commit_enrollment(
        draft,
        sealed,
        params.terminal_key,
        params.actor,
        now_unix_ms,
        params.limits,
    )?;
    // The record is committed: a signer failing now (a token pulled out this instant) loses
    // nothing; the receipt can be reprinted from the officer desk or `kiosk receipt make`.
    let receipt_text = receipt_text(
        params.terminal_key,
        ApplicantReceipt {
            terminal_id: params.terminal_id.to_owned(),
            record_id: committed.id,
            created_at_unix_ms: now_unix_ms,
            body_sha256: committed.body_sha256.clone(),
        },
    )?;
    Ok(Enrolled {
        committed,
        receipt_text,
        activation_code,
    })
}

/// The applicant's receipt as QR text, signed with the terminal key.
pub fn receipt_text(
    terminal_key: &dyn RecordSigner,
    receipt: ApplicantReceipt,
) -> Result<String, RecordCryptoError> {
    Ok(receipt.to_text(&terminal_key.try_sign(&receipt.signed_bytes())?))
}

/// The paper receipt of a committed record (its signed body and hash), with the same receipt
/// and activation codes the screen showed: both are derived from the key that signed it, found
/// among `terminal_keys` (the current one and those retired by rotation).
pub fn paper_receipt(
    terminal_keys: &[&dyn RecordSigner],
    body: &[u8],
    body_sha256: &str,
    holder_page_url: &str,
) -> Result<crate::app::printing::PaperReceipt, EnrollError> {
    use enroll_core::domain::applicant_receipt::ApplicantReceipt;
    use enroll_core::domain::record::RecordBody;
    use enroll_core::domain::reference::ShortReference;
    let body = RecordBody::from_bytes(body)?;
    // The key that signed the record (a retired one after a rotation): the codes derive from it.
    let terminal_key = terminal_keys
        .iter()
        .find(|key| key.public_key().fingerprint() == body.terminal_key_sha256)
        .or(terminal_keys.first())
        .copied()
        .ok_or_else(|| {
            enroll_core::domain::record::RecordFormatError::Malformed("no terminal key".into())
        })?;
    let code = activation_code(terminal_key, &body.id)?;
    Ok(crate::app::printing::PaperReceipt {
        reference: ShortReference::of(&body.id).grouped(),
        receipt_text: receipt_text(
            terminal_key,
            ApplicantReceipt {
                terminal_id: body.terminal_id.clone(),
                record_id: body.id,
                created_at_unix_ms: body.created_at_unix_ms,
                body_sha256: body_sha256.to_owned(),
            },
        )?,
        activation_link: code.holder_link(holder_page_url),
        activation_code: code.grouped(),
        terminal_id: body.terminal_id,
        created_at_unix_ms: body.created_at_unix_ms,
    })
}
