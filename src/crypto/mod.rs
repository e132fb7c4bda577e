//! Cryptography of the terminal: ICAO Basic Access Control and secure messaging, passive
//! authentication, and a throw-away test PKI; terminal keys, record signing, sealing and receipts
//! later. It holds no device or file I/O.

pub mod bac;
pub mod der;
pub mod pace;
pub mod passive_auth;
pub mod sod_issuer;
