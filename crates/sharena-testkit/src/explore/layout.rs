//! Layout scenarios (to come).

use super::Scenario;

/// The layout scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    Vec::new()
}
