//! Pure state machines of the terminal: events in, state and effects out, time as an input.
//! Nothing here draws, touches devices or reads the clock.

pub mod applicant;
pub mod officer;
pub mod officer_auth;
pub mod technician;
