//! The verifier's library: its state directory, syncing the trust and status lists, reading QR
//! codes from camera frames and scanner text, and the verifier screen. The `idverify` binary is
//! its command line; the checks themselves are `enroll_credential::verify`.

#![forbid(unsafe_code)]

pub mod fetch;
pub mod gui;
pub mod lists;
pub mod scan;
pub mod state;
