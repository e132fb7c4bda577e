//! Pure types and rules of the product (languages, tiers, and later documents, records and verdicts);
//! nothing here touches devices, files, clocks, the network or the GUI toolkit.

pub mod language;
pub mod tier;
