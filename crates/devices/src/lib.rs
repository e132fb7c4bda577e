//! Hardware behind small fallible traits, with the real backends: identity-card readers
//! ([`card`]: SAM serial, PC/SC ICAO, the MRZ scanner, the badge reader) and cameras ([`camera`]:
//! V4L2), the receipt printer ([`printer`]: ESC/POS on a serial port) and the key token
//! ([`token`]: the terminal's signing key in a PKCS#11 token). The simulations that stand in for them live in `enroll_sim`, outside a production
//! kiosk. Devices run on named threads; nothing here draws or decides a flow step.

#![forbid(unsafe_code)]

pub mod camera;
pub mod card;
pub mod printer;
pub mod token;
