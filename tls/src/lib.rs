//! weir-tls: certificate material (kubernetes.io/tls Secrets, SNI selection, verifiers).
//!
//! Empty until HTTPS listeners land (issue 4); the crate exists so that the dependency
//! direction root → controller → proxy → tls is fixed from the start.
