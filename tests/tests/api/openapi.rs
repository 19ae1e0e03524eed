//! The closed lists in infra/openapi.yaml are exactly what the validators accept, so a client
//! generated from the file (or schemathesis) never sends a value the service refuses.

use std::collections::BTreeSet;

use crate::harness::project_root;

fn schema_enum(name: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(project_root().join("infra/openapi.yaml")).unwrap();
    let spec: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    spec["components"]["schemas"][name]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("components.schemas.{name} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// On a mismatch, prints the list to paste into the file.
fn assert_listed(name: &str, accepted: &BTreeSet<String>) {
    let listed = schema_enum(name);
    assert!(
        &listed == accepted,
        "components.schemas.{name}.enum differs from what the code accepts; it should be:\n[{}]",
        accepted.iter().cloned().collect::<Vec<_>>().join(", ")
    );
}

#[test]
fn the_time_zones_listed_are_exactly_those_accepted() {
    let accepted = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .filter(|name| shared::domain::fields::time_zone("timezone", name).is_ok())
        .collect();
    assert_listed("TimeZone", &accepted);
}

#[test]
fn the_countries_listed_are_exactly_those_accepted() {
    let accepted = isocountry::CountryCode::iter().map(|country| country.alpha2().to_owned()).collect();
    assert_listed("CountryCode", &accepted);
}
