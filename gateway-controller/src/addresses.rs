//! The address pool for Gateways without `spec.addresses`: each gets its own address, kept
//! for as long as the Gateway exists, so two Gateways never share one by accident.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use weir_store::{NsName, Snapshot};

pub struct AddressPool {
    net: IpNet,
    assigned: BTreeMap<NsName, IpAddr>,
}

impl AddressPool {
    pub fn new(net: IpNet) -> Self {
        AddressPool {
            net,
            assigned: BTreeMap::new(),
        }
    }

    /// Releases addresses of Gateways that are gone and assigns the lowest free address to each
    /// new Gateway without `spec.addresses` (in namespace/name order). Addresses already given
    /// are never moved.
    pub fn assign(&mut self, snapshot: &Snapshot) -> &BTreeMap<NsName, IpAddr> {
        let wanting: Vec<&NsName> = snapshot
            .gateways
            .iter()
            .filter(|(_, g)| {
                !g.spec
                    .addresses
                    .iter()
                    .flatten()
                    .any(|a| a.value.as_deref().is_some_and(|v| !v.is_empty()))
            })
            .map(|(id, _)| id)
            .collect();
        self.assigned.retain(|id, _| wanting.contains(&id));
        let mut used: std::collections::HashSet<IpAddr> = self.assigned.values().copied().collect();
        // Addresses Gateways ask for explicitly are not handed out either.
        for g in snapshot.gateways.values() {
            for a in g.spec.addresses.iter().flatten() {
                if let Some(ip) = a.value.as_deref().and_then(|v| v.parse().ok()) {
                    used.insert(ip);
                }
            }
        }
        for id in wanting {
            if self.assigned.contains_key(id) {
                continue;
            }
            let free = self.net.hosts().find(|ip| !used.contains(ip));
            if let Some(ip) = free {
                used.insert(ip);
                self.assigned.insert(id.clone(), ip);
            }
        }
        &self.assigned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_api::gateways::{Gateway, GatewaySpec};
    use weir_store::Object;

    fn gw(name: &str) -> Object {
        let mut g = Gateway::new(name, GatewaySpec::default());
        g.metadata.namespace = Some("ns".into());
        Object::Gateway(std::sync::Arc::new(g))
    }

    #[test]
    fn addresses_are_stable_and_distinct() {
        let mut pool = AddressPool::new("127.0.10.0/30".parse().unwrap());
        let mut s = Snapshot::default();
        s.insert(gw("b"));
        let first = pool.assign(&s).clone();
        assert_eq!(first[&NsName::new("ns", "b")].to_string(), "127.0.10.1");
        s.insert(gw("a"));
        let second = pool.assign(&s).clone();
        assert_eq!(
            second[&NsName::new("ns", "b")].to_string(),
            "127.0.10.1",
            "b keeps its address"
        );
        assert_eq!(second[&NsName::new("ns", "a")].to_string(), "127.0.10.2");
        s.insert(gw("c"));
        assert_eq!(
            pool.assign(&s).len(),
            2,
            "a /30 has two hosts; c waits for one"
        );
    }
}
