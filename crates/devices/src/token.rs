//! The terminal's signing key in a PKCS#11 token (`terminal.signing_key = "pkcs11:…"`): the RFC 7512
//! URI, loading the module and logging in, Ed25519 signatures through `CKM_EDDSA`, and making the
//! key pair inside the token (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, private half sensitive and not
//! extractable). The private key never leaves the token. It decides nothing about records: it
//! signs what it is given.
//!
//! A module is initialised once per process and each URI opened once ([`open_shared`]): a second
//! `C_Initialize` of the same module fails, and a `C_Finalize` would end every other session.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use enroll_crypto::records::{RecordCryptoError, RecordSigner, TerminalPublicKey};

/// DER of the Ed25519 curve's OID (1.3.101.112), the `CKA_EC_PARAMS` of its keys.
const ED25519_EC_PARAMS: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];

/// Where the PIN comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-source=PATH`: a file holding the PIN (mode 0600, first line).
    File(PathBuf),
    /// `pin-value=PIN`: in the URI itself (tests; a configuration file is no place for a PIN).
    Value(String),
}

/// A `pkcs11:` URI naming the terminal's key (RFC 7512): `token` and `object` (the key's label) in
/// the path; `module-path` and `pin-source` (or `pin-value`) in the query.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub module_path: PathBuf,
    pub token_label: String,
    pub object_label: String,
    pub pin: PinSource,
    /// The text as given, minus any `pin-value` (for messages and as the cache key).
    shown: String,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({})", self.shown)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Why the token's key cannot be used. No PIN in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the PKCS#11 URI is not usable: {0} (expected pkcs11:token=LABEL;object=LABEL?module-path=/usr/lib/…/module.so&pin-source=/path/to/pin)"
    )]
    Uri(String),
    #[error("cannot load the PKCS#11 module {path}: {detail}; install it or fix module-path")]
    Module { path: String, detail: String },
    #[error("cannot read the token PIN from {path}: {detail}")]
    PinFile { path: String, detail: String },
    #[error("no token labelled {0:?} is present: insert it, or fix token= in the URI")]
    NoToken(String),
    #[error(
        "the token {0:?} refused the PIN: check the pin-source file (the token locks itself after \
         a few wrong PINs)"
    )]
    WrongPin(String),
    #[error(
        "the token {0:?} is locked after too many wrong PINs: its security officer must unlock it"
    )]
    PinLocked(String),
    #[error(
        "the token {token:?} holds no Ed25519 key pair labelled {object:?}: make one with `kiosk keygen --token`"
    )]
    NoKey { token: String, object: String },
    #[error(
        "the token {token:?} already holds a key labelled {object:?}: it is kept, not replaced"
    )]
    KeyExists { token: String, object: String },
    #[error("the token failed: {0}")]
    Pkcs11(String),
}

fn percent_decode(text: &str) -> Result<String, TokenError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| TokenError::Uri(format!("a bad %-escape in {text:?}")))?;
            out.push(hex);
            index += 3;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| TokenError::Uri("an escape is not UTF-8".into()))
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let rest = text
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| TokenError::Uri("it does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut token = None;
        let mut object = None;
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (key, value) = attribute
                .split_once('=')
                .ok_or_else(|| TokenError::Uri(format!("{attribute:?} has no '='")))?;
            match key {
                "token" => token = Some(percent_decode(value)?),
                "object" => object = Some(percent_decode(value)?),
                // Other path attributes (type, id, manufacturer, …) narrow nothing we need.
                _ => {}
            }
        }
        let mut module = None;
        let mut pin = None;
        let mut shown_query = Vec::new();
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            let (key, value) = attribute
                .split_once('=')
                .ok_or_else(|| TokenError::Uri(format!("{attribute:?} has no '='")))?;
            match key {
                "module-path" => module = Some(PathBuf::from(percent_decode(value)?)),
                "pin-source" => {
                    let source = percent_decode(value)?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    pin = Some(PinSource::File(PathBuf::from(path)));
                }
                "pin-value" => {
                    pin = Some(PinSource::Value(percent_decode(value)?));
                    shown_query.push("pin-value=…".to_owned());
                    continue;
                }
                _ => {}
            }
            shown_query.push(attribute.to_owned());
        }
        let missing = |what: &str| TokenError::Uri(format!("{what} is missing"));
        let shown = if shown_query.is_empty() {
            format!("pkcs11:{path}")
        } else {
            format!("pkcs11:{path}?{}", shown_query.join("&"))
        };
        Ok(Pkcs11Uri {
            module_path: module.ok_or_else(|| missing("module-path"))?,
            token_label: token.ok_or_else(|| missing("token="))?,
            object_label: object.ok_or_else(|| missing("object="))?,
            pin: pin.ok_or_else(|| missing("pin-source (or pin-value)"))?,
            shown,
        })
    }

    fn pin(&self) -> Result<AuthPin, TokenError> {
        match &self.pin {
            PinSource::Value(pin) => Ok(AuthPin::from(pin.clone())),
            PinSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| TokenError::PinFile {
                    path: path.display().to_string(),
                    detail: error.to_string(),
                })?;
                let pin = text.lines().next().unwrap_or_default().trim().to_owned();
                Ok(AuthPin::from(pin))
            }
        }
    }
}

fn pkcs11_error(error: CkError) -> TokenError {
    TokenError::Pkcs11(error.to_string())
}

/// The module at `path`, initialised once per process.
fn module(path: &std::path::Path) -> Result<Pkcs11, TokenError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut modules = modules
        .lock()
        .map_err(|_| TokenError::Pkcs11("the module table lock is poisoned".into()))?;
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let loaded = Pkcs11::new(path).map_err(|error| TokenError::Module {
        path: path.display().to_string(),
        detail: error.to_string(),
    })?;
    match loaded.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => {
            return Err(TokenError::Module {
                path: path.display().to_string(),
                detail: error.to_string(),
            });
        }
    }
    modules.insert(path.to_path_buf(), loaded.clone());
    Ok(loaded)
}

/// The slot holding the token labelled `label`.
fn token_slot(module: &Pkcs11, label: &str) -> Result<Slot, TokenError> {
    for slot in module.get_slots_with_token().map_err(pkcs11_error)? {
        let info = module.get_token_info(slot).map_err(pkcs11_error)?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(TokenError::NoToken(label.to_owned()))
}

/// A logged-in session on the URI's token.
fn logged_in(uri: &Pkcs11Uri, read_write: bool) -> Result<Session, TokenError> {
    let module = module(&uri.module_path)?;
    let slot = token_slot(&module, &uri.token_label)?;
    let session = if read_write {
        module.open_rw_session(slot)
    } else {
        module.open_ro_session(slot)
    }
    .map_err(pkcs11_error)?;
    match session.login(UserType::User, Some(&uri.pin()?)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            Err(TokenError::WrongPin(uri.token_label.clone()))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            Err(TokenError::PinLocked(uri.token_label.clone()))
        }
        Err(error) => Err(pkcs11_error(error)),
    }
}

/// The first object of `class` labelled as the URI says.
fn find_key(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, TokenError> {
    Ok(session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(uri.object_label.as_bytes().to_vec()),
        ])
        .map_err(pkcs11_error)?
        .into_iter()
        .next())
}

/// The Ed25519 public key of the token's public-key object: `CKA_EC_POINT` is the 32 bytes,
/// wrapped in a DER OCTET STRING by most tokens (SoftHSM among them).
fn public_key(session: &Session, handle: ObjectHandle) -> Result<TerminalPublicKey, TokenError> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::EcPoint])
        .map_err(pkcs11_error)?;
    let point = attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::EcPoint(point) => Some(point),
            _ => None,
        })
        .ok_or_else(|| TokenError::Pkcs11("the public key has no CKA_EC_POINT".into()))?;
    let raw = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        other => other,
    };
    let bytes = <[u8; 32]>::try_from(raw).map_err(|_| {
        TokenError::Pkcs11(format!(
            "CKA_EC_POINT is {} bytes, not an Ed25519 key",
            point.len()
        ))
    })?;
    TerminalPublicKey::from_bytes(&bytes).map_err(|error| TokenError::Pkcs11(error.to_string()))
}

/// The terminal's key in a token: signs with `CKM_EDDSA` (pure Ed25519, RFC 8032), so its
/// signatures verify like a file key's.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: TerminalPublicKey,
    uri: Pkcs11Uri,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pkcs11Signer({}, public {})",
            self.uri,
            self.public.fingerprint()
        )
    }
}

impl Pkcs11Signer {
    /// Logs in to the URI's token and finds its key pair.
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Signer, TokenError> {
        let session = logged_in(uri, false)?;
        let missing = || TokenError::NoKey {
            token: uri.token_label.clone(),
            object: uri.object_label.clone(),
        };
        let key = find_key(&session, uri, ObjectClass::PRIVATE_KEY)?.ok_or_else(missing)?;
        let public_handle =
            find_key(&session, uri, ObjectClass::PUBLIC_KEY)?.ok_or_else(missing)?;
        let public = public_key(&session, public_handle)?;
        Ok(Pkcs11Signer {
            session: Mutex::new(session),
            key,
            public,
            uri: uri.clone(),
        })
    }

    /// Makes the Ed25519 key pair inside the token (the private half sensitive, never
    /// extractable) and returns its public half. An existing key of that label is kept.
    pub fn generate(uri: &Pkcs11Uri) -> Result<TerminalPublicKey, TokenError> {
        let session = logged_in(uri, true)?;
        if find_key(&session, uri, ObjectClass::PRIVATE_KEY)?.is_some() {
            return Err(TokenError::KeyExists {
                token: uri.token_label.clone(),
                object: uri.object_label.clone(),
            });
        }
        let label = uri.object_label.as_bytes().to_vec();
        let public_template = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::EcParams(ED25519_EC_PARAMS.to_vec()),
            Attribute::Label(label.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(label),
        ];
        let (public_handle, _) = session
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(pkcs11_error)?;
        public_key(&session, public_handle)
    }

    /// The URI it was opened with (no PIN in it).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }
}

impl RecordSigner for Pkcs11Signer {
    fn public_key(&self) -> TerminalPublicKey {
        self.public
    }

    fn try_sign(&self, bytes: &[u8]) -> Result<[u8; 64], RecordCryptoError> {
        let session = self
            .session
            .lock()
            .map_err(|_| RecordCryptoError::Signer("the token session lock is poisoned".into()))?;
        let signature = session
            .sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                self.key,
                bytes,
            )
            .map_err(|error| RecordCryptoError::Signer(format!("{} ({error})", self.uri)))?;
        let signature = <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            RecordCryptoError::Signer(format!(
                "the token gave a {}-byte signature",
                signature.len()
            ))
        })?;
        // A token that signed with another key, or garbled the signature, must not get a record
        // committed: checked here, once, for every signature.
        self.public.verify(bytes, &signature)?;
        Ok(signature)
    }
}

/// The signer for `uri`, opened once per process and shared (the enrollment and sync threads use
/// one session).
pub fn open_shared(uri: &Pkcs11Uri) -> Result<Arc<Pkcs11Signer>, TokenError> {
    static OPEN: OnceLock<Mutex<HashMap<String, Arc<Pkcs11Signer>>>> = OnceLock::new();
    let open = OPEN.get_or_init(|| Mutex::new(HashMap::new()));
    let mut open = open
        .lock()
        .map_err(|_| TokenError::Pkcs11("the token table lock is poisoned".into()))?;
    if let Some(signer) = open.get(&uri.shown) {
        return Ok(Arc::clone(signer));
    }
    let signer = Arc::new(Pkcs11Signer::open(uri)?);
    open.insert(uri.shown.clone(), Arc::clone(&signer));
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_names_module_token_key_and_pin_and_never_shows_a_pin_value() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=enroll%20kiosk;object=terminal-signing;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=123456",
        )
        .unwrap();
        assert_eq!(uri.token_label, "enroll kiosk");
        assert_eq!(uri.object_label, "terminal-signing");
        assert_eq!(
            uri.module_path,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert!(uri.pin == PinSource::Value("123456".into()));
        assert!(!uri.to_string().contains("123456"));
        assert!(!format!("{uri:?}").contains("123456"));
        let file =
            Pkcs11Uri::parse("pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:/etc/pin")
                .unwrap();
        assert!(file.pin == PinSource::File(PathBuf::from("/etc/pin")));
    }

    #[test]
    fn an_incomplete_uri_says_what_is_missing() {
        for (text, missing) in [
            ("file:/x", "pkcs11:"),
            ("pkcs11:object=o?module-path=/m.so&pin-source=/p", "token="),
            ("pkcs11:token=t?module-path=/m.so&pin-source=/p", "object="),
            ("pkcs11:token=t;object=o?pin-source=/p", "module-path"),
            ("pkcs11:token=t;object=o?module-path=/m.so", "pin-source"),
            (
                "pkcs11:token=%zz;object=o?module-path=/m.so&pin-source=/p",
                "escape",
            ),
        ] {
            let error = Pkcs11Uri::parse(text).unwrap_err().to_string();
            assert!(error.contains(missing), "{text}: {error}");
        }
    }
}
