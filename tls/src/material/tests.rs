use super::*;
use crate::devcert::DevCa;
use crate::sni::{HostCertificates, SniResolver};

fn load(cert: &str, key: &str) -> Result<LoadedCertificate, CertificateError> {
    LoadedCertificate::from_pem(cert.as_bytes(), key.as_bytes(), unix_now())
}

#[test]
fn valid_wildcard_certificate_loads_with_its_names() {
    let ca = DevCa::new("test ca").unwrap();
    let c = ca.issue(&["*.home.example", "home.example"], 30).unwrap();
    let loaded = load(&c.cert_pem, &c.key_pem).unwrap();
    assert_eq!(loaded.names, vec!["*.home.example", "home.example"]);
    assert!(loaded.expires_in(unix_now()) > 29 * 86_400);
}

#[test]
fn key_of_another_certificate_is_refused() {
    let ca = DevCa::new("test ca").unwrap();
    let a = ca.issue(&["a.example"], 30).unwrap();
    let b = ca.issue(&["b.example"], 30).unwrap();
    assert_eq!(
        load(&a.cert_pem, &b.key_pem).unwrap_err(),
        CertificateError::KeyMismatch
    );
}

#[test]
fn expired_certificate_is_refused_with_its_date() {
    let ca = DevCa::new("test ca").unwrap();
    let c = ca.issue(&["old.example"], -1).unwrap();
    let err = load(&c.cert_pem, &c.key_pem).unwrap_err();
    assert!(matches!(err, CertificateError::Expired(_)), "{err}");
    assert!(
        err.to_string().starts_with("certificate expired at "),
        "{err}"
    );
}

#[test]
fn garbage_pem_is_refused() {
    assert_eq!(
        load("Hello world\n", "Hello world\n").unwrap_err(),
        CertificateError::NoCertificate
    );
    let ca = DevCa::new("test ca").unwrap();
    let c = ca.issue(&["a.example"], 30).unwrap();
    assert_eq!(
        load(&c.cert_pem, "Hello world\n").unwrap_err(),
        CertificateError::NoKey
    );
}

#[test]
fn chain_in_the_wrong_order_is_refused() {
    let ca = DevCa::new("test ca").unwrap();
    let c = ca.issue(&["a.example"], 30).unwrap();
    let good = format!("{}{}", c.cert_pem, ca.cert_pem);
    assert!(load(&good, &c.key_pem).is_ok());
    let reversed = format!("{}{}", ca.cert_pem, c.cert_pem);
    // The CA's own key is not the leaf key either way; the order check speaks first.
    assert_eq!(
        load(&reversed, &c.key_pem).unwrap_err(),
        CertificateError::ChainOrder { index: 0 }
    );
}

#[test]
fn sni_prefers_exact_names_then_one_label_wildcards_then_the_default() {
    let ca = DevCa::new("test ca").unwrap();
    let wildcard = load(&ca.issue(&["*.home.example"], 30).unwrap().cert_pem, "").err();
    assert!(wildcard.is_some(), "a key is required");
    let w = ca.issue(&["*.home.example"], 30).unwrap();
    let e = ca.issue(&["app.home.example"], 30).unwrap();
    let d = ca.issue(&["default.example"], 30).unwrap();
    let (w, e, d) = (
        load(&w.cert_pem, &w.key_pem).unwrap(),
        load(&e.cert_pem, &e.key_pem).unwrap(),
        load(&d.cert_pem, &d.key_pem).unwrap(),
    );
    let r = SniResolver::new(vec![HostCertificates {
        hostname: None,
        certificates: vec![d.clone(), w.clone(), e.clone()],
    }]);
    let pick = |sni: Option<&str>| r.resolve_name(sni).unwrap();
    assert!(
        Arc::ptr_eq(&pick(Some("app.home.example")), &e.key),
        "exact before wildcard"
    );
    assert!(
        Arc::ptr_eq(&pick(Some("photos.home.example")), &w.key),
        "wildcard covers one label"
    );
    assert!(
        Arc::ptr_eq(&pick(Some("a.b.home.example")), &d.key),
        "wildcard does not cover two labels"
    );
    assert!(
        Arc::ptr_eq(&pick(Some("home.example")), &d.key),
        "nor the bare domain"
    );
    assert!(Arc::ptr_eq(&pick(None), &d.key), "no SNI gets the default");
}

#[test]
fn sni_selects_the_most_specific_listener_first() {
    let ca = DevCa::new("test ca").unwrap();
    let a = ca.issue(&["*.example.com"], 30).unwrap();
    let b = ca.issue(&["*.foo.example.com"], 30).unwrap();
    let (a, b) = (
        load(&a.cert_pem, &a.key_pem).unwrap(),
        load(&b.cert_pem, &b.key_pem).unwrap(),
    );
    let r = SniResolver::new(vec![
        HostCertificates {
            hostname: Some("*.example.com".into()),
            certificates: vec![a.clone()],
        },
        HostCertificates {
            hostname: Some("*.foo.example.com".into()),
            certificates: vec![b.clone()],
        },
    ]);
    assert!(Arc::ptr_eq(
        &r.resolve_name(Some("x.foo.example.com")).unwrap(),
        &b.key
    ));
    assert!(Arc::ptr_eq(
        &r.resolve_name(Some("x.example.com")).unwrap(),
        &a.key
    ));
    assert!(
        r.resolve_name(Some("other.org")).is_none(),
        "no listener, no certificate"
    );
    assert!(r.resolve_name(None).is_none());
}
