//! Simulations of the hardware and services a development machine lacks, for demos, training and
//! tests: the SAM reader emulator on a pseudo-terminal, the MRZ scanner emulator, the virtual
//! ICAO passport behind `vpcd`, the throw-away test PKI that signs its security object, the camera
//! that plays image files, and the demo's fault switch. A production kiosk is built without this
//! crate (the kiosk's `demo` feature); nothing here is a real device backend.

#![forbid(unsafe_code)]

pub mod faults;
pub mod file_camera;
pub mod mrz_scanner_emulator;
pub mod printer_emulator;
pub mod sam_emulator;
pub mod sod_issuer;
pub mod vpcd_passport;
