//! Translated text: the Fluent catalogues of `assets/i18n/*.ftl` and the closed list of message ids
//! the code may show. It does not choose the language (the flow state does) or draw anything.
//!
//! The catalogues are compiled into the binary, so a kiosk can never start with a missing or
//! half-copied translation; `tests/kiosk/i18n.rs` checks that every file defines every [`Msg`].

use fluent_bundle::{FluentBundle, FluentResource};

use enroll_core::domain::language::Language;

macro_rules! messages {
    ($($variant:ident => $id:literal,)*) => {
        /// Every message id the code shows; the only way code names user-facing text.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Msg {
            $(
                #[doc = concat!("`", $id, "`")]
                $variant,
            )*
        }

        impl Msg {
            /// Every message, for completeness checks.
            pub const ALL: &'static [Msg] = &[$(Msg::$variant,)*];

            /// The Fluent message id.
            pub fn id(self) -> &'static str {
                match self {
                    $(Msg::$variant => $id,)*
                }
            }
        }
    };
}

messages! {
    LanguageName => "language-name",
    AppTitle => "app-title",
    AttractGreeting => "attract-greeting",
    AttractSubtitle => "attract-subtitle",
    AttractStart => "attract-start",
    AttractChooseLanguage => "attract-choose-language",
    AttractLargeText => "attract-large-text",
    AttractContrast => "attract-contrast",
    ConsentTitle => "consent-title",
    ConsentBody => "consent-body",
    ConsentAccept => "consent-accept",
    ConsentDecline => "consent-decline",
    PlaceCardTitle => "place-card-title",
    PlaceCardBody => "place-card-body",
    PlaceCardCancel => "place-card-cancel",
    TryAgain => "try-again",
    Cancel => "cancel",
    ReadingCardTitle => "reading-card-title",
    ReadingCardBody => "reading-card-body",
    CardProblemNoCard => "card-problem-no-card",
    CardProblemUnreadable => "card-problem-unreadable",
    CardProblemExpired => "card-problem-expired",
    CardProblemUnsupported => "card-problem-unsupported",
    CardProblemRemoved => "card-problem-removed",
    CardProblemReader => "card-problem-reader",
    CardProblemNotVerified => "card-problem-not-verified",
    CardProblemNoPhoto => "card-problem-no-photo",
    CardProblemAccess => "card-problem-access",
    CameraProblemTitle => "camera-problem-title",
    CameraProblemBody => "camera-problem-body",
    CardProblemHint => "card-problem-hint",
    CaptureTitle => "capture-title",
    GuidanceLook => "guidance-look",
    GuidanceOnePerson => "guidance-one-person",
    GuidanceCloser => "guidance-closer",
    GuidanceBack => "guidance-back",
    GuidanceCentre => "guidance-centre",
    GuidanceFaceCamera => "guidance-face-camera",
    GuidanceMoreLight => "guidance-more-light",
    GuidanceLessLight => "guidance-less-light",
    GuidanceHoldStill => "guidance-hold-still",
    GuidanceEyes => "guidance-eyes",
    GuidanceGood => "guidance-good",
    CaptureRetry => "capture-retry",
    ChallengeTitle => "challenge-title",
    ChallengeGetReady => "challenge-get-ready",
    ChallengeBlink => "challenge-blink",
    ChallengeTurnLeft => "challenge-turn-left",
    ChallengeTurnRight => "challenge-turn-right",
    CheckingTitle => "checking-title",
    CheckingBody => "checking-body",
    ConfirmTitle => "confirm-title",
    ConfirmBody => "confirm-body",
    ConfirmPhotoLive => "confirm-photo-live",
    ConfirmPhotoCard => "confirm-photo-card",
    ConfirmAccept => "confirm-accept",
    ConfirmRetake => "confirm-retake",
    SavingTitle => "saving-title",
    ReceiptTitle => "receipt-title",
    ReceiptReference => "receipt-reference",
    ReceiptOffline => "receipt-offline",
    ReceiptSending => "receipt-sending",
    ReceiptSent => "receipt-sent",
    ReceiptKeep => "receipt-keep",
    ReceiptActivationCode => "receipt-activation-code",
    ReceiptPhone => "receipt-phone",
    Done => "done",
    SeeOfficerTitle => "see-officer-title",
    SeeOfficerBody => "see-officer-body",
    OfficerSignInTitle => "officer-sign-in-title",
    OfficerBadge => "officer-badge",
    OfficerPin => "officer-pin",
    OfficerSignIn => "officer-sign-in",
    OfficerNoOfficers => "officer-no-officers",
    OfficerDashboardTitle => "officer-dashboard-title",
    OfficerUnsent => "officer-unsent",
    OfficerRegistryOnline => "officer-registry-online",
    OfficerRegistryOffline => "officer-registry-offline",
    OfficerLastError => "officer-last-error",
    OfficerNewEnrollment => "officer-new-enrollment",
    OfficerSignOut => "officer-sign-out",
    OfficerReadCardTitle => "officer-read-card-title",
    OfficerMrzHint => "officer-mrz-hint",
    OfficerDocumentNumber => "officer-document-number",
    OfficerBirthDate => "officer-birth-date",
    OfficerExpiryDate => "officer-expiry-date",
    OfficerUseMrz => "officer-use-mrz",
    OfficerTechnicianBadge => "officer-technician-badge",
    ServiceButton => "service-button",
    TechSignInTitle => "tech-sign-in-title",
    TechTitle => "tech-title",
    TechNotTechnician => "tech-not-technician",
    TechClosed => "tech-closed",
    TechRunChecks => "tech-run-checks",
    TechRunning => "tech-running",
    TechOverall => "tech-overall",
    TechCameraTest => "tech-camera-test",
    TechCameraStop => "tech-camera-stop",
    TechFps => "tech-fps",
    TechReadCard => "tech-read-card",
    TechCardWaiting => "tech-card-waiting",
    TechCardRead => "tech-card-read",
    TechBundleFolder => "tech-bundle-folder",
    TechWriteBundle => "tech-write-bundle",
    TechBundleWritten => "tech-bundle-written",
    TechLeave => "tech-leave",
    OfficerScannerReady => "officer-scanner-ready",
    OfficerScanned => "officer-scanned",
    OfficerScanUnreadable => "officer-scan-unreadable",
    OfficerScannerDown => "officer-scanner-down",
    OfficerCaptureTitle => "officer-capture-title",
    OfficerTakePhoto => "officer-take-photo",
    OfficerReject => "officer-reject",
    OfficerDecisionTitle => "officer-decision-title",
    OfficerScore => "officer-score",
    OfficerThreshold => "officer-threshold",
    OfficerMatch => "officer-match",
    OfficerNoMatch => "officer-no-match",
    OfficerLive => "officer-live",
    OfficerNotLive => "officer-not-live",
    OfficerApprove => "officer-approve",
    OfficerOverride => "officer-override",
    OfficerOverrideTitle => "officer-override-title",
    OfficerOverrideReason => "officer-override-reason",
    OfficerSupervisorBadge => "officer-supervisor-badge",
    OfficerSupervisorPin => "officer-supervisor-pin",
    OfficerOverrideSubmit => "officer-override-submit",
    OfficerBack => "officer-back",
    OfficerLockedTitle => "officer-locked-title",
    OfficerUnlock => "officer-unlock",
    OfficerWrongPin => "officer-wrong-pin",
    OfficerBadgeLocked => "officer-badge-locked",
    OfficerOtherBadge => "officer-other-badge",
    OfficerSupervisorNeeded => "officer-supervisor-needed",
    OfficerReasonNeeded => "officer-reason-needed",
    OfficerNotApprovable => "officer-not-approvable",
    OfficerCheckFailed => "officer-check-failed",
    OfficerCameraProblem => "officer-camera-problem",
    OfficerMrzInvalid => "officer-mrz-invalid",
    OfficerSent => "officer-sent",
    OfficerRejected => "officer-rejected",
    OfficerLastSent => "officer-last-sent",
    OfficerPausedDisk => "officer-paused-disk",
    OfficerPausedQueue => "officer-paused-queue",
    OfficerComponentOk => "officer-component-ok",
    OfficerComponentFailed => "officer-component-failed",
    ComponentFaceCount => "component-face-count",
    ComponentInterEyeDistance => "component-inter-eye-distance",
    ComponentYaw => "component-yaw",
    ComponentPitch => "component-pitch",
    ComponentRoll => "component-roll",
    ComponentFaceSize => "component-face-size",
    ComponentFacePosition => "component-face-position",
    ComponentLuminance => "component-luminance",
    ComponentDynamicRange => "component-dynamic-range",
    ComponentDarkClipping => "component-dark-clipping",
    ComponentBrightClipping => "component-bright-clipping",
    ComponentSharpness => "component-sharpness",
    ComponentEyesOpen => "component-eyes-open",
    ComponentLiveness => "component-liveness",
    OfficerRestartCamera => "officer-restart-camera",
    OfficerSaved => "officer-saved",
    OfficerSaveFailed => "officer-save-failed",
    OfficerCardProblem => "officer-card-problem",
    OfficerChallengeTitle => "officer-challenge-title",
    OfficerChallengeGetReady => "officer-challenge-get-ready",
    OfficerChallengeBlink => "officer-challenge-blink",
    OfficerChallengeTurnLeft => "officer-challenge-turn-left",
    OfficerChallengeTurnRight => "officer-challenge-turn-right",
    OfficerChallengeWaive => "officer-challenge-waive",
    OfficerWaiveCannotBlink => "officer-waive-cannot-blink",
    OfficerWaiveCannotTurnHead => "officer-waive-cannot-turn-head",
    OfficerWaiveCannotFollowPrompts => "officer-waive-cannot-follow-prompts",
    OfficerWaiveEquipment => "officer-waive-equipment",
    OfficerChallengeFailed => "officer-challenge-failed",
    OfficerChallengeTimedOut => "officer-challenge-timed-out",
    OfficerChallengeWrongSide => "officer-challenge-wrong-side",
    OfficerChallengeFaceLost => "officer-challenge-face-lost",
    OfficerChallengeRetry => "officer-challenge-retry",
    OfficerChallengePassed => "officer-challenge-passed",
    OfficerChallengeWaived => "officer-challenge-waived",
    OfficerPhotoLive => "officer-photo-live",
    OfficerPhotoCard => "officer-photo-card",
    OfficerNoPhotos => "officer-no-photos",
    OfficerQualityMet => "officer-quality-met",
    OfficerQualityNotMet => "officer-quality-not-met",
    OfficerCardName => "officer-card-name",
    OfficerCardNameLatin => "officer-card-name-latin",
    OfficerCardNumber => "officer-card-number",
    OfficerCardBirth => "officer-card-birth",
    OfficerCardValidity => "officer-card-validity",
    OfficerCardLongTerm => "officer-card-long-term",
    OfficerCardVerification => "officer-card-verification",
    OfficerVerifiedSam => "officer-verified-sam",
    OfficerVerifiedChip => "officer-verified-chip",
    OfficerChipNotVerified => "officer-chip-not-verified",
    OfficerCardNotVerified => "officer-card-not-verified",
    OfficerShowNumber => "officer-show-number",
    OfficerHideNumber => "officer-hide-number",
    OfficerTodayTitle => "officer-today-title",
    OfficerNoneToday => "officer-none-today",
    OfficerStateWaiting => "officer-state-waiting",
    OfficerStateSent => "officer-state-sent",
    OfficerStateRejected => "officer-state-rejected",
    OfficerFindReference => "officer-find-reference",
    OfficerFind => "officer-find",
    OfficerNotFound => "officer-not-found",
    OfficerReferenceInvalid => "officer-reference-invalid",
    OfficerReprint => "officer-reprint",
    OfficerPrinted => "officer-printed",
    OfficerPrinterProblem => "officer-printer-problem",
    OfficerNoPrinter => "officer-no-printer",
    OfficerColumnReference => "officer-column-reference",
    OfficerColumnTime => "officer-column-time",
    OfficerColumnState => "officer-column-state",
    AttractDemoBadges => "attract-demo-badges",
    DemoRoleOfficer => "demo-role-officer",
    DemoRoleSupervisor => "demo-role-supervisor",
    DemoRoleTechnician => "demo-role-technician",
    ReceiptPrinting => "receipt-printing",
    ReceiptPrinted => "receipt-printed",
    ReceiptPrinterProblem => "receipt-printer-problem",
}

/// The Fluent source of one language, as shipped in `assets/i18n/`.
pub fn source(language: Language) -> &'static str {
    match language {
        Language::Zh => include_str!("../../assets/i18n/zh.ftl"),
        Language::En => include_str!("../../assets/i18n/en.ftl"),
        Language::Fr => include_str!("../../assets/i18n/fr.ftl"),
        Language::De => include_str!("../../assets/i18n/de.ftl"),
        Language::Id => include_str!("../../assets/i18n/id.ftl"),
    }
}

/// A catalogue that could not be built from its Fluent source.
#[derive(Debug, thiserror::Error)]
#[error("translation file assets/i18n/{language}.ftl has {count} syntax error(s); first: {first}")]
pub struct CatalogError {
    /// The language whose file is broken.
    pub language: Language,
    /// How many errors the parser reported.
    pub count: usize,
    /// The first error, for the developer.
    pub first: String,
}

/// The translated text of every language, ready to format.
pub struct Catalog {
    bundles: Vec<(Language, FluentBundle<FluentResource>)>,
}

impl Catalog {
    /// Parses the shipped catalogues of all languages.
    pub fn load_all() -> Result<Catalog, CatalogError> {
        let mut bundles = Vec::new();
        for language in Language::ALL {
            bundles.push((language, bundle_for(language)?));
        }
        Ok(Catalog { bundles })
    }

    /// The text of `msg` in `language`. A message missing from a catalogue (which `tests/kiosk/i18n.rs`
    /// prevents) shows its id rather than nothing, so the gap is visible and the kiosk keeps going.
    pub fn text(&self, language: Language, msg: Msg) -> String {
        self.lookup(language, msg)
            .unwrap_or_else(|| msg.id().to_owned())
    }

    /// The text of `msg` in `language`, or `None` when the catalogue lacks it.
    pub fn lookup(&self, language: Language, msg: Msg) -> Option<String> {
        let (_, bundle) = self.bundles.iter().find(|(l, _)| *l == language)?;
        let pattern = bundle.get_message(msg.id())?.value()?;
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, None, &mut errors);
        errors.is_empty().then(|| text.into_owned())
    }
}

fn bundle_for(language: Language) -> Result<FluentBundle<FluentResource>, CatalogError> {
    let resource =
        FluentResource::try_new(source(language).to_owned()).map_err(|(_, errors)| {
            CatalogError {
                language,
                count: errors.len(),
                first: errors.first().map(|e| e.to_string()).unwrap_or_default(),
            }
        })?;
    let langid = language
        .code()
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut bundle = FluentBundle::new(vec![langid]);
    // Unicode isolation marks around placeables render as boxes in egui; the text is plain.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| CatalogError {
            language,
            count: errors.len(),
            first: errors.first().map(|e| e.to_string()).unwrap_or_default(),
        })?;
    Ok(bundle)
}
