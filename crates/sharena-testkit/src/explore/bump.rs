//! Bump scenarios (to come).

use super::Scenario;

/// The bump scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    Vec::new()
}
