//! The officer list as a station manager keeps it: `kiosk officer add` takes the PIN from standard
//! input and stores only its Argon2id hash (mode 0600), `list` shows badges and roles and nothing
//! secret, weak PINs and duplicate badges are refused, a disabled badge no longer signs in. PIN
//! checks go through the library the GUI uses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::process::{Command, Output};

use enroll_core::domain::officer::{PinOutcome, Role};
use enroll_kiosk::officers::OfficerList;

use common::terminal::{Terminal, text};

fn with_stdin(terminal: &Terminal, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    command
        .arg("--config")
        .arg(terminal.dir.path().join("kiosk.toml"))
        .args(args);
    common::output_with_stdin(command, stdin)
}

#[test]
fn officers_are_added_with_hashed_pins_listed_without_secrets_and_disabled() {
    let terminal = Terminal::new();
    let file = terminal.dir.path().join("officers.toml");

    let added = with_stdin(
        &terminal,
        &["officer", "add", "--badge", "B-1042"],
        "284719\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    let supervisor = with_stdin(
        &terminal,
        &["officer", "add", "--badge", "S-7", "--role", "supervisor"],
        "903615\n",
    );
    assert!(supervisor.status.success(), "{}", text(&supervisor));

    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains("$argon2id$v=19$"), "{stored}");
    assert!(
        !stored.contains("284719") && !stored.contains("903615"),
        "PINs in clear"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let listed = terminal.run(&["officer", "list", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"badge": "B-1042", "role": "officer", "disabled": false},
            {"badge": "S-7", "role": "supervisor", "disabled": false},
        ])
    );
    assert!(!text(&listed).contains("argon2"));

    let list = OfficerList::load(&file).unwrap();
    assert_eq!(
        list.check_pin("B-1042", "284719"),
        PinOutcome::Correct(Role::Officer)
    );
    assert_eq!(
        list.check_pin("S-7", "903615"),
        PinOutcome::Correct(Role::Supervisor)
    );
    assert_eq!(list.check_pin("B-1042", "284718"), PinOutcome::Wrong);
    assert_eq!(list.check_pin("B-9", "284719"), PinOutcome::UnknownBadge);

    // Refusals: a weak PIN, a badge already there, no PIN at all.
    let weak = with_stdin(&terminal, &["officer", "add", "--badge", "B-2"], "123456\n");
    assert!(!weak.status.success());
    assert!(text(&weak).contains("too easy to guess"), "{}", text(&weak));
    let twice = with_stdin(
        &terminal,
        &["officer", "add", "--badge", "B-1042"],
        "551902\n",
    );
    assert!(!twice.status.success());
    assert!(
        text(&twice).contains("already on the list"),
        "{}",
        text(&twice)
    );
    let empty = with_stdin(&terminal, &["officer", "add", "--badge", "B-3"], "");
    assert!(!empty.status.success());
    assert!(text(&empty).contains("no PIN"), "{}", text(&empty));

    // Disabled: the right PIN no longer signs in, and it answers like an unknown badge.
    let disabled = terminal.run(&["officer", "disable", "--badge", "B-1042"]);
    assert!(disabled.status.success(), "{}", text(&disabled));
    let list = OfficerList::load(&file).unwrap();
    assert_eq!(list.check_pin("B-1042", "284719"), PinOutcome::UnknownBadge);
    let listed = terminal.run(&["officer", "list"]);
    assert!(text(&listed).contains("disabled"), "{}", text(&listed));
}

#[test]
fn a_damaged_officer_list_is_reported_with_its_path() {
    let terminal = Terminal::new();
    let file = terminal.dir.path().join("officers.toml");
    std::fs::write(
        &file,
        "[[officer]]\nbadge = \"B-1\"\nrole = \"officer\"\npin_argon2id = \"not a hash\"\n",
    )
    .unwrap();
    let listed = terminal.run(&["officer", "list"]);
    assert!(!listed.status.success());
    assert!(text(&listed).contains("officers.toml"), "{}", text(&listed));
    assert!(text(&listed).contains("malformed"), "{}", text(&listed));
}

/// The demo writes its three badges into its own officer list once, and each signs in with the
/// PIN the demo shows.
#[test]
fn the_demo_writes_its_badges_once_and_each_signs_in_with_its_shown_pin() {
    use enroll_kiosk::app::demo::{DEMO_BADGES, ensure_demo_badges};
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        enroll_kiosk::config::Config::load(&root.join("kiosk-config/demo-officer.toml")).unwrap();
    config.terminal.officers_file = dir.path().join("demo/officers.toml");
    assert_eq!(ensure_demo_badges(&config).unwrap().len(), 3);
    let written = std::fs::read_to_string(&config.terminal.officers_file).unwrap();
    assert_eq!(ensure_demo_badges(&config).unwrap().len(), 3);
    assert_eq!(
        std::fs::read_to_string(&config.terminal.officers_file).unwrap(),
        written,
        "a second start adds nothing"
    );
    let list = OfficerList::load(&config.terminal.officers_file).unwrap();
    assert_eq!(list.entries().len(), 3);
    for demo in DEMO_BADGES {
        assert_eq!(
            list.check_pin(demo.badge, demo.pin),
            PinOutcome::Correct(demo.role)
        );
        assert!(!written.contains(demo.pin), "PINs are stored hashed");
    }
    // A configuration without [demo] (a real terminal) gets none.
    let mut real =
        enroll_kiosk::config::Config::load(&root.join("kiosk-config/kiosk.toml")).unwrap();
    real.terminal.officers_file = dir.path().join("real/officers.toml");
    assert!(ensure_demo_badges(&real).unwrap().is_empty());
    assert!(!real.terminal.officers_file.exists());
}
