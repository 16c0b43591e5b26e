//! Slab scenarios (to come).

use super::Scenario;

/// The slab scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    Vec::new()
}
