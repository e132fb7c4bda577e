//! The pure core of enroll-kiosk: the product's types and rules (`domain`, including the
//! enrollment record's exact byte format) and the flows as state machines (`flows`). It names no
//! I/O crate: no files, network, clocks, threads, devices, database or GUI toolkit can be reached
//! from here, so every rule is a function of its inputs.

#![forbid(unsafe_code)]

pub mod domain;
pub mod flows;
