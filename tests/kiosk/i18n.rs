//! Translations: every language file defines every message the code can show, and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use enroll_core::domain::language::Language;
use enroll_kiosk::ui::i18n::{self, Catalog, Msg};

#[test]
fn every_language_defines_every_message_the_code_uses() {
    let catalog = Catalog::load_all().expect("all .ftl files parse");
    let mut missing = Vec::new();
    for language in Language::ALL {
        for &msg in Msg::ALL {
            match catalog.lookup(language, msg) {
                Some(text) if !text.trim().is_empty() => {}
                _ => missing.push(format!("assets/i18n/{}.ftl: {}", language.code(), msg.id())),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing translations:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_language_file_defines_messages_the_code_does_not_use() {
    for language in Language::ALL {
        for line in i18n::source(language).lines() {
            let Some((id, _)) = line.split_once(" = ") else {
                continue;
            };
            if line.starts_with([' ', '#']) {
                continue;
            }
            assert!(
                Msg::ALL.iter().any(|msg| msg.id() == id.trim()),
                "assets/i18n/{}.ftl defines {:?}, which no code uses",
                language.code(),
                id
            );
        }
    }
}

#[test]
fn each_language_names_itself_in_its_own_language() {
    let catalog = Catalog::load_all().unwrap();
    let names: Vec<String> = Language::ALL
        .iter()
        .map(|&language| catalog.text(language, Msg::LanguageName))
        .collect();
    assert_eq!(
        names,
        ["中文", "English", "Français", "Deutsch", "Bahasa Indonesia"]
    );
}

#[test]
fn greetings_are_translated_not_copied() {
    let catalog = Catalog::load_all().unwrap();
    let english = catalog.text(Language::En, Msg::AttractGreeting);
    for language in [Language::Zh, Language::Fr, Language::De, Language::Id] {
        assert_ne!(
            catalog.text(language, Msg::AttractGreeting),
            english,
            "{language}"
        );
    }
}
