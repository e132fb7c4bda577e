//! Turning accepted records into virtual IDs: which records qualify (card verified, face matched
//! or a supervisor's override, terminal registered, chain linked), the daily token batches
//! (`enroll_credential`), one issuance pass over the waiting records, and the signed status
//! lists the server publishes. It runs where the sealing private key is (the face thumbnail is
//! sealed); it reads no clock and no files: time and keys come from the caller.

use std::collections::HashSet;

use enroll_core::domain::activation::ActivationCode;
use enroll_core::domain::card_read::Verification;
use enroll_core::domain::record::DocumentData;
use enroll_core::domain::record::{RecordBody, SealedContent};
use enroll_core::domain::tier::Tier as TerminalTier;
use enroll_core::domain::time::UnixMs;
use enroll_credential::status::{self, StatusList, StatusListToken};
use enroll_credential::{IdentityClaims, Profile, Sex, StatusRef, Tier, TokenClaims, day, token};
use enroll_crypto::records::SealingPrivateKey;
use hmac::{KeyInit as _, Mac as _};
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::holders::{ActivationKey, NewActivation};
use crate::identities::{IdentityRow, IssueOutcome, NewIdentity, NewToken};
use crate::storage::{Storage, StorageError};

/// Thumbnail sizes and JPEG qualities, best first: the issuer takes the first whose check-in
/// token fits [`enroll_credential::MAX_SCREEN_CHARS`] (research/virtual-id.md: about 48 px; below
/// ISO 19794-5's inter-eye distance, so for people to compare, not for matching).
pub const THUMBNAIL_LADDER: [(u32, u8); 5] = [(48, 50), (48, 35), (40, 35), (40, 25), (32, 25)];

/// The keys issuance needs.
pub struct IssuerKeys {
    /// Signs strict tokens (officer terminals).
    pub strict: ed25519_dalek::SigningKey,
    /// Signs light tokens (self-service kiosks).
    pub light: ed25519_dalek::SigningKey,
    /// Keys the daily handles and document keys.
    pub handle_secret: [u8; 32],
    /// Opens sealed payloads (the live photo).
    pub sealing: SealingPrivateKey,
}

/// How tokens are made.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// The registry's public base URL: `iss` of every token and the base of status-list URIs.
    pub public_url: String,
    /// Days are local days of this zone.
    pub time_zone: TimeZone,
    /// Days in a batch (1–30).
    pub batch_days: u32,
}

/// Why a record gets no identity. The code is stored and shown; it carries no personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the card was not verified (no SAM authentication and no passed passive authentication)"
    )]
    CardNotVerified,
    #[error("the live face did not match the card photo and no supervisor overrode it")]
    FaceNotMatched,
    #[error("the terminal is no longer registered")]
    TerminalUnknown,
    #[error("the record cannot be read")]
    Unreadable,
    #[error("the live photo cannot be made into a thumbnail")]
    NoPhoto,
}

impl Refusal {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::CardNotVerified => "card-not-verified",
            Refusal::FaceNotMatched => "face-not-matched",
            Refusal::TerminalUnknown => "terminal-unknown",
            Refusal::Unreadable => "unreadable",
            Refusal::NoPhoto => "no-photo",
        }
    }
}

/// The tier a record earns, or why it earns none. Chain gaps are not decided here: flagged
/// records are offered to issuance only once a person accepted them (`registry review`).
pub fn eligibility(body: &RecordBody) -> Result<Tier, Refusal> {
    let card_verified = match &body.card_verification {
        Verification::Sam { .. } => true,
        Verification::PassiveAuthentication { passed, .. } => *passed,
        Verification::NotVerified { .. } => false,
    };
    if !card_verified {
        return Err(Refusal::CardNotVerified);
    }
    let overridden = body.face.override_by.is_some() && body.supervisor_id.is_some();
    let matched = body.face.compared && body.face.is_match;
    if !(matched || overridden) {
        return Err(Refusal::FaceNotMatched);
    }
    Ok(match body.tier {
        TerminalTier::Officer => Tier::Strict,
        TerminalTier::SelfService => Tier::Light,
    })
}

/// A keyed hash of the document's kind and number: one active identity per document, without
/// keeping the number beside the identity.
pub fn document_key(secret: &[u8; 32], document: &DocumentData) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"enroll-kiosk document key v1\0");
    mac.update(
        serde_json::to_string(&document.kind)
            .unwrap_or_default()
            .as_bytes(),
    );
    mac.update(b"\0");
    mac.update(document.document_number.as_bytes());
    enroll_credential::keys::hex(&mac.finalize().into_bytes())
}

/// The face thumbnail: the portrait's centre square, `side_px` square, greyscale JPEG at
/// `quality`, without the JFIF header (decoders do not need it; it costs 18 bytes).
pub fn thumbnail(portrait_jpeg: &[u8], side_px: u32, quality: u8) -> Option<Vec<u8>> {
    let image = image::load_from_memory(portrait_jpeg).ok()?;
    let side = image.width().min(image.height());
    if side == 0 {
        return None;
    }
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let small = square
        .resize_exact(side_px, side_px, image::imageops::FilterType::Triangle)
        .to_luma8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(&small)
        .ok()?;
    // SOI, then APP0 "JFIF" (FF E0, a two-byte length counting itself): drop the APP0 segment.
    if let [0xff, 0xd8, 0xff, 0xe0, high, low, ..] = jpeg.as_slice() {
        let app0_end = 4 + usize::from(u16::from_be_bytes([*high, *low]));
        if app0_end <= jpeg.len() {
            jpeg.drain(2..app0_end);
        }
    }
    Some(jpeg)
}

/// What a token says about a person, for a profile.
fn identity_claims(
    document: &DocumentData,
    tier: Tier,
    profile: Profile,
    handle: String,
    face_jpeg: &[u8],
    on: Date,
) -> IdentityClaims {
    let birth = Date::new(
        i16::try_from(document.birth.year()).unwrap_or(i16::MAX),
        i8::try_from(document.birth.month()).unwrap_or(1),
        i8::try_from(document.birth.day()).unwrap_or(1),
    )
    .ok();
    let check_in = profile == Profile::CheckIn;
    use enroll_core::domain::document::Sex as DocumentSex;
    IdentityClaims {
        handle,
        tier,
        profile,
        age_over_18: birth.is_some_and(|birth| day::age_at_least_18(birth, on)),
        face_jpeg: face_jpeg.to_vec(),
        full_name: check_in.then(|| {
            document
                .name_latin
                .clone()
                .filter(|_| document.name.is_empty())
                .unwrap_or_else(|| document.name.clone())
        }),
        birth_yyyymmdd: check_in.then(|| document.birth.to_yyyymmdd()),
        sex: check_in.then_some(match document.sex {
            DocumentSex::Male => Sex::Male,
            DocumentSex::Female => Sex::Female,
            DocumentSex::Unknown | DocumentSex::Unspecified => Sex::Other,
        }),
        // Where the person belongs: the nationality on passports, the issuing authority on
        // resident cards (never any part of the document number).
        region: if check_in {
            document
                .nationality
                .clone()
                .or_else(|| document.issuing_authority.clone())
        } else {
            None
        },
    }
}

/// Picks status indexes: random free bits of the list being filled.
pub struct StatusAllocator {
    list: u32,
    taken: HashSet<u32>,
}

impl StatusAllocator {
    /// The allocator for the list being filled now.
    pub fn load(storage: &dyn Storage) -> Result<StatusAllocator, StorageError> {
        let list = u32::try_from(storage.token_count()? / u64::from(status::FILL_BITS))
            .unwrap_or(u32::MAX);
        let taken = storage
            .status_bits(list)?
            .into_iter()
            .map(|(index, _)| index)
            .collect();
        Ok(StatusAllocator { list, taken })
    }

    fn next(&mut self) -> Result<(u32, u32), IssueError> {
        if self.taken.len() >= status::FILL_BITS as usize {
            self.list += 1;
            self.taken.clear();
        }
        loop {
            let candidate = u32::from_le_bytes(random()?) % status::LIST_BITS;
            if self.taken.insert(candidate) {
                return Ok((self.list, candidate));
            }
        }
    }
}

fn random<const N: usize>() -> Result<[u8; N], IssueError> {
    enroll_crypto::keys::random_bytes::<N>().map_err(|_| IssueError::Random)
}

/// Issuance that could not run (the record stays waiting).
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the operating system's random source failed")]
    Random,
    #[error("a token cannot be signed: {0}")]
    Sign(String),
    #[error("the date {0} cannot be placed in the configured time zone")]
    Day(String),
    #[error(
        "a sealed payload cannot be opened with registry-sealing.key: is --keys the directory of \
         the key the terminals seal to? Nothing was decided; the records wait"
    )]
    Sealed,
}

/// One token of a batch before it is signed.
struct Slot {
    date: Date,
    handle: String,
    not_before: i64,
    expires: i64,
    profile: Profile,
    cti: [u8; 16],
    list: u32,
    index: u32,
}

/// Signs the tokens of `days` days from `first_day`, both profiles each day, with the largest
/// face thumbnail of [`THUMBNAIL_LADDER`] that keeps every check-in token within a screen QR
/// (zlib's output for the same fields varies by a few bytes with the random `cti`, so the whole
/// batch is checked, not a sample).
#[allow(clippy::too_many_arguments)] // each is a separate input of the batch
pub fn build_batch(
    identity_id: &str,
    document: &DocumentData,
    tier: Tier,
    portrait_jpeg: &[u8],
    first_day: Date,
    keys: &IssuerKeys,
    settings: &IssuerSettings,
    allocator: &mut StatusAllocator,
    now: UnixMs,
) -> Result<Vec<NewToken>, IssueError> {
    let key = match tier {
        Tier::Strict => &keys.strict,
        Tier::Light => &keys.light,
    };
    let days = settings
        .batch_days
        .clamp(1, enroll_credential::MAX_BATCH_DAYS);
    let mut slots = Vec::with_capacity(days as usize * Profile::ALL.len());
    let mut date = first_day;
    for _ in 0..days {
        let (not_before, expires) =
            day::validity(date, &settings.time_zone).map_err(|error| IssueError::Day(error.0))?;
        let handle = day::daily_handle(&keys.handle_secret, identity_id, date);
        for profile in Profile::ALL {
            let (list, index) = allocator.next()?;
            slots.push(Slot {
                date,
                handle: handle.clone(),
                not_before,
                expires,
                profile,
                cti: random::<16>()?,
                list,
                index,
            });
        }
        date = date
            .tomorrow()
            .map_err(|_| IssueError::Day(date.to_string()))?;
    }
    let mut batch = None;
    for (side_px, quality) in THUMBNAIL_LADDER {
        let Some(face) = thumbnail(portrait_jpeg, side_px, quality) else {
            continue;
        };
        let mut tokens = Vec::with_capacity(slots.len());
        for slot in &slots {
            let claims = TokenClaims {
                issuer: settings.public_url.clone(),
                issued_at_unix_s: now.as_i64().div_euclid(1000),
                not_before_unix_s: slot.not_before,
                expires_unix_s: slot.expires,
                cti: slot.cti,
                status: Some(StatusRef {
                    uri: status::list_uri(&settings.public_url, slot.list),
                    index: slot.index,
                }),
                identity: identity_claims(
                    document,
                    tier,
                    slot.profile,
                    slot.handle.clone(),
                    &face,
                    slot.date,
                ),
            };
            let text =
                token::issue(&claims, key).map_err(|error| IssueError::Sign(error.to_string()))?;
            tokens.push(NewToken {
                cti: slot.cti,
                day: slot.date.to_string(),
                profile: slot.profile.as_str().to_owned(),
                handle: slot.handle.clone(),
                status_list: slot.list,
                status_index: slot.index,
                text,
            });
        }
        let fits = tokens
            .iter()
            .all(|t| t.text.len() <= enroll_credential::MAX_SCREEN_CHARS);
        batch = Some(tokens);
        if fits {
            return batch.ok_or(IssueError::Random);
        }
    }
    tracing::warn!("even the smallest thumbnail leaves a check-in token over the screen budget");
    batch.ok_or_else(|| IssueError::Sign(Refusal::NoPhoto.to_string()))
}

/// The local date of an instant in the registry's zone.
pub fn today(settings: &IssuerSettings, now: UnixMs) -> Result<Date, IssueError> {
    day::local_date(now.as_i64().div_euclid(1000), &settings.time_zone)
        .ok_or_else(|| IssueError::Day(now.as_i64().to_string()))
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Records left undecided because their sealed payload would not open (wrong key directory?).
    pub unopened: u32,
    pub issued: u32,
    pub refused: u32,
    pub superseded: u32,
    pub tokens: u32,
    /// Activated identities whose batch was extended before it ran out.
    pub renewed: u32,
}

/// What issuing reads from a record's sealed payload.
struct Opened {
    /// The live portrait, when it is a readable image.
    portrait: Option<Vec<u8>>,
    /// The receipt's activation code, when the record has a well-formed one.
    activation_code: Option<ActivationCode>,
    /// The document's identity fields: in the body up to version 2, sealed from version 3.
    document: Option<DocumentData>,
}

/// Opens a record's sealed payload: `Err(Sealed)` when it does not open (most likely the wrong
/// key directory, not a bad record: the record must wait).
fn open_sealed(
    keys: &IssuerKeys,
    body: &RecordBody,
    sealed_payload: &[u8],
) -> Result<Opened, IssueError> {
    let plain = keys
        .sealing
        .open(&body.sealed, &body.id, sealed_payload)
        .map_err(|_| IssueError::Sealed)?;
    let content = SealedContent::from_bytes(&plain).ok();
    Ok(Opened {
        document: body
            .document
            .clone()
            .or_else(|| content.as_ref().and_then(|c| c.document.clone())),
        activation_code: content
            .as_ref()
            .and_then(|c| c.activation_code.as_deref())
            .and_then(|code| ActivationCode::parse(code).ok()),
        portrait: content
            .map(|content| content.portrait_jpeg)
            .filter(|portrait| image::load_from_memory(portrait).is_ok()),
    })
}

/// One decision about one record.
fn decide(
    storage: &dyn Storage,
    record_id: &str,
    keys: &IssuerKeys,
    settings: &IssuerSettings,
    allocator: &mut StatusAllocator,
    now: UnixMs,
    report: &mut PassReport,
) -> Result<(), IssueError> {
    let Some(record) = storage.record(record_id)? else {
        return Ok(());
    };
    let refuse = |refusal: Refusal, report: &mut PassReport| {
        tracing::info!(
            record = record_id,
            reason = refusal.code(),
            "no identity for the record"
        );
        report.refused += 1;
        storage.refuse_issuance(record_id, refusal.code(), now)
    };
    let Ok(body) = RecordBody::from_bytes(&record.body) else {
        return Ok(refuse(Refusal::Unreadable, report)?);
    };
    if storage.terminal_key(&record.terminal_id)?.is_none() {
        return Ok(refuse(Refusal::TerminalUnknown, report)?);
    }
    let tier = match eligibility(&body) {
        Ok(tier) => tier,
        Err(refusal) => return Ok(refuse(refusal, report)?),
    };
    let opened = open_sealed(keys, &body, &record.sealed_payload)?;
    let Some(document) = opened.document else {
        return Ok(refuse(Refusal::Unreadable, report)?);
    };
    let Some(portrait) = opened.portrait else {
        return Ok(refuse(Refusal::NoPhoto, report)?);
    };
    let identity_id = enroll_credential::keys::hex(&random::<16>()?);
    let tokens = build_batch(
        &identity_id,
        &document,
        tier,
        &portrait,
        today(settings, now)?,
        keys,
        settings,
        allocator,
        now,
    )?;
    let identity = NewIdentity {
        id: identity_id,
        record_id: record_id.to_owned(),
        document_key: document_key(&keys.handle_secret, &document),
        tier: tier.as_str().to_owned(),
        record_created_at_unix_ms: body.created_at_unix_ms,
        now_unix_ms: now,
        activation: opened.activation_code.map(|code| {
            NewActivation::new(
                &ActivationKey::derive(&keys.handle_secret),
                &code,
                body.created_at_unix_ms,
            )
        }),
    };
    match storage.issue_identity(&identity, &tokens)? {
        IssueOutcome::Issued { superseded } => {
            tracing::info!(
                record = record_id,
                tier = tier.as_str(),
                tokens = tokens.len(),
                superseded = superseded.len(),
                "identity issued"
            );
            report.issued += 1;
            report.superseded += u32::try_from(superseded.len()).unwrap_or(u32::MAX);
            report.tokens += u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        }
        IssueOutcome::SupersededOnArrival => {
            tracing::info!(
                record = record_id,
                "a newer enrollment of the document is active"
            );
            report.superseded += 1;
        }
        IssueOutcome::AlreadyDecided => {}
    }
    Ok(())
}

/// A batch is renewed when it ends within this many days (so a phone that syncs every other day
/// never runs out).
pub const RENEW_WITHIN_DAYS: i64 = 2;

/// Extends the batches of activated identities that end within [`RENEW_WITHIN_DAYS`]: a new
/// batch from the day after their last (today at the earliest). Tokens already out stay valid.
fn renew_batches(
    storage: &dyn Storage,
    keys: &IssuerKeys,
    settings: &IssuerSettings,
    now: UnixMs,
    limit: usize,
    report: &mut PassReport,
) -> Result<(), IssueError> {
    let today = today(settings, now)?;
    let threshold = today
        .checked_add(jiff::Span::new().days(RENEW_WITHIN_DAYS))
        .map_err(|_| IssueError::Day(today.to_string()))?;
    let due = storage.batches_ending_before(&threshold.to_string(), limit)?;
    if due.is_empty() {
        return Ok(());
    }
    let mut allocator = StatusAllocator::load(storage)?;
    for (identity, last_day) in due {
        let after_last = last_day
            .parse::<Date>()
            .ok()
            .and_then(|day| day.tomorrow().ok())
            .unwrap_or(today);
        let first_day = after_last.max(today);
        let opened = match identity_sources(storage, &identity, keys) {
            Ok(found) => found,
            Err(IssueError::Sealed) => {
                report.unopened += 1;
                continue;
            }
            Err(other) => return Err(other),
        };
        let (Some(portrait), Some(document)) = (opened.portrait, opened.document) else {
            continue;
        };
        let tokens = build_batch(
            &identity.id,
            &document,
            tier_of(&identity),
            &portrait,
            first_day,
            keys,
            settings,
            &mut allocator,
            now,
        )?;
        if storage.extend_tokens(&identity.id, &first_day.to_string(), &tokens)? {
            tracing::info!(tokens = tokens.len(), "batch renewed");
            report.renewed += 1;
            report.tokens += u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        }
    }
    Ok(())
}

/// What an identity's record holds (the body's and the sealed payload's fields).
fn identity_sources(
    storage: &dyn Storage,
    identity: &IdentityRow,
    keys: &IssuerKeys,
) -> Result<Opened, IssueError> {
    let record = storage
        .record(&identity.record_id)?
        .ok_or_else(|| StorageError::Database("the identity's record is missing".into()))?;
    let body = RecordBody::from_bytes(&record.body)
        .map_err(|_| StorageError::Database("the identity's record cannot be read".into()))?;
    open_sealed(keys, &body, &record.sealed_payload)
}

fn tier_of(identity: &IdentityRow) -> Tier {
    if identity.tier == Tier::Strict.as_str() {
        Tier::Strict
    } else {
        Tier::Light
    }
}

/// Decides every waiting record (up to `limit`), then renews the batches about to run out. A
/// crash between records loses nothing: a record is decided in one transaction, and undecided
/// records are offered again. A record whose sealed payload does not open is left undecided (and
/// counted), never refused.
pub fn run_pass(
    storage: &dyn Storage,
    keys: &IssuerKeys,
    settings: &IssuerSettings,
    now: UnixMs,
    limit: usize,
) -> Result<PassReport, IssueError> {
    let mut report = PassReport::default();
    let pending = storage.pending_issuance(limit)?;
    if pending.is_empty() {
        renew_batches(storage, keys, settings, now, limit, &mut report)?;
        return Ok(report);
    }
    let mut allocator = StatusAllocator::load(storage)?;
    for record_id in pending {
        match decide(
            storage,
            &record_id,
            keys,
            settings,
            &mut allocator,
            now,
            &mut report,
        ) {
            // One record that will not open must not hold up the others; it stays undecided.
            Err(IssueError::Sealed) => {
                tracing::error!(record = %record_id, "{}", IssueError::Sealed);
                report.unopened += 1;
            }
            other => other?,
        }
    }
    renew_batches(storage, keys, settings, now, limit, &mut report)?;
    Ok(report)
}

/// Revokes an identity's outstanding tokens and issues a new batch from today.
pub fn reissue(
    storage: &dyn Storage,
    identity: &IdentityRow,
    keys: &IssuerKeys,
    settings: &IssuerSettings,
    now: UnixMs,
) -> Result<(u64, Vec<NewToken>), IssueError> {
    let opened = identity_sources(storage, identity, keys)?;
    let portrait = opened
        .portrait
        .ok_or_else(|| IssueError::Sign(Refusal::NoPhoto.to_string()))?;
    let document = opened
        .document
        .ok_or_else(|| IssueError::Sign(Refusal::Unreadable.to_string()))?;
    let tier = tier_of(identity);
    let mut allocator = StatusAllocator::load(storage)?;
    let tokens = build_batch(
        &identity.id,
        &document,
        tier,
        &portrait,
        today(settings, now)?,
        keys,
        settings,
        &mut allocator,
        now,
    )?;
    let revoked = storage.reissue_tokens(&identity.id, &tokens)?;
    Ok((revoked, tokens))
}

/// The signed status list `list` as of now (COSE_Sign1 bytes).
pub fn signed_status_list(
    storage: &dyn Storage,
    list: u32,
    key: &ed25519_dalek::SigningKey,
    public_url: &str,
    now: UnixMs,
) -> Result<Vec<u8>, IssueError> {
    let mut bits = StatusList::new();
    for (index, revoked) in storage.status_bits(list)? {
        if revoked {
            bits.revoke(index);
        }
    }
    let issued_at = now.as_i64().div_euclid(1000);
    StatusListToken {
        uri: status::list_uri(public_url, list),
        issued_at_unix_s: issued_at,
        expires_unix_s: issued_at + status::VALID_S,
        ttl_s: status::REPUBLISH_S,
        list: bits,
    }
    .sign(key)
    .map_err(|error| IssueError::Sign(error.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

    use super::*;
    use enroll_core::domain::card_read::CardRead;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn keys() -> IssuerKeys {
        IssuerKeys {
            strict: ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            light: ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
            handle_secret: [3; 32],
            sealing: SealingPrivateKey::from_seed([4; 32]).0,
        }
    }

    #[test]
    fn every_check_in_token_of_a_batch_fits_a_screen_qr() {
        let card: CardRead = serde_json::from_slice(&fixture("card-read-resident.json")).unwrap();
        let document = DocumentData::from(&card.identity);
        let settings = IssuerSettings {
            public_url: "https://registry.example.gov.cn:8443".into(),
            time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
            batch_days: 30,
        };
        let mut allocator = StatusAllocator {
            list: 0,
            taken: HashSet::new(),
        };
        let tokens = build_batch(
            "identity-1",
            &document,
            Tier::Strict,
            &fixture("faces/Anders_Fogh_Rasmussen_0001.jpg"),
            Date::constant(2026, 12, 7),
            &keys(),
            &settings,
            &mut allocator,
            UnixMs(1_796_600_000_000),
        )
        .unwrap();
        assert_eq!(tokens.len(), 60);
        for token in &tokens {
            assert!(
                token.text.len() <= 1_300,
                "{} {}: {}",
                token.day,
                token.profile,
                token.text.len()
            );
        }
    }

    #[test]
    fn the_thumbnail_is_a_small_greyscale_jpeg_without_the_jfif_header() {
        let jpeg = thumbnail(&fixture("faces/Anders_Fogh_Rasmussen_0001.jpg"), 48, 50).unwrap();
        assert_eq!(jpeg.get(..3), Some(&[0xff, 0xd8, 0xff][..]));
        assert_ne!(jpeg.get(3), Some(&0xe0), "no APP0 segment");
        let image = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((image.width(), image.height()), (48, 48));
        assert_eq!(image.color(), image::ColorType::L8);
        assert!(jpeg.len() < 700, "{} bytes", jpeg.len());
    }
}
