//! The fault suite's tools, for tests and `scripts/soak.sh` only (never in a kiosk or registry
//! package): [`power_cut`] is a file system that keeps every write in memory until it is synced,
//! so killing its process is a power cut; [`netns`] builds hosts in network namespaces joined by
//! veth links that can be cut or made lossy with nftables.
//!
//! It knows nothing of records, outboxes or registries: the tests and the soak bring those.

#![forbid(unsafe_code)]

pub mod netns;
pub mod power_cut;
