//! Cryptography of the terminal: ICAO Basic Access Control and secure messaging today; terminal
//! keys, record signing, sealing and receipts later. It holds no device or file I/O.

pub mod bac;
