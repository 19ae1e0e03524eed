//! Deployed verification paths: RS256/ES256 public keys given as PEM or fetched as a JWKS.

use std::path::PathBuf;

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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0_u8; 4096];
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn an_rsa_public_key_verifies_rs256_and_nothing_else() {
    let verifier = TokenVerifier::new(&config(Some(fixture("rsa-public.pem")), None)).unwrap();
    let principal = verifier.verify(&sign(Algorithm::RS256, None, &rsa_key())).await.unwrap();
    assert_eq!((principal.role, principal.tenant_id), (Role::Organizer, Uuid::from_u128(3)));
    let hs256 = sign(Algorithm::HS256, None, &EncodingKey::from_secret(fixture("rsa-public.pem").as_bytes()));
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
