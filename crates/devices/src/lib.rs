//! Hardware behind small fallible traits, each with a real backend and a simulation beside it:
//! identity-card readers and cameras. Devices run on named threads; nothing here draws
//! or decides a flow step.

#![forbid(unsafe_code)]

pub mod camera;
pub mod card;
