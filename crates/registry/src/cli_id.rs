//! The `registry` commands of the virtual ID: its keys, the trust list signed with the offline
//! root, the issuer process, and `registry id show|tokens|revoke`. Thin: files, clock and output
//! here, decisions in `enroll_registry::issuer` and `enroll_credential`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use enroll_credential::qr::{self, Medium};
use enroll_credential::trust::TrustList;
use enroll_credential::{KeyRole, Kid};
use enroll_crypto::keys;
use enroll_crypto::records::TerminalSigningKey;
use enroll_registry::identities::{IdentityRow, Selector, TokenRow};
use enroll_registry::issuer::{self, IssuerKeys, IssuerSettings};
use enroll_registry::storage::Storage;

use crate::{now, open_storage};

/// The virtual ID's key files in the registry's key directory.
pub const STRICT_KEY: &str = "issuing-strict";
pub const LIGHT_KEY: &str = "issuing-light";
pub const STATUS_KEY: &str = "status-list";
pub const HANDLE_SECRET: &str = "handle-secret.key";
/// The installed trust list (made by `registry trust-list sign`).
pub const TRUST_LIST: &str = "trust-list.cbor";

/// Writes the issuing keys, the status-list key and the handle secret into `out`.
pub fn keygen_virtual_id(out: &Path) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for name in [STRICT_KEY, LIGHT_KEY, STATUS_KEY] {
        pairs.push(keys::pair_paths(out, name));
    }
    let secret = out.join(HANDLE_SECRET);
    let mut all: Vec<&Path> = pairs
        .iter()
        .flat_map(|(key, public)| [key.as_path(), public.as_path()])
        .collect();
    all.push(&secret);
    keys::ensure_absent(&all)?;
    let mut stdout = std::io::stdout();
    for ((key_path, pub_path), role) in
        pairs
            .iter()
            .zip(["strict tokens", "light tokens", "status lists"])
    {
        let key = TerminalSigningKey::from_seed(keys::random_seed()?);
        keys::write_new(key_path, &key.to_pem(), true)?;
        keys::write_new(pub_path, &key.public().to_pem(), false)?;
        writeln!(
            stdout,
            "signing key for {role} (Ed25519): {}; kid {}",
            key_path.display(),
            Kid::of(&key.public().to_bytes())
        )?;
    }
    keys::write_new(
        &secret,
        &enroll_credential::keys::hex(&keys::random_bytes::<32>()?),
        true,
    )?;
    writeln!(stdout, "daily-handle secret: {}", secret.display())?;
    Ok(())
}

fn read_key(dir: &Path, name: &str) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let key = keys::read_signing_key(&dir.join(format!("{name}.key")))?;
    Ok(key.ed25519().clone())
}

fn read_handle_secret(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join(HANDLE_SECRET);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (make it with `registry keygen --virtual-id --out {}`)",
            path.display(),
            dir.display()
        )
    })?;
    let bytes: Vec<u8> = (0..text.trim().len())
        .step_by(2)
        .filter_map(|i| text.trim().get(i..i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect();
    <[u8; 32]>::try_from(bytes.as_slice())
        .ok()
        .with_context(|| format!("{} must hold 64 hex digits", path.display()))
}

/// The status-list signing key, when the key directory has one.
pub fn read_status_key(dir: &Path) -> anyhow::Result<Option<ed25519_dalek::SigningKey>> {
    let path = dir.join(format!("{STATUS_KEY}.key"));
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(read_key(dir, STATUS_KEY)?))
}

/// The handle secret, when the key directory has one (holder routes need it).
pub fn read_optional_handle_secret(dir: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    if !dir.join(HANDLE_SECRET).exists() {
        return Ok(None);
    }
    Ok(Some(read_handle_secret(dir)?))
}

/// Everything issuance needs from the key directory.
pub fn read_issuer_keys(dir: &Path) -> anyhow::Result<IssuerKeys> {
    let (sealing, _) = keys::read_sealing_private(&dir.join("registry-sealing.key"))?;
    Ok(IssuerKeys {
        strict: read_key(dir, STRICT_KEY)?,
        light: read_key(dir, LIGHT_KEY)?,
        handle_secret: read_handle_secret(dir)?,
        sealing,
    })
}

/// The time zone days are counted in: `--time-zone`, else the system's.
pub fn time_zone(name: Option<&str>) -> anyhow::Result<jiff::tz::TimeZone> {
    match name {
        Some(name) => jiff::tz::TimeZone::get(name).with_context(|| {
            format!("--time-zone {name} is not a time zone name (for example Asia/Shanghai)")
        }),
        None => Ok(jiff::tz::TimeZone::system()),
    }
}

/// Issuance settings from the command line.
pub fn settings(public_url: &str, zone: Option<&str>, days: u32) -> anyhow::Result<IssuerSettings> {
    if !(1..=enroll_credential::MAX_BATCH_DAYS).contains(&days) {
        bail!(
            "--days must be between 1 and {}",
            enroll_credential::MAX_BATCH_DAYS
        );
    }
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        bail!("--public-url must be an http:// or https:// URL (it is the tokens' issuer)");
    }
    Ok(IssuerSettings {
        public_url: public_url.trim_end_matches('/').to_owned(),
        time_zone: time_zone(zone)?,
        batch_days: days,
    })
}

/// `registry issue`: decides every waiting record, once or until stopped.
pub fn issue(
    db: &str,
    keys_dir: &Path,
    settings: &IssuerSettings,
    once: bool,
) -> anyhow::Result<()> {
    let storage = open_storage(db, 2)?;
    let keys = read_issuer_keys(keys_dir)?;
    let mut stdout = std::io::stdout();
    loop {
        let report = issuer::run_pass(storage.as_ref(), &keys, settings, now(), 500)?;
        if report != issuer::PassReport::default() || once {
            writeln!(
                stdout,
                "issued {} identit{} ({} tokens), refused {}, superseded {}",
                report.issued,
                if report.issued == 1 { "y" } else { "ies" },
                report.tokens,
                report.refused,
                report.superseded
            )?;
            if report.unopened > 0 {
                writeln!(
                    std::io::stderr(),
                    "{} record(s) left waiting: {}",
                    report.unopened,
                    issuer::IssueError::Sealed
                )?;
            }
        }
        if once {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// `registry trust-list root-keygen`: the offline root, for removable media.
pub fn root_keygen(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let (key_path, pub_path) = keys::pair_paths(out, "trust-root");
    keys::ensure_absent(&[&key_path, &pub_path])?;
    let root = TerminalSigningKey::from_seed(keys::random_seed()?);
    keys::write_new(&key_path, &root.to_pem(), true)?;
    keys::write_new(&pub_path, &root.public().to_pem(), false)?;
    writeln!(
        std::io::stdout(),
        "trust root (Ed25519): {} — keep it offline; give verifiers {} (kid {})",
        key_path.display(),
        pub_path.display(),
        Kid::of(&root.public().to_bytes())
    )?;
    Ok(())
}

/// `registry trust-list sign`: lists the registry's public keys and signs them with the root.
pub fn trust_list_sign(
    root_key: &Path,
    keys_dir: &Path,
    public_url: &str,
    valid_days: i64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let root = keys::read_signing_key(root_key)?;
    let out = out.unwrap_or_else(|| keys_dir.join(TRUST_LIST));
    // The sequence grows from the list it replaces (read without trusting it: we signed it).
    let previous = std::fs::read(&out)
        .ok()
        .and_then(|bytes| TrustList::open(&bytes, &root.ed25519().verifying_key()).ok());
    let issued_at = now().as_i64().div_euclid(1000);
    let mut keys_listed = Vec::new();
    for (name, role) in [
        (STRICT_KEY, KeyRole::Strict),
        (LIGHT_KEY, KeyRole::Light),
        (STATUS_KEY, KeyRole::Status),
    ] {
        let public = keys::read_ed25519_public(&keys_dir.join(format!("{name}.pub")))?;
        keys_listed.push(TrustList::entry(
            public.to_bytes(),
            role,
            issued_at,
            valid_days,
        ));
    }
    let list = TrustList {
        sequence: previous.map_or(1, |p| p.sequence + 1),
        issued_at_unix_s: issued_at,
        registry_url: public_url.trim_end_matches('/').to_owned(),
        keys: keys_listed,
    };
    let bytes = list.sign(root.ed25519())?;
    let temporary = out.with_extension("cbor.new");
    std::fs::write(&temporary, &bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, &out)
        .with_context(|| format!("cannot install {}", out.display()))?;
    writeln!(
        std::io::stdout(),
        "trust list {} signed: {} keys, valid {valid_days} days, written to {}",
        list.sequence,
        list.keys.len(),
        out.display()
    )?;
    Ok(())
}

/// How the operator named an identity.
pub struct IdSelector {
    pub record: Option<String>,
    pub handle: Option<String>,
}

/// The record id an operator's argument names: an id as it is, or the one record whose short
/// reference (from the applicant's receipt) it is.
pub fn resolve_record(storage: &dyn Storage, argument: &str) -> anyhow::Result<String> {
    use enroll_core::domain::record::RecordId;
    use enroll_core::domain::reference::ShortReference;
    use std::str::FromStr as _;
    if RecordId::from_str(argument.trim()).is_ok() {
        return Ok(argument.trim().to_owned());
    }
    let reference = ShortReference::parse(argument).map_err(|error| {
        anyhow::anyhow!("{argument:?} is neither a record id nor a short reference: {error}")
    })?;
    let matching: Vec<String> = storage
        .record_ids_by_reference_key(&reference.key())?
        .into_iter()
        .filter(|id| RecordId::from_str(id).is_ok_and(|id| ShortReference::of(&id) == reference))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no record with reference {}", reference.grouped()),
        many => bail!(
            "reference {} names {} records: {}; give the record id",
            reference.grouped(),
            many.len(),
            many.join(", ")
        ),
    }
}

fn find(storage: &dyn Storage, selector: &IdSelector) -> anyhow::Result<IdentityRow> {
    let resolved = selector
        .record
        .as_deref()
        .map(|record| resolve_record(storage, record))
        .transpose()?;
    let selector = &IdSelector {
        record: resolved,
        handle: selector.handle.clone(),
    };
    let found = match (&selector.record, &selector.handle) {
        (Some(record), _) => storage.find_identity(Selector::Record(record))?,
        (None, Some(handle)) => storage.find_identity(Selector::Handle(handle))?,
        (None, None) => bail!("name the identity: a RECORD_ID or --handle HANDLE"),
    };
    match (found, &selector.record) {
        (Some(identity), _) => Ok(identity),
        (None, Some(record)) => {
            let decision = storage.issuance_decision(record)?;
            match decision {
                Some(decision) => bail!("record {record} has no identity: {decision}"),
                None if storage.record(record)?.is_some() => {
                    bail!(
                        "record {record} is not decided yet (the issuer has not run, or its chain gap waits for review)"
                    )
                }
                None => bail!("no record {record}"),
            }
        }
        (None, None) => bail!("no identity has a token with that handle"),
    }
}

/// `registry id show`.
pub fn show(db: &str, selector: &IdSelector, json: bool) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let identity = find(storage.as_ref(), selector)?;
    let tokens = storage.identity_tokens(&identity.id)?;
    let outstanding = tokens.iter().filter(|t| !t.revoked).count();
    let days: std::collections::BTreeSet<&str> = tokens
        .iter()
        .filter(|t| !t.revoked)
        .map(|t| t.day.as_str())
        .collect();
    let mut stdout = std::io::stdout();
    if json {
        let value = serde_json::json!({
            "identity": identity,
            "tokens_outstanding": outstanding,
            "tokens_revoked": tokens.len() - outstanding,
            "first_day": days.first(),
            "last_day": days.last(),
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(stdout, "identity {}", identity.id)?;
        writeln!(stdout, "  record  {}", identity.record_id)?;
        writeln!(stdout, "  tier    {}", identity.tier)?;
        writeln!(stdout, "  state   {}", identity.state)?;
        writeln!(
            stdout,
            "  tokens  {outstanding} outstanding ({} to {}), {} revoked",
            days.first().unwrap_or(&"-"),
            days.last().unwrap_or(&"-"),
            tokens.len() - outstanding
        )?;
    }
    Ok(())
}

/// Options of `registry id tokens`.
pub struct TokensOptions {
    pub days: Option<u32>,
    pub profile: Option<String>,
    pub out: Option<PathBuf>,
    pub json: bool,
    /// Revoke the outstanding batch and issue a new one with these settings and keys.
    pub reissue: Option<(IssuerSettings, PathBuf)>,
    pub time_zone: Option<String>,
}

/// `registry id tokens`.
pub fn tokens(db: &str, selector: &IdSelector, options: TokensOptions) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let identity = find(storage.as_ref(), selector)?;
    let mut stderr = std::io::stderr();
    let zone = match &options.reissue {
        Some((settings, keys_dir)) => {
            if identity.state != "active" {
                bail!(
                    "identity {} is {}: it gets no new tokens",
                    identity.id,
                    identity.state
                );
            }
            let keys = read_issuer_keys(keys_dir)?;
            let (revoked, issued) =
                issuer::reissue(storage.as_ref(), &identity, &keys, settings, now())?;
            writeln!(
                stderr,
                "re-issued: {} new tokens, {revoked} outstanding tokens revoked",
                issued.len()
            )?;
            settings.time_zone.clone()
        }
        None => time_zone(options.time_zone.as_deref())?,
    };
    let today = enroll_credential::day::local_date(now().as_i64().div_euclid(1000), &zone)
        .map(|d| d.to_string())
        .unwrap_or_default();
    if let Some(profile) = &options.profile
        && enroll_credential::Profile::parse(profile).is_none()
    {
        bail!("--profile must be basic or check-in");
    }
    let mut rows: Vec<TokenRow> = storage
        .identity_tokens(&identity.id)?
        .into_iter()
        .filter(|t| !t.revoked && t.day >= today)
        .filter(|t| options.profile.as_deref().is_none_or(|p| p == t.profile))
        .collect();
    if let Some(days) = options.days {
        let wanted: std::collections::BTreeSet<String> = rows
            .iter()
            .map(|t| t.day.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(days as usize)
            .collect();
        rows.retain(|t| wanted.contains(&t.day));
    }
    if rows.is_empty() {
        bail!(
            "identity {} has no outstanding tokens from {today} (state {}); re-issue with --reissue",
            identity.id,
            identity.state
        );
    }
    if let Some(out) = &options.out {
        std::fs::create_dir_all(out)
            .with_context(|| format!("cannot create --out {}", out.display()))?;
        for row in &rows {
            let stem = out.join(format!("{}-{}", row.day, row.profile));
            std::fs::write(stem.with_extension("txt"), format!("{}\n", row.text))?;
            let image = qr::render(&row.text, Medium::Screen, 6)?;
            let png = image::GrayImage::from_raw(
                u32::try_from(image.width)?,
                u32::try_from(image.height)?,
                image.pixels,
            )
            .context("the QR image has the wrong size")?;
            png.save(stem.with_extension("png")).with_context(|| {
                format!("cannot write {}", stem.with_extension("png").display())
            })?;
        }
        writeln!(
            stderr,
            "{} tokens written to {} (PNG + text)",
            rows.len(),
            out.display()
        )?;
    }
    let mut stdout = std::io::stdout();
    if options.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else if options.out.is_none() {
        for row in &rows {
            writeln!(stdout, "{} {} {}", row.day, row.profile, row.text)?;
        }
    }
    Ok(())
}

/// `registry id revoke`.
pub fn revoke(db: &str, selector: &IdSelector, json: bool) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let identity = find(storage.as_ref(), selector)?;
    let revoked = storage.revoke_identity(&identity.id, now())?;
    tracing::info!(identity = %identity.id, tokens = revoked, "identity revoked");
    let mut stdout = std::io::stdout();
    if json {
        let value = serde_json::json!({ "identity": identity.id, "tokens_revoked": revoked });
        writeln!(stdout, "{value}")?;
    } else {
        writeln!(
            stdout,
            "identity {} revoked: {revoked} tokens flipped in the status lists (the record is kept)",
            identity.id
        )?;
    }
    Ok(())
}
