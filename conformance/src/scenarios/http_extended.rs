//! GATEWAY-HTTP extended features.

use crate::suite::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![]
}
