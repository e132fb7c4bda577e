//! Pure types and rules of the product: languages, tiers, identity documents, the SAM frame
//! protocol, MRZ, ICAO LDS structures; nothing here touches devices, files, clocks, the network or
//! the GUI toolkit.

pub mod activation;
pub mod applicant_receipt;
pub mod card_read;
pub mod challenge;
pub mod crockford;
pub mod document;
pub mod icao_lds;
pub mod id_text;
pub mod language;
pub mod mrz;
pub mod mrz_scan;
pub mod officer;
pub mod record;
pub mod reference;
pub mod roster;
pub mod sam_frame;
pub mod tier;
pub mod time;
