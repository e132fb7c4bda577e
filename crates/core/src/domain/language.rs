//! The languages the terminal speaks to applicants, by code; it does not hold any translated text
//! (that lives in `assets/i18n/*.ftl`, read by `ui::i18n`).

use std::fmt;
use std::str::FromStr;

/// A language the applicant can choose on the attract screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Simplified Chinese (`zh`).
    Zh,
    /// English (`en`).
    En,
    /// French (`fr`).
    Fr,
    /// German (`de`).
    De,
    /// Bahasa Indonesia (`id`).
    Id,
}

impl Language {
    /// Every supported language, in the order the attract screen offers them.
    pub const ALL: [Language; 5] = [
        Language::Zh,
        Language::En,
        Language::Fr,
        Language::De,
        Language::Id,
    ];

    /// The BCP 47 code, which is also the name of the Fluent file (`assets/i18n/<code>.ftl`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
            Language::Fr => "fr",
            Language::De => "de",
            Language::Id => "id",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The code is not one of the supported languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language code {code:?}; supported: zh, en, fr, de, id")]
pub struct UnknownLanguage {
    /// The code that was given.
    pub code: String,
}

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Language::ALL
            .into_iter()
            .find(|language| language.code() == code)
            .ok_or_else(|| UnknownLanguage {
                code: code.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_round_trips_through_its_code() {
        for language in Language::ALL {
            assert_eq!(language.code().parse::<Language>(), Ok(language));
        }
    }

    #[test]
    fn an_unknown_code_names_the_supported_ones() {
        let error = "xx".parse::<Language>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown language code \"xx\"; supported: zh, en, fr, de, id"
        );
    }
}
