//! Cryptography of the terminal: ICAO Basic Access Control and secure messaging, passive
//! authentication, a throw-away test PKI, and the keys, signatures and HPKE seals of enrollment
//! records. It holds no device or file I/O and takes randomness as seeds.

#![forbid(unsafe_code)]

pub mod bac;
pub mod der;
pub mod hpke;
pub mod keys;
pub mod pace;
pub mod passive_auth;
pub mod records;
