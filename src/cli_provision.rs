//! The terminal's side of its lifecycle at the registry. `kiosk provision URL --code CODE` sets a
//! new terminal up with the one-time code an administrator made (`registry terminal invite`):
//! creates its signing key, registers it, and writes the registry's public keys where the
//! configuration expects them. `kiosk keys rotate` replaces the signing key, proving possession
//! of the current one, and keeps the old one for its records' reprints. No key file is carried
//! by hand; no configuration file is changed.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use enroll_crypto::keys;
use enroll_crypto::records::{SealingPublicKey, TerminalPublicKey, TerminalSigningKey};

/// How long the registry has to answer.
const PROVISION_TIMEOUT_MS: u64 = 15_000;

/// The TLS settings for `url`: the configured CA, required for `https://`.
fn tls_for(
    config: &enroll_kiosk::config::Config,
    url: &str,
) -> anyhow::Result<Option<rustls::ClientConfig>> {
    Ok(match &config.registry.tls_ca_file {
        Some(file) => {
            let pem = std::fs::read(file)
                .with_context(|| format!("registry.tls_ca_file {}", file.display()))?;
            Some(enroll_protocol::tls::client_config(&pem)?)
        }
        None if url.starts_with("https://") => bail!(
            "{url} is https:// but registry.tls_ca_file is not set: name the CA the registry's \
             certificate chains to"
        ),
        None => None,
    })
}

/// POSTs `json` to `url` and waits for the answer.
fn post(
    url: &str,
    tls: Option<rustls::ClientConfig>,
    json: &serde_json::Value,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let runtime = enroll_kiosk::runtime::current_thread()?;
    runtime
        .block_on(async {
            let client = enroll_sync::http_client(tls);
            enroll_sync::post_json(
                &client,
                url,
                json,
                Duration::from_millis(PROVISION_TIMEOUT_MS),
            )
            .await
        })
        .map_err(|problem| anyhow::anyhow!("{url}: {problem}"))
}

/// The public key file beside `key_file` (`NAME.key` → `NAME.pub`).
fn public_beside(key_file: &Path) -> std::path::PathBuf {
    key_file.with_extension("pub")
}

/// `kiosk keys rotate`: a new signing key, registered by proving the current one; the current
/// one is kept beside it as retired (its records' reprints derive their codes from it).
pub fn rotate(registry: Option<String>, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = crate::cli_records::load_config(config_path)?;
    let url = registry.unwrap_or_else(|| config.registry.url.clone());
    let url = url.trim_end_matches('/');
    enroll_kiosk::config::check_registry_url(url)
        .map_err(|problem| anyhow::anyhow!("{url}: {problem}"))?;
    if let Some(uri) = &config.terminal.signing_key_token {
        bail!(
            "the terminal key is in a token ({uri}): `kiosk keys rotate` rotates key files only; \
             make the next pair inside the token under a new object= label with `kiosk keygen \
             --token`, register it (`registry terminal add`), then point terminal.signing_key at it"
        );
    }
    let key_file = &config.terminal.signing_key_file;
    let current = keys::read_signing_key(key_file)?;
    let retired_file = keys::retired_key_path(key_file, &current.public().fingerprint());
    // Its public half too, to check the receipts it signed (`kiosk receipt verify --public-key`).
    let retired_public =
        keys::retired_key_path(&public_beside(key_file), &current.public().fingerprint());
    let staged = key_file.with_extension("key.new");
    keys::ensure_absent(&[&retired_file, &retired_public, &staged])?;
    let next = TerminalSigningKey::from_seed(keys::random_seed()?);
    // Durable before the registry hears of it: a crash after the answer loses no key.
    keys::write_new(&staged, &next.to_pem(), true)?;
    let signed_at = enroll_kiosk::clock::now();
    let message = enroll_protocol::rotation_message(
        &config.terminal.id,
        &next.public().fingerprint(),
        signed_at.as_i64(),
    );
    let request = serde_json::json!({
        "new_public_key_pem": next.public().to_pem(),
        "signed_at_unix_ms": signed_at.as_i64(),
        "proof_base64": enroll_core::domain::document::base64_bytes::encode(&current.sign(&message)),
    });
    let answer = post(
        &format!("{url}/v1/terminals/{}/rotate", config.terminal.id),
        tls_for(&config, url)?,
        &request,
    );
    let (status, body) = match answer {
        Ok((200, body)) => (200, body),
        other => {
            let _ = std::fs::remove_file(&staged);
            let (status, body) = other?;
            let said = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
            bail!("the registry refused the rotation ({status}): {said}; the key is unchanged");
        }
    };
    let answer: serde_json::Value =
        serde_json::from_slice(&body).context("the registry's answer is not understood")?;
    keys::write_new(&retired_file, &current.to_pem(), true)?;
    keys::write_new(&retired_public, &current.public().to_pem(), false)?;
    std::fs::rename(&staged, key_file)
        .with_context(|| format!("cannot put the new key in place at {}", key_file.display()))?;
    let public_file = public_beside(key_file);
    let _ = std::fs::remove_file(&public_file);
    keys::write_new(&public_file, &next.public().to_pem(), false)?;
    writeln!(
        std::io::stdout(),
        "terminal {} now signs with key {} ({status}); the old key {} is kept as {} and still \
         accepted until unix ms {}",
        config.terminal.id,
        next.public().fingerprint(),
        current.public().fingerprint(),
        retired_file.display(),
        answer
            .get("previous_key_accepted_until_unix_ms")
            .cloned()
            .unwrap_or_default()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What the registry answers a spent code with.
#[derive(serde::Deserialize)]
struct Provisioned {
    terminal_id: String,
    sealing_public_key_pem: String,
    receipt_public_key_pem: String,
}

/// Writes `pem` to `path`, unless the same key is there already; a different key there is an
/// error (this terminal was set up before).
fn write_public(path: &Path, pem: &str) -> anyhow::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(existing) if existing.trim() == pem.trim() => Ok(()),
        Ok(_) => bail!(
            "{} holds another key: this terminal was set up for another registry; move the file \
             away if it is to be set up again",
            path.display()
        ),
        Err(_) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            keys::write_new(path, pem, false)?;
            Ok(())
        }
    }
}

/// `kiosk provision`.
pub fn provision(url: &str, code: &str, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = crate::cli_records::load_config(config_path)?;
    let url = url.trim_end_matches('/');
    enroll_kiosk::config::check_registry_url(url)
        .map_err(|problem| anyhow::anyhow!("{url}: {problem}"))?;
    let key_file = &config.terminal.signing_key_file;
    // A key in a token is registered as it is (made there by `kiosk keygen --token`); a key
    // file is made here.
    let token = &config.terminal.signing_key_token;
    if token.is_none() && key_file.exists() {
        bail!(
            "this terminal already has a signing key ({}): provisioning makes a new one; move it \
             away first if the terminal is being set up again",
            key_file.display()
        );
    }
    let tls = tls_for(&config, url)?;

    // The key is made in memory and written only once the registry has taken it.
    let file_key = match token {
        Some(_) => None,
        None => Some(TerminalSigningKey::from_seed(keys::random_seed()?)),
    };
    let public = match &file_key {
        Some(key) => key.public(),
        None => enroll_kiosk::configured::terminal_signer(&config)?.public_key(),
    };
    let request = serde_json::json!({
        "code": code,
        "public_key_pem": public.to_pem(),
    });
    let (status, body) = post(&format!("{url}/v1/provision"), tls, &request)?;
    if status != 201 {
        let said = String::from_utf8_lossy(&body);
        bail!("the registry refused the code ({status}): {}", said.trim());
    }
    let answer: Provisioned =
        serde_json::from_slice(&body).context("the registry's answer is not understood")?;
    // The keys it hands out must be keys.
    SealingPublicKey::from_pem(&answer.sealing_public_key_pem)
        .context("the registry's sealing key")?;
    TerminalPublicKey::from_pem(&answer.receipt_public_key_pem)
        .context("the registry's receipt key")?;

    let public_file = public_beside(key_file);
    let key_place = match &file_key {
        Some(key) => {
            if let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            keys::write_new(key_file, &key.to_pem(), true)?;
            keys::write_new(&public_file, &key.public().to_pem(), false)?;
            format!("key written to {} (mode 0600)", key_file.display())
        }
        None => "key kept in its token".to_owned(),
    };
    write_public(
        &config.registry.sealing_public_key_file,
        &answer.sealing_public_key_pem,
    )?;
    write_public(
        &config.registry.receipt_public_key_file,
        &answer.receipt_public_key_pem,
    )?;

    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "provisioned as terminal {} (key fingerprint {}); {key_place}, the registry's keys to {} \
         and {}",
        answer.terminal_id,
        public.fingerprint(),
        config.registry.sealing_public_key_file.display(),
        config.registry.receipt_public_key_file.display()
    )?;
    if answer.terminal_id != config.terminal.id {
        writeln!(
            stdout,
            "note: the registry knows this terminal as {}; set terminal.id = \"{}\" in {} (it says \
             {}) before enrolling",
            answer.terminal_id,
            answer.terminal_id,
            config.source_path.display(),
            config.terminal.id
        )?;
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
