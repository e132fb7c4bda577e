//! `kiosk provision URL --code CODE`: sets a new terminal up against its registry with the
//! one-time code an administrator made (`registry terminal invite`): creates the terminal's
//! signing key, registers it, and writes the registry's public keys where the configuration
//! expects them. No key file is carried by hand. It changes no configuration file.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use enroll_crypto::keys;
use enroll_crypto::records::{SealingPublicKey, TerminalPublicKey, TerminalSigningKey};

/// How long the registry has to answer.
const PROVISION_TIMEOUT_MS: u64 = 15_000;

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
    if key_file.exists() {
        bail!(
            "this terminal already has a signing key ({}): provisioning makes a new one; move it \
             away first if the terminal is being set up again",
            key_file.display()
        );
    }
    let tls = match &config.registry.tls_ca_file {
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
    };

    // The key is made in memory and written only once the registry has taken it.
    let key = TerminalSigningKey::from_seed(keys::random_seed()?);
    let request = serde_json::json!({
        "code": code,
        "public_key_pem": key.public().to_pem(),
    });
    let runtime = enroll_kiosk::runtime::current_thread()?;
    let (status, body) = runtime
        .block_on(async {
            let client = enroll_sync::http_client(tls);
            enroll_sync::post_json(
                &client,
                &format!("{url}/v1/provision"),
                &request,
                Duration::from_millis(PROVISION_TIMEOUT_MS),
            )
            .await
        })
        .map_err(|problem| anyhow::anyhow!("{url}: {problem}"))?;
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

    let (_, public_file) = keys::pair_paths(
        key_file.parent().unwrap_or(Path::new(".")),
        key_file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("terminal-signing"),
    );
    if let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    keys::write_new(key_file, &key.to_pem(), true)?;
    keys::write_new(&public_file, &key.public().to_pem(), false)?;
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
        "provisioned as terminal {} (key fingerprint {}); key written to {} (mode 0600), the \
         registry's keys to {} and {}",
        answer.terminal_id,
        key.public().fingerprint(),
        key_file.display(),
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
