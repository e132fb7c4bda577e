//! A terminal's heartbeat: the few facts the centre watches a fleet by (program version, model
//! pack, queue depth, the oldest unsent record's age, the state of each health check), carried
//! inside the signed fleet request of every sync. It owns the format and its checks; it measures
//! nothing (the kiosk does) and stores nothing (the registry does).
//!
//! A heartbeat holds no personal data and no free text: names and versions are short tokens,
//! the rest are numbers and the three states, so nothing a terminal says here can describe
//! anybody.

use std::collections::BTreeMap;

/// The longest heartbeat text the registry takes.
pub const MAX_HEARTBEAT_BYTES: usize = 4_096;
/// The most checks one heartbeat may report.
pub const MAX_CHECKS: usize = 32;
/// The longest token (version, pack name, check name).
pub const MAX_TOKEN_CHARS: usize = 40;

/// A check's state, from good to bad.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Ok,
    Warn,
    Fail,
}

impl CheckState {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Ok => "ok",
            CheckState::Warn => "warn",
            CheckState::Fail => "fail",
        }
    }

    /// The number `/metrics` gives the state: 0, 1 or 2.
    pub fn level(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warn => 1,
            CheckState::Fail => 2,
        }
    }
}

/// What a terminal says about itself with a sync.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The kiosk program's version.
    pub version: String,
    /// The face model pack in use.
    pub model_pack: String,
    /// Records not yet acknowledged by the registry.
    pub queue_depth: u64,
    /// How long the oldest of them has waited (none when the queue is empty).
    pub oldest_unsent_age_ms: Option<u64>,
    /// Each health check's state, by the check's name (`storage`, `queue`, …).
    pub checks: BTreeMap<String, CheckState>,
}

/// Why a heartbeat is not taken; the text names the field, never its content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatRefusal {
    #[error("the heartbeat is longer than {MAX_HEARTBEAT_BYTES} bytes")]
    TooLong,
    #[error("the heartbeat is not understood: {0}")]
    Malformed(String),
    #[error("the heartbeat's {0} is not a short token (letters, digits, '.', '-', '_', '+')")]
    NotAToken(&'static str),
    #[error("the heartbeat reports more than {MAX_CHECKS} checks")]
    TooManyChecks,
}

impl Heartbeat {
    /// The exact text that travels (and whose hash the fleet request signs).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a heartbeat's text and checks its fields are what they claim to be.
    pub fn parse(text: &str) -> Result<Heartbeat, HeartbeatRefusal> {
        if text.len() > MAX_HEARTBEAT_BYTES {
            return Err(HeartbeatRefusal::TooLong);
        }
        let heartbeat: Heartbeat = serde_json::from_str(text).map_err(|error| {
            // serde's message names the field and the expected type, not the value.
            HeartbeatRefusal::Malformed(format!("line {} column {}", error.line(), error.column()))
        })?;
        if !is_token(&heartbeat.version) {
            return Err(HeartbeatRefusal::NotAToken("version"));
        }
        if !is_token(&heartbeat.model_pack) {
            return Err(HeartbeatRefusal::NotAToken("model pack"));
        }
        if heartbeat.checks.len() > MAX_CHECKS {
            return Err(HeartbeatRefusal::TooManyChecks);
        }
        if !heartbeat.checks.keys().all(|name| is_token(name)) {
            return Err(HeartbeatRefusal::NotAToken("check name"));
        }
        Ok(heartbeat)
    }

    /// The worst state of its checks (ok when none are reported).
    pub fn worst(&self) -> CheckState {
        self.checks
            .values()
            .copied()
            .max()
            .unwrap_or(CheckState::Ok)
    }
}

/// A version, pack or check name: 1 to [`MAX_TOKEN_CHARS`] ASCII letters, digits, `.-_+`.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TOKEN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> Heartbeat {
        Heartbeat {
            version: "0.1.0".into(),
            model_pack: "open".into(),
            queue_depth: 3,
            oldest_unsent_age_ms: Some(120_000),
            checks: BTreeMap::from([
                ("storage".into(), CheckState::Fail),
                ("queue".into(), CheckState::Warn),
            ]),
        }
    }

    #[test]
    fn a_heartbeat_reads_back_as_written_and_its_worst_check_is_the_fail() {
        let text = heartbeat().to_json();
        let back = Heartbeat::parse(&text).unwrap();
        assert_eq!(back, heartbeat());
        assert_eq!(back.worst(), CheckState::Fail);
    }

    #[test]
    fn free_text_in_a_token_field_is_refused_without_repeating_it() {
        let mut named = heartbeat();
        named
            .checks
            .insert("Zhang San 11010519491231002X".into(), CheckState::Ok);
        let refusal = Heartbeat::parse(&named.to_json()).unwrap_err();
        assert_eq!(refusal, HeartbeatRefusal::NotAToken("check name"));
        assert!(!refusal.to_string().contains("Zhang"));

        let mut versioned = heartbeat();
        versioned.version = "0.1.0 (built by Zhang San)".into();
        assert_eq!(
            Heartbeat::parse(&versioned.to_json()).unwrap_err(),
            HeartbeatRefusal::NotAToken("version")
        );
    }

    #[test]
    fn unknown_fields_oversized_texts_and_too_many_checks_are_refused() {
        let extra = heartbeat()
            .to_json()
            .replacen('{', "{\"name\":\"Zhang San\",", 1);
        let refusal = Heartbeat::parse(&extra).unwrap_err();
        assert!(matches!(refusal, HeartbeatRefusal::Malformed(_)));
        assert!(!refusal.to_string().contains("Zhang"));

        assert_eq!(
            Heartbeat::parse(&" ".repeat(MAX_HEARTBEAT_BYTES + 1)).unwrap_err(),
            HeartbeatRefusal::TooLong
        );

        let mut many = heartbeat();
        many.checks = (0..=MAX_CHECKS)
            .map(|n| (format!("check-{n}"), CheckState::Ok))
            .collect();
        assert_eq!(
            Heartbeat::parse(&many.to_json()).unwrap_err(),
            HeartbeatRefusal::TooManyChecks
        );
    }
}
