//! Keeping the verifier's lists: fetching the trust list (accepted only if the pinned root signed
//! it and it is not older than the one held) and every status list it points to, and writing
//! them into the state directory. Used by `idverify trust|status sync` and by the verifier
//! screen's background sync. It does not verify tokens.

use std::path::Path;

use anyhow::{Context as _, bail};
use enroll_credential::status;
use enroll_credential::trust::TrustList;

use crate::fetch::Fetcher;
use crate::state::StateDir;

/// Pins `root_key` (first time) and keeps the registry's trust list; returns it.
pub fn trust_sync(
    dir: &StateDir,
    url: &str,
    root_key: Option<&Path>,
    ca_pem: Option<&[u8]>,
) -> anyhow::Result<TrustList> {
    match root_key {
        Some(root) => dir.pin_root(root)?,
        None if !dir.root_file().exists() => {
            bail!(
                "no root key is pinned yet: give --root-key trust-root.pub (from the registry's operator)"
            )
        }
        None => {}
    }
    let mut state = dir
        .load()?
        .context("no root key is pinned yet: give --root-key")?;
    let bytes =
        Fetcher::new(ca_pem)?.get(&format!("{}/v1/trust-list", url.trim_end_matches('/')))?;
    let list = state
        .accept_trust_list(&bytes)
        .map_err(|reason| anyhow::anyhow!("the registry's trust list is refused: {reason}"))?
        .clone();
    dir.write(&dir.trust_file(), &bytes)?;
    Ok(list)
}

/// Keeps every status list the held trust list's registry publishes; returns how many.
pub fn status_sync(dir: &StateDir, ca_pem: Option<&[u8]>) -> anyhow::Result<usize> {
    let mut state = dir
        .load()?
        .context("no trust list is held: run `idverify trust sync URL --root-key FILE` first")?;
    let registry = state
        .trust_list()
        .context("no trust list is held: run `idverify trust sync URL` first")?
        .registry_url
        .clone();
    let fetcher = Fetcher::new(ca_pem)?;
    let index: serde_json::Value =
        serde_json::from_slice(&fetcher.get(&format!("{registry}/v1/status-lists"))?)
            .context("the registry's list of status lists is not JSON")?;
    let numbers: Vec<u32> = index
        .get("status_lists")
        .and_then(|v| v.as_array())
        .context("the registry's answer names no status_lists")?
        .iter()
        .filter_map(|n| n.as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect();
    let mut kept = 0;
    for number in &numbers {
        let bytes = fetcher.get(&status::list_uri(&registry, *number))?;
        state.accept_status_list(&bytes).map_err(|reason| {
            anyhow::anyhow!("status list {number} from the registry is refused: {reason}")
        })?;
        dir.write(&dir.status_file(*number), &bytes)?;
        kept += 1;
    }
    Ok(kept)
}
