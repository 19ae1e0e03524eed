//! JSON input decoding with field-level errors: the one place serde's messages become
//! [`FieldError`]s, for request bodies and for the domain's own tests.

use serde::de::DeserializeOwned;

use super::error::{FieldError, field_code};

/// Decodes a JSON object into a domain input type, turning serde's complaint into the field it
/// concerns (input types use `deny_unknown_fields`, so a typo is named, not ignored).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    // serde's derived structs also read an array, field by field in order: `[]` would be an
    // update that changes nothing. Every body of the API is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|first| *first != b'{') {
        return Err(FieldError::new("body", field_code::INVALID_TYPE, "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = result.map_err(|error| field_error_from_serde(&error.path().to_string(), error.inner()))?;
    deserializer.end().map_err(|_| FieldError::new("body", field_code::INVALID_FORMAT, "trailing data after JSON"))?;
    Ok(value)
}

fn field_error_from_serde(path: &str, error: &serde_json::Error) -> FieldError {
    let path = if path == "." { "" } else { path };
    let join = |name: &str| {
        if path.is_empty() || path == name || path.ends_with(&format!(".{name}")) {
            if path.is_empty() { name.to_owned() } else { path.to_owned() }
        } else {
            format!("{path}.{name}")
        }
    };
    if !error.is_data() {
        return FieldError::new("body", field_code::INVALID_FORMAT, "the body is not valid JSON");
    }
    // serde_json's data errors end in " at line L column C", which says nothing to a client.
    let message = error.to_string();
    let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(head, _)| head).to_owned();
    if let Some(name) = backticked(&message, "unknown field `") {
        FieldError::new(join(name), field_code::UNEXPECTED_PROPERTY, format!("unknown field `{name}`"))
    } else if let Some(name) = backticked(&message, "missing field `") {
        FieldError::new(join(name), field_code::REQUIRED, format!("`{name}` is required"))
    } else if message.starts_with("invalid type") {
        FieldError::new(or_body(path), field_code::INVALID_TYPE, message)
    } else {
        FieldError::new(or_body(path), field_code::INVALID_VALUE, message)
    }
}

fn or_body(path: &str) -> String {
    if path.is_empty() { "body".to_owned() } else { path.to_owned() }
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        capacity: Option<i64>,
        address: Option<Address>,
    }

    fn first_error(json: &str) -> FieldError {
        decode::<Body>(json.as_bytes()).expect_err(json)
    }

    #[test]
    fn only_an_object_is_a_body() {
        for (json, code) in [
            ("[]", field_code::INVALID_TYPE),
            (r#"["a", 1, null]"#, field_code::INVALID_TYPE),
            ("42", field_code::INVALID_TYPE),
            ("name=a", field_code::INVALID_TYPE),
            ("{\"name\":", field_code::INVALID_FORMAT),
        ] {
            let error = first_error(json);
            assert_eq!((error.field.as_str(), error.code), ("body", code), "{json}");
        }
        assert_eq!(decode::<Body>(br#" {"name":"a"}"#).unwrap().name, "a");
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let top = first_error(r#"{"name":"a","color":"red"}"#);
        assert_eq!((top.field.as_str(), top.code), ("color", field_code::UNEXPECTED_PROPERTY));
        let nested = first_error(r#"{"name":"a","address":{"city":"x","zip":"1"}}"#);
        assert_eq!((nested.field.as_str(), nested.code), ("address.zip", field_code::UNEXPECTED_PROPERTY));
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let missing = first_error(r#"{"capacity":1}"#);
        assert_eq!((missing.field.as_str(), missing.code), ("name", field_code::REQUIRED));
        let mistyped = first_error(r#"{"name":"a","capacity":"ten"}"#);
        assert_eq!((mistyped.field.as_str(), mistyped.code), ("capacity", field_code::INVALID_TYPE));
        assert!(!mistyped.message.contains("line"), "{}", mistyped.message);
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        let error = first_error(r#"{"name":"#);
        assert_eq!((error.field.as_str(), error.code), ("body", field_code::INVALID_FORMAT));
    }
}
