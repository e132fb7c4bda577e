//! The assurance tier a terminal enrolls at; it does not decide who may use a tier (that is `flows`).

/// Which assurance tier this terminal serves (PRODUCT.md "Assurance tiers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Substantial: an applicant alone at a kiosk; card + live face + passive liveness.
    SelfService,
    /// High: an authenticated officer runs the enrollment and records the decision.
    Officer,
}

impl Tier {
    /// The name used in configuration files and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::SelfService => "self-service",
            Tier::Officer => "officer",
        }
    }
}
