//! Handles scenarios (to come).

use super::Scenario;

/// The handles scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    Vec::new()
}
