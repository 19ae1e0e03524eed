//! Venues: where events happen, with a capacity that bounds every event held there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, FieldError, field_code};
use super::fields::{self, Problems, nullable};
use super::ids::VenueId;

pub const MAX_VENUE_CAPACITY: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    pub capacity: u32,
    pub timezone: String,
    pub address: Option<Address>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    line1: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
}

/// `POST /venues` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVenue {
    name: String,
    capacity: i64,
    timezone: String,
    address: Option<AddressInput>,
}

/// `PUT /venues/{id}` body: every field optional; `address: null` removes the address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateVenue {
    #[serde(default, deserialize_with = "fields::not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    capacity: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    address: Option<Option<AddressInput>>,
}

impl CreateVenue {
    pub fn into_venue(self, id: VenueId, created_by: &str, now: DateTime<Utc>) -> Result<Venue, DomainError> {
        let mut problems = Problems::default();
        let name = problems.take(fields::text("name", &self.name, 1, 200));
        let capacity = problems.take(fields::whole_number("capacity", self.capacity, 1, MAX_VENUE_CAPACITY));
        let timezone = problems.take(fields::time_zone("timezone", &self.timezone));
        let address = self.address.and_then(|a| a.validate(&mut problems));
        problems.finish()?;
        Ok(Venue {
            id,
            name: name.expect("checked"),
            capacity: capacity.expect("checked"),
            timezone: timezone.expect("checked"),
            address,
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

impl UpdateVenue {
    /// The venue as it would be after this update; `version` and `updated_at` move on.
    pub fn apply_to(&self, venue: &Venue, now: DateTime<Utc>) -> Result<Venue, DomainError> {
        let mut problems = Problems::default();
        let mut next = venue.clone();
        if let Some(name) = self.name.as_ref().and_then(|n| problems.take(fields::text("name", n, 1, 200))) {
            next.name = name;
        }
        if let Some(capacity) =
            self.capacity.and_then(|c| problems.take(fields::whole_number("capacity", c, 1, MAX_VENUE_CAPACITY)))
        {
            next.capacity = capacity;
        }
        if let Some(zone) = self.timezone.as_ref().and_then(|z| problems.take(fields::time_zone("timezone", z))) {
            next.timezone = zone;
        }
        match &self.address {
            Some(Some(address)) => next.address = address.clone().validate(&mut problems),
            Some(None) => next.address = None,
            None => {}
        }
        problems.finish()?;
        next.version = venue.version + 1;
        next.updated_at = now;
        Ok(next)
    }
}

impl AddressInput {
    fn validate(self, problems: &mut Problems) -> Option<Address> {
        let line1 = problems.take(fields::text("address.line1", &self.line1, 1, 200));
        let city = problems.take(fields::text("address.city", &self.city, 1, 100));
        let region = problems.take(fields::text("address.region", &self.region, 1, 100));
        let postal_code = problems.take(fields::text("address.postal_code", &self.postal_code, 1, 20));
        let country = problems.take(country_code(&self.country));
        Some(Address { line1: line1?, city: city?, region: region?, postal_code: postal_code?, country: country? })
    }
}

/// ISO 3166-1 alpha-2, upper case as the standard writes it.
fn country_code(raw: &str) -> Result<String, FieldError> {
    let known = raw.len() == 2
        && raw.chars().all(|c| c.is_ascii_uppercase())
        && isocountry::CountryCode::for_alpha2(raw).is_ok();
    if known {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "address.country",
            field_code::INVALID_VALUE,
            "address.country must be an ISO 3166-1 alpha-2 code such as US",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::decode;

    fn create(json: &str) -> Result<Venue, DomainError> {
        decode::<CreateVenue>(json.as_bytes()).map_err(DomainError::invalid)?.into_venue(
            VenueId::from_uuid(uuid::Uuid::nil()),
            "u1",
            Utc::now(),
        )
    }

    fn fields_of(error: DomainError) -> Vec<String> {
        match error {
            DomainError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_venue_is_accepted() {
        let venue = create(
            r#"{"name":"Hall","capacity":500,"timezone":"Europe/Paris",
                "address":{"line1":"1 Rue","city":"Paris","region":"IDF","postal_code":"75001","country":"FR"}}"#,
        )
        .unwrap();
        assert_eq!((venue.capacity, venue.version), (500, 1));
        assert_eq!(venue.address.unwrap().country, "FR");
    }

    #[test]
    fn a_field_without_null_refuses_null_rather_than_ignoring_it() {
        for body in [r#"{"timezone":null}"#, r#"{"name":null}"#, r#"{"capacity":null}"#] {
            let error = decode::<UpdateVenue>(body.as_bytes()).expect_err(body);
            assert_eq!(fields_of(DomainError::invalid(error)).len(), 1, "{body}");
        }
        let cleared = decode::<UpdateVenue>(br#"{"address":null}"#).unwrap();
        assert!(matches!(cleared.address, Some(None)), "address is nullable: null removes it");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let error = create(
            r#"{"name":"","capacity":0,"timezone":"EST",
                "address":{"line1":"1","city":"c","region":"r","postal_code":"p","country":"fr"}}"#,
        )
        .unwrap_err();
        assert_eq!(fields_of(error), ["name", "capacity", "timezone", "address.country"]);
    }

    #[test]
    fn capacity_is_bounded_by_a_million() {
        assert!(create(r#"{"name":"a","capacity":1000000,"timezone":"UTC"}"#).is_ok());
        assert!(create(r#"{"name":"a","capacity":1000001,"timezone":"UTC"}"#).is_err());
    }

    #[test]
    fn an_update_changes_only_what_it_names_and_bumps_the_version() {
        let venue = create(r#"{"name":"Hall","capacity":500,"timezone":"UTC"}"#).unwrap();
        let update: UpdateVenue = decode(br#"{"capacity":600}"#).unwrap();
        let next = update.apply_to(&venue, Utc::now()).unwrap();
        assert_eq!((next.name.as_str(), next.capacity, next.version), ("Hall", 600, 2));
    }
}
