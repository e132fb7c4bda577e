//! The verifier's world made at test time: a root key per run, the trust list it signs, a status
//! list, and tokens (valid, expired, revoked, forged), as a state directory `idverify` reads.
//! Shared by the command-line and the screen tests.

#![allow(dead_code)] // not every suite uses every helper

pub mod camera;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use enroll_credential::status::{StatusList, StatusListToken, list_uri};
use enroll_credential::trust::TrustList;
use enroll_credential::{
    IdentityClaims, KeyRole, Profile, Sex, StatusRef, Tier, TokenClaims, token,
};

pub const REGISTRY: &str = "http://127.0.0.1:9";
/// 2026-12-07T10:00:00+08:00.
pub const NOW: i64 = 1_796_608_800;
/// The status index tokens carry unless a test says otherwise.
pub const INDEX: u32 = 77;

pub fn key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

/// A verifier's state directory synced at `lists_at`, and the key that signs strict tokens.
pub struct Synced {
    pub dir: tempfile::TempDir,
    pub strict: SigningKey,
    pub status: SigningKey,
    /// The time tokens are made around.
    pub now: i64,
}

/// What a made token is like.
#[derive(Clone, Copy)]
pub struct Spec {
    pub profile: Profile,
    /// Seconds its validity is moved by (negative: in the past).
    pub shift_s: i64,
    pub index: u32,
    pub forged: bool,
}

impl Spec {
    pub fn valid(profile: Profile) -> Spec {
        Spec {
            profile,
            shift_s: 0,
            index: INDEX,
            forged: false,
        }
    }
}

impl Synced {
    pub fn new(lists_at: i64, revoked: &[u32]) -> Synced {
        Synced::around(NOW, lists_at, revoked)
    }

    /// Lists signed at `lists_at`, tokens made around `now`.
    pub fn around(now: i64, lists_at: i64, revoked: &[u32]) -> Synced {
        let dir = tempfile::tempdir().unwrap();
        let (root, strict, status) = (key(), key(), key());
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("status-lists")).unwrap();
        std::fs::write(
            state.join("root.pub"),
            root.verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap(),
        )
        .unwrap();
        let from = now - 30 * 86_400;
        let trust = TrustList {
            sequence: 1,
            issued_at_unix_s: lists_at - 3_600,
            registry_url: REGISTRY.into(),
            keys: vec![
                TrustList::entry(strict.verifying_key().to_bytes(), KeyRole::Strict, from, 90),
                TrustList::entry(status.verifying_key().to_bytes(), KeyRole::Status, from, 90),
            ],
        };
        std::fs::write(state.join("trust-list.cbor"), trust.sign(&root).unwrap()).unwrap();
        let synced = Synced {
            dir,
            strict,
            status,
            now,
        };
        synced.write_status_list(lists_at, revoked);
        synced
    }

    pub fn write_status_list(&self, issued_at: i64, revoked: &[u32]) {
        let mut list = StatusList::new();
        for index in revoked {
            list.revoke(*index);
        }
        let signed = StatusListToken {
            uri: list_uri(REGISTRY, 0),
            issued_at_unix_s: issued_at,
            expires_unix_s: issued_at + 25 * 3_600,
            ttl_s: 3_600,
            list,
        }
        .sign(&self.status)
        .unwrap();
        std::fs::write(self.state().join("status-lists/0.cbor"), signed).unwrap();
    }

    pub fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// Runs the real `idverify` binary on this state directory.
    pub fn idverify(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_idverify"))
            .arg("--state")
            .arg(self.state())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn token(&self, profile: Profile) -> String {
        self.token_like(Spec::valid(profile))
    }

    pub fn token_like(&self, spec: Spec) -> String {
        let now = self.now + spec.shift_s;
        let check_in = spec.profile == Profile::CheckIn;
        let claims = TokenClaims {
            issuer: REGISTRY.into(),
            issued_at_unix_s: now - 86_400,
            not_before_unix_s: now - 10 * 3_600 - 600,
            expires_unix_s: now + 16 * 3_600,
            cti: [5; 16],
            status: Some(StatusRef {
                uri: list_uri(REGISTRY, 0),
                index: spec.index,
            }),
            identity: IdentityClaims {
                handle: "0123456789abcdef0123".into(),
                tier: Tier::Strict,
                profile: spec.profile,
                age_over_18: true,
                face_jpeg: face_jpeg(),
                full_name: check_in.then(|| "ZHANG San".into()),
                birth_yyyymmdd: check_in.then(|| "19900101".into()),
                sex: check_in.then_some(Sex::Male),
                region: check_in.then(|| "北京市东城区".into()),
            },
        };
        let signer = if spec.forged {
            key()
        } else {
            self.strict.clone()
        };
        token::issue(&claims, &signer).unwrap()
    }
}

/// A 48-pixel grey face-like thumbnail (an oval on a light ground), as issuance makes them.
pub fn face_jpeg() -> Vec<u8> {
    let image = image::GrayImage::from_fn(48, 48, |x, y| {
        let (dx, dy) = (x as f32 - 24.0, (y as f32 - 24.0) * 0.8);
        image::Luma([if dx * dx + dy * dy < 300.0 { 120 } else { 225 }])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 50)
        .encode_image(&image)
        .unwrap();
    bytes
}
