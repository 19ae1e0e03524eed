//! Deployed verification paths: RS256/ES256 public keys given as PEM or fetched as a JWKS.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use shared::auth::{AuthError, Role, TokenVerifier};
use shared::config::JwtConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

fn claims() -> Value {
    json!({ "sub": "u1", "tenant_id": Uuid::from_u128(3), "role": "organizer", "iss": "https://idp.example",
            "aud": "event-service", "exp": chrono::Utc::now().timestamp() + 300 })
}

fn sign(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims(), key).unwrap()
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture("rsa-private.pem").as_bytes()).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(fixture("ec-private.pem").as_bytes()).unwrap()
}

fn config(public_key_pem: Option<String>, jwks_url: Option<String>) -> JwtConfig {
    JwtConfig {
        issuer: "https://idp.example".into(),
        audience: "event-service".into(),
        hs256_secret: None,
        public_key_pem,
        jwks_url,
    }
}

/// Serves `body` as JSON to every request on a loopback port, for the rest of the test.
async fn serve_json(body: String) -> String {
    serve_json_times(body, usize::MAX).await.0
}

/// Serves `body` to the first `times` requests, then closes the port; counts the requests served.
async fn serve_json_times(body: String, times: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    tokio::spawn(async move {
        for _ in 0..times {
            let Ok((mut socket, _)) = listener.accept().await else { break };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = [0_u8; 4096];
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (url, served)
}

#[tokio::test]
async fn an_rsa_public_key_verifies_rs256_and_nothing_else() {
    let verifier = TokenVerifier::new(&config(Some(fixture("rsa-public.pem")), None)).unwrap();
    let principal = verifier.verify(&sign(Algorithm::RS256, None, &rsa_key())).await.unwrap();
    assert_eq!(
        (principal.role, principal.tenant_id),
        (Role::Organizer, shared::domain::ids::TenantId::from_uuid(Uuid::from_u128(3)))
    );
    let hs256 = sign(Algorithm::HS256, None, &EncodingKey::from_secret(fixture("rsa-public.pem").as_bytes()).unwrap());
    assert!(verifier.verify(&hs256).await.is_err(), "no HS256 with a public key (key confusion)");
    assert!(verifier.verify(&sign(Algorithm::ES256, None, &ec_key())).await.is_err());
}

#[tokio::test]
async fn an_ec_public_key_verifies_es256() {
    let verifier = TokenVerifier::new(&config(Some(fixture("ec-public.pem")), None)).unwrap();
    assert!(verifier.verify(&sign(Algorithm::ES256, None, &ec_key())).await.is_ok());
    assert!(verifier.verify(&sign(Algorithm::RS256, None, &rsa_key())).await.is_err());
}

#[tokio::test]
async fn a_jwks_is_fetched_and_keys_are_matched_by_kid() {
    let url = serve_json(fixture("jwks.json")).await;
    let verifier = TokenVerifier::new(&config(None, Some(url))).unwrap();
    assert!(verifier.verify(&sign(Algorithm::RS256, Some("rsa-test-1"), &rsa_key())).await.is_ok());
    assert!(verifier.verify(&sign(Algorithm::ES256, Some("ec-test-1"), &ec_key())).await.is_ok());
    assert!(verifier.verify(&sign(Algorithm::RS256, Some("rotated-away"), &rsa_key())).await.is_err());
    assert!(verifier.verify(&sign(Algorithm::RS256, Some("ec-test-1"), &rsa_key())).await.is_err());
}

#[tokio::test]
async fn an_unreachable_jwks_is_an_outage_not_a_bad_token() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let verifier = TokenVerifier::new(&config(None, Some(format!("http://{closed}/jwks.json")))).unwrap();
    for attempt in 0..2 {
        let result = verifier.verify(&sign(Algorithm::RS256, Some("rsa-test-1"), &rsa_key())).await;
        assert!(matches!(result, Err(AuthError::KeysUnavailable(_))), "attempt {attempt}: {result:?}");
    }
}

#[tokio::test]
async fn the_key_set_is_fetched_at_init_and_serves_after_the_provider_goes_away() {
    let (url, served) = serve_json_times(fixture("jwks.json"), 1).await;
    let verifier = TokenVerifier::new(&config(None, Some(url))).unwrap();
    verifier.prefetch().await;
    assert_eq!(served.load(Ordering::SeqCst), 1, "fetched before any token arrives");
    // The key server is gone now; the keys fetched at init verify tokens.
    let result = verifier.verify(&sign(Algorithm::RS256, Some("rsa-test-1"), &rsa_key())).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn encryption_keys_are_not_signature_keys_and_unknown_key_types_spoil_nothing() {
    let mut set: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let keys = set["keys"].as_array_mut().unwrap();
    let mut encryption = keys.iter().find(|k| k["kid"] == "rsa-test-1").unwrap().clone();
    encryption["kid"] = json!("rsa-enc");
    encryption["use"] = json!("enc");
    keys.push(encryption);
    keys.push(json!({ "kty": "PQC-FUTURE", "kid": "from-the-future", "use": "sig", "pub": "AAAA" }));
    let verifier = TokenVerifier::new(&config(None, Some(serve_json(set.to_string()).await))).unwrap();

    assert!(verifier.verify(&sign(Algorithm::RS256, Some("rsa-test-1"), &rsa_key())).await.is_ok());
    assert!(verifier.verify(&sign(Algorithm::ES256, Some("ec-test-1"), &ec_key())).await.is_ok());
    let under_encryption_key = verifier.verify(&sign(Algorithm::RS256, Some("rsa-enc"), &rsa_key())).await;
    assert!(matches!(under_encryption_key, Err(AuthError::Rejected(_))), "{under_encryption_key:?}");
}

#[test]
fn a_shared_secret_is_refused_when_short_or_beside_public_keys() {
    let with_secret = |secret: &str, jwks_url: Option<String>, pem: Option<String>| JwtConfig {
        hs256_secret: Some(secret.to_owned()),
        ..config(pem, jwks_url)
    };
    let long = "x".repeat(32);
    assert!(TokenVerifier::new(&with_secret(&long, None, None)).is_ok());
    for refused in [
        with_secret(&"x".repeat(31), None, None),
        with_secret(&long, Some("http://127.0.0.1:9/jwks.json".into()), None),
        with_secret(&long, None, Some(fixture("rsa-public.pem"))),
    ] {
        assert!(matches!(TokenVerifier::new(&refused), Err(AuthError::Misconfigured(_))));
    }
}
