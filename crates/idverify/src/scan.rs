//! From what a scanner saw to what the clerk is shown: the QR texts in a camera frame, the text a
//! USB scanner typed or sent, a verdict in plain words ([`Shown`]), and how old the held lists
//! are ([`ListAges`]). No threads, no drawing, no clock: the caller passes the time.

use enroll_credential::verify::{Verdict, VerifierState, Warning};
use enroll_credential::{Outcome, STATUS_LIST_MAX_AGE_S, qr};

/// The longest text a scanner may send (the largest QR holds 4,296 characters).
pub const MAX_SCANNER_CHARS: usize = enroll_credential::MAX_TEXT_CHARS;

/// The QR texts found in a camera frame.
pub fn frame_texts(image: &image::RgbImage) -> Vec<String> {
    let grey = image::DynamicImage::ImageRgb8(image.clone()).into_luma8();
    qr::decode(&qr::GreyImage {
        width: grey.width() as usize,
        height: grey.height() as usize,
        pixels: grey.into_raw(),
    })
}

/// What a USB scanner (keyboard wedge or serial) sent, as one token text; `None` for nothing or
/// for more than a QR can hold.
pub fn scanner_text(raw: &str) -> Option<String> {
    let text = raw.trim();
    (!text.is_empty() && text.len() <= MAX_SCANNER_CHARS).then(|| text.to_owned())
}

/// The colour of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Light {
    /// Accept: every check held.
    Green,
    /// Refuse: a check failed.
    Red,
    /// Cannot decide: the lists are missing or too old.
    Amber,
}

/// One answer as the screen shows it. Only a valid token's claims are shown (a forged one could
/// carry any face).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    pub light: Light,
    /// "Valid", "Not valid" or "Cannot check".
    pub headline: &'static str,
    /// Why, in plain words (not for a valid token).
    pub reason: Option<String>,
    /// The tier badge's words.
    pub tier: Option<&'static str>,
    /// `basic` or `check-in`.
    pub profile: Option<&'static str>,
    /// The face thumbnail (JPEG) for the clerk to compare with the person.
    pub face_jpeg: Vec<u8>,
    /// The disclosed fields, label and value, in order.
    pub fields: Vec<(&'static str, String)>,
    pub warnings: Vec<String>,
}

/// A warning in plain words.
pub fn warning_text(warning: &Warning) -> String {
    match warning {
        Warning::StatusListStale { age_s } => format!(
            "the status list is {} hours old: connect to the network so it is renewed",
            age_s / 3600
        ),
        Warning::ClockBehindLists { behind_s } => format!(
            "this computer's clock is {behind_s} s behind the newest list held; that list's time was used"
        ),
    }
}

/// The screen's words for a verdict.
pub fn shown(verdict: &Verdict) -> Shown {
    let (light, headline, reason) = match verdict.outcome {
        Outcome::Valid => (Light::Green, "Valid", None),
        Outcome::Invalid(reason) => (Light::Red, "Not valid", Some(reason.to_string())),
        Outcome::CannotCheck(reason) => (Light::Amber, "Cannot check", Some(reason.to_string())),
    };
    let mut shown = Shown {
        light,
        headline,
        reason,
        tier: None,
        profile: None,
        face_jpeg: Vec::new(),
        fields: Vec::new(),
        warnings: verdict.warnings.iter().map(warning_text).collect(),
    };
    if let (Outcome::Valid, Some(claims)) = (verdict.outcome, &verdict.claims) {
        let identity = &claims.identity;
        shown.tier = Some(match identity.tier {
            enroll_credential::Tier::Strict => "Checked by an officer",
            enroll_credential::Tier::Light => "Self-service",
        });
        shown.profile = Some(identity.profile.as_str());
        shown.face_jpeg = identity.face_jpeg.clone();
        let mut field = |label: &'static str, value: Option<String>| {
            if let Some(value) = value {
                shown.fields.push((label, value));
            }
        };
        field("Name", identity.full_name.clone());
        field(
            "Born",
            identity.birth_yyyymmdd.as_deref().map(|d| {
                match (d.get(0..4), d.get(4..6), d.get(6..8)) {
                    (Some(y), Some(m), Some(day)) => format!("{y}-{m}-{day}"),
                    _ => d.to_owned(),
                }
            }),
        );
        field(
            "Sex",
            identity.sex.map(|sex| format!("{sex:?}").to_lowercase()),
        );
        field("Region", identity.region.clone());
        field(
            "18 or older",
            Some(if identity.age_over_18 { "yes" } else { "no" }.to_owned()),
        );
    }
    shown
}

/// How old the lists the verifier holds are, and whether that is too old.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListAges {
    /// Hours since the trust list was signed; `None` when none is held.
    pub trust_hours: Option<i64>,
    /// Hours since the oldest held status list was signed; `None` when none is held.
    pub status_hours: Option<i64>,
    /// The status lists are older than a day: strict tokens cannot be checked.
    pub status_stale: bool,
}

/// The ages of `state`'s lists at `now_unix_s`.
pub fn list_ages(state: Option<&VerifierState>, now_unix_s: i64) -> ListAges {
    let trust = state.and_then(VerifierState::trust_list);
    let oldest_status = state
        .into_iter()
        .flat_map(VerifierState::status_lists)
        .map(|list| list.issued_at_unix_s)
        .min();
    let status_age_s = oldest_status.map(|at| (now_unix_s - at).max(0));
    ListAges {
        trust_hours: trust.map(|t| (now_unix_s - t.issued_at_unix_s).max(0) / 3600),
        status_hours: status_age_s.map(|age| age / 3600),
        status_stale: status_age_s.is_none_or(|age| age > STATUS_LIST_MAX_AGE_S),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_text_is_one_trimmed_line_of_reasonable_length() {
        assert_eq!(scanner_text("  NCF...\r\n"), Some("NCF...".to_owned()));
        assert_eq!(scanner_text(" \n"), None);
        assert_eq!(scanner_text(&"A".repeat(MAX_SCANNER_CHARS + 1)), None);
    }

    #[test]
    fn no_lists_held_means_stale() {
        let ages = list_ages(None, 1_800_000_000);
        assert_eq!(ages.trust_hours, None);
        assert!(ages.status_stale);
    }
}
