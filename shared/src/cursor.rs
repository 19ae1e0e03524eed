//! Opaque pagination cursors that cannot be forged or replayed on another list or tenant.
//!
//! A cursor is the DynamoDB key to resume from, MAC'd with HMAC-SHA256 over the key *and* the
//! list's scope (tenant, list name, filters). The scope is not embedded: a cursor presented
//! under any other scope simply fails verification, exactly like a tampered one.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::error::{FieldError, field_code};

type HmacSha256 = Hmac<Sha256>;

/// The DynamoDB key a page resumes from. All our key attributes are strings.
pub type PageKey = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct CursorCodec {
    secret: Vec<u8>,
}

impl CursorCodec {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self { secret: secret.into() }
    }

    pub fn encode(&self, scope: &str, key: &PageKey) -> String {
        let strings: BTreeMap<&str, &str> =
            key.iter().filter_map(|(name, value)| value.as_s().ok().map(|s| (name.as_str(), s.as_str()))).collect();
        let payload = serde_json::to_vec(&strings).expect("a map of strings serializes");
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The key `cursor` carries, if it was made by [`Self::encode`] for this `scope`.
    pub fn decode(&self, scope: &str, cursor: &str) -> Result<PageKey, FieldError> {
        let invalid = || FieldError::new("cursor", field_code::INVALID_VALUE, "cursor is invalid for this list");
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.mac(scope, &payload).verify_slice(&tag).map_err(|_| invalid())?;
        let strings: BTreeMap<String, String> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        Ok(strings.into_iter().map(|(name, value)| (name, AttributeValue::S(value))).collect())
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        // Length-prefix the scope so no scope/payload split can collide with another.
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(payload);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S("T#a#VENUES".into())),
            ("SK".to_owned(), AttributeValue::S("VENUE#1".into())),
        ])
    }

    #[test]
    fn a_cursor_round_trips_within_its_scope() {
        let codec = CursorCodec::new("k".repeat(32));
        let cursor = codec.encode("tenant-a|venues", &key());
        assert_eq!(codec.decode("tenant-a|venues", &cursor).unwrap(), key());
    }

    #[test]
    fn a_cursor_is_refused_in_another_scope() {
        let codec = CursorCodec::new("k".repeat(32));
        let cursor = codec.encode("tenant-a|venues", &key());
        assert!(codec.decode("tenant-b|venues", &cursor).is_err());
        assert!(codec.decode("tenant-a|events", &cursor).is_err());
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let codec = CursorCodec::new("k".repeat(32));
        let cursor = codec.encode("s", &key());
        let (payload, tag) = cursor.split_once('.').unwrap();
        let mut forged: BTreeMap<String, String> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        forged.insert("PK".into(), "T#b#VENUES".into());
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()));
        assert!(codec.decode("s", &forged).is_err());
        assert!(codec.decode("s", "garbage").is_err());
        assert!(codec.decode("s", "").is_err());
    }
}
