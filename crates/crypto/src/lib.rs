//! Cryptography of the terminal: ICAO Basic Access Control and secure messaging, PACE, passive
//! authentication, and the keys, signatures and HPKE seals of enrollment records ([`records`]);
//! plus the key files on disk and the OS random source ([`keys`], the crate's only I/O). The
//! test PKI that signs simulated chips is `enroll_sim::sod_issuer`.

#![forbid(unsafe_code)]

pub mod bac;
pub mod der;
pub mod keys;
pub mod pace;
pub mod passive_auth;
pub mod records;
