//! Property tests of every request-body validator. Each case is an object of valid values
//! (optional fields present or not) with at most one field broken; the validator must accept
//! exactly the unbroken cases and, otherwise, name the broken field and no other. The field
//! validators they are built from get oracles of their own.
//!
//! Cases per property: `PROPTEST_CASES` (`make test` sets 10,000; `make fuzz` more).

use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Map, Value, json};

use super::cancellation::CancelInput;
use super::error::DomainError;
use super::event::{EventInput, InputKind};
use super::fields;
use super::json::decode;
use super::quote::QuoteInput;
use super::reservation::{ConfirmInput, ReservationInput};
use super::ticket_type::TicketTypeInput;
use super::venue::{CreateVenue, UpdateVenue};

/// A field of a body: what a valid body holds there (`None`: the field is left out), and what
/// breaks it (`None`: leaving it out).
struct Field {
    name: &'static str,
    valid: BoxedStrategy<Option<Value>>,
    invalid: BoxedStrategy<Option<Value>>,
}

/// Always there; broken by a bad value or by leaving it out.
fn required(name: &'static str, valid: BoxedStrategy<Value>, invalid: BoxedStrategy<Value>) -> Field {
    Field {
        name,
        valid: valid.prop_map(Some).boxed(),
        invalid: prop_oneof![invalid.prop_map(Some), Just(None)].boxed(),
    }
}

/// There or not; broken by a bad value.
fn optional(name: &'static str, valid: BoxedStrategy<Value>, invalid: BoxedStrategy<Value>) -> Field {
    Field { name, valid: proptest::option::of(valid).boxed(), invalid: invalid.prop_map(Some).boxed() }
}

/// Never there (`status` and `version` on a create); broken by giving it at all.
fn forbidden(name: &'static str, any_value: BoxedStrategy<Value>) -> Field {
    Field { name, valid: Just(None).boxed(), invalid: any_value.prop_map(Some).boxed() }
}

/// A body and the field broken in it, if any.
fn bodies(fields: Vec<Field>) -> impl Strategy<Value = (Value, Option<&'static str>)> {
    let names: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
    let values: Vec<BoxedStrategy<Option<Value>>> = fields.iter().map(|f| f.valid.clone()).collect();
    let broken = Union::new(fields.into_iter().enumerate().map(|(i, f)| f.invalid.prop_map(move |v| (i, v)).boxed()));
    (values, proptest::option::weighted(0.7, broken)).prop_map(move |(values, broken)| {
        let mut body = Map::new();
        for (i, value) in values.into_iter().enumerate() {
            if let Some(value) = value {
                body.insert(names[i].to_owned(), value);
            }
        }
        if let Some((i, value)) = &broken {
            match value {
                Some(value) => body.insert(names[*i].to_owned(), value.clone()),
                None => body.remove(names[*i]),
            };
        }
        (Value::Object(body), broken.map(|(i, _)| names[i]))
    })
}

/// The fields a refusal names (decoding and validation alike).
fn named<T>(result: Result<T, DomainError>) -> Result<T, Vec<String>> {
    result.map_err(|error| match error {
        DomainError::Invalid(errors) | DomainError::BrokenRule(errors) => errors.into_iter().map(|e| e.field).collect(),
        DomainError::Conflict { fields, .. } => fields.into_iter().map(|e| e.field).collect(),
    })
}

fn decoded<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, Vec<String>> {
    decode(body.to_string().as_bytes()).map_err(|e| vec![e.field])
}

/// The property itself: accepted exactly when nothing is broken, else refused on that field
/// (a nested field's error names its path below it).
fn check<T: std::fmt::Debug>(
    outcome: Result<T, Vec<String>>,
    broken: Option<&str>,
    body: &Value,
) -> Result<(), TestCaseError> {
    match (outcome, broken) {
        (Ok(_), None) => Ok(()),
        (Ok(accepted), Some(field)) => {
            Err(TestCaseError::fail(format!("{field} broken, yet accepted: {body} → {accepted:?}")))
        }
        (Err(named), None) => Err(TestCaseError::fail(format!("nothing broken, yet refused on {named:?}: {body}"))),
        (Err(named), Some(field)) => {
            let on_field =
                |n: &String| n == field || n.starts_with(&format!("{field}.")) || n.starts_with(&format!("{field}["));
            prop_assert!(
                !named.is_empty() && named.iter().all(on_field),
                "{field} broken, refused on {named:?}: {body}"
            );
            Ok(())
        }
    }
}

// ---- value strategies ----

/// Text of `min..=max` characters: short random ones, and the longest allowed. Letters,
/// spaces, accents, CJK and emoji, since lengths are counted in characters, not bytes.
fn text(min: usize, max: usize) -> BoxedStrategy<Value> {
    let chars = prop_oneof![Just('a'), Just(' '), Just('é'), Just('漢'), Just('🎟'), Just('<')];
    let short = proptest::collection::vec(chars, min..=max.min(min + 12)).prop_filter_map("not blank", move |chars| {
        let text: String = chars.into_iter().collect();
        (min == 0 || !text.trim().is_empty()).then_some(Value::String(text))
    });
    prop_oneof![4 => short, 1 => Just(json!("🎟".repeat(max.max(1)))).prop_filter("fits", move |_| max >= 1)].boxed()
}

fn bad_text(max: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("   ")),
        Just(json!("x".repeat(max + 1))),
        (max + 1..max + 40).prop_map(|n| json!("x".repeat(n))),
        Just(json!(42)),
        Just(json!(["a"])),
    ]
    .boxed()
}

fn too_long_or_wrong_type(max: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("y".repeat(max + 1))),
        (max + 1..max + 40).prop_map(|n| json!("y".repeat(n))),
        Just(json!(7)),
        Just(json!({})),
    ]
    .boxed()
}

fn number(min: i64, max: i64) -> BoxedStrategy<Value> {
    prop_oneof![Just(min), Just(max), min..=max].prop_map(|n| json!(n)).boxed()
}

fn bad_number(min: i64, max: i64) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!(min - 1)),
        Just(json!(max + 1)),
        (i64::MIN..min).prop_map(|n| json!(n)),
        (max.saturating_add(1)..=i64::MAX).prop_map(|n| json!(n)),
        Just(json!("12")),
        Just(json!(1.5)),
    ]
    .boxed()
}

fn one_of(values: &[&'static str]) -> BoxedStrategy<Value> {
    proptest::sample::select(values.to_vec()).prop_map(|v| json!(v)).boxed()
}

fn timestamp(year: i32) -> BoxedStrategy<Value> {
    (1u32..=12, 1u32..=28, 0u32..24, prop_oneof![Just("Z"), Just("+02:00"), Just("-04:00")])
        .prop_map(move |(month, day, hour, offset)| {
            json!(format!("{year}-{month:02}-{day:02}T{hour:02}:30:00{offset}"))
        })
        .boxed()
}

fn bad_timestamp() -> BoxedStrategy<Value> {
    one_of(&["2030-06-15T19:00:00", "2030-06-15", "15/06/2030 19:00", "2030-13-01T00:00:00Z", "soon", ""])
}

fn uuid() -> BoxedStrategy<Value> {
    any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n).to_string())).boxed()
}

fn bad_uuid() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n).simple().to_string())),
        any::<u128>().prop_map(|n| json!(format!("{{{}}}", uuid::Uuid::from_u128(n)))),
        Just(json!("not-a-uuid")),
        Just(json!(17)),
    ]
    .boxed()
}

fn time_zone() -> BoxedStrategy<Value> {
    one_of(&["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "America/Argentina/Salta"])
}

fn bad_time_zone() -> BoxedStrategy<Value> {
    one_of(&["EST", "CET", "Japan", "europe/paris", "Mars/Olympus_Mons", "", "+02:00"])
}

/// Absent, or `null` where the field cannot be cleared.
fn null() -> BoxedStrategy<Value> {
    Just(Value::Null).boxed()
}

// ---- the validators ----

fn venue_fields(all_optional: bool) -> Vec<Field> {
    let pick = if all_optional { optional } else { required };
    let address = (text(1, 200), text(1, 100), text(1, 100), text(1, 20), one_of(&["FR", "US", "JP", "DE"]))
        .prop_map(|(line1, city, region, postal_code, country)| {
            json!({ "line1": line1, "city": city, "region": region, "postal_code": postal_code, "country": country })
        })
        .boxed();
    let valid_address =
        json!({ "line1": "1 Rue", "city": "Lyon", "region": "ARA", "postal_code": "69001", "country": "FR" });
    let broken_part = (
        proptest::sample::select(vec![("line1", 200), ("city", 100), ("region", 100), ("postal_code", 20)]),
        any::<bool>(),
    )
        .prop_map(move |((part, max), blank)| {
            let mut address = valid_address.clone();
            address[part] = if blank { json!("  ") } else { json!("p".repeat(max + 1)) };
            address
        });
    let bad_address = prop_oneof![
        broken_part,
        Just(json!({ "line1": "1 Rue", "city": "Lyon", "region": "ARA", "postal_code": "69001", "country": "XX" })),
        Just(json!({ "line1": "1 Rue", "city": "Lyon", "region": "ARA", "postal_code": "69001", "country": "fr" })),
        Just(json!({ "line1": "1 Rue", "city": "Lyon", "region": "ARA", "postal_code": "69001" })),
        Just(json!({ "line1": "1 Rue", "city": "Lyon", "region": "ARA", "postal_code": "69001", "country": "FR", "x": 1 })),
    ]
    .boxed();
    vec![
        pick("name", text(1, 200), bad_text(200)),
        pick("capacity", number(1, 1_000_000), bad_number(1, 1_000_000)),
        pick("timezone", time_zone(), bad_time_zone()),
        optional("address", address, bad_address),
    ]
}

fn event_fields(kind: InputKind) -> Vec<Field> {
    let pick = if kind == InputKind::Create { required } else { optional };
    let mut fields = vec![
        pick("name", text(1, 300), bad_text(300)),
        pick("venue_id", uuid(), bad_uuid()),
        pick("starts_at", timestamp(2030), bad_timestamp()),
        pick("ends_at", timestamp(2031), bad_timestamp()),
        optional("description", text(0, 10_000), too_long_or_wrong_type(10_000)),
        optional("short_description", text(0, 500), too_long_or_wrong_type(500)),
        optional("category", one_of(&["music", "sports", "theater", "family"]), one_of(&["Music", "opera", ""])),
        optional(
            "tags",
            prop_oneof![
                proptest::collection::vec(text(1, 50), 0..=3).prop_map(|t| json!(t)),
                Just(json!(vec!["z".repeat(50); 20])),
            ]
            .boxed(),
            prop_oneof![
                Just(json!(vec!["t"; 21])),
                Just(json!([""])),
                Just(json!(["z".repeat(51)])),
                Just(json!("music")),
                null(),
            ]
            .boxed(),
        ),
        optional("visibility", one_of(&["PUBLIC", "PRIVATE", "UNLISTED"]), one_of(&["public", "SECRET"])),
        optional("doors_open_at", timestamp(2029), bad_timestamp()),
        optional("timezone", time_zone(), bad_time_zone()),
        optional("capacity", number(1, 1_000_000), bad_number(1, 1_000_000)),
        optional("cancellation_deadline_hours", number(0, 8760), bad_number(0, 8760)),
        optional(
            "image_url",
            one_of(&["https://cdn.example.com/a.png", "https://images.example.org/x/y.jpg?w=300"]),
            one_of(&["http://cdn.example.com/a.png", "https://localhost/a.png", "https://10.1.2.3/a.png", "not a url"]),
        ),
        optional("age_restriction", number(0, 100), bad_number(0, 100)),
        optional(
            "metadata",
            prop_oneof![
                proptest::collection::btree_map("[a-z]{1,8}", "[a-z ]{0,20}", 0..=3).prop_map(|m| json!(m)),
                Just(json!((0..50).map(|i| (format!("k{i}"), json!(i))).collect::<Map<_, _>>())),
            ]
            .boxed(),
            prop_oneof![
                Just(json!((0..51).map(|i| (format!("k{i}"), json!(i))).collect::<Map<_, _>>())),
                Just(json!({ "big": "m".repeat(9000) })),
                Just(json!(["not", "an", "object"])),
            ]
            .boxed(),
        ),
    ];
    if kind == InputKind::Update {
        fields.push(optional("status", one_of(&["PUBLISHED", "ON_SALE", "SOLD_OUT"]), one_of(&["LIVE", "published"])));
        fields.push(optional("version", number(1, i64::from(u32::MAX)), bad_number(1, i64::from(u32::MAX))));
    } else {
        fields.push(forbidden("status", one_of(&["DRAFT", "PUBLISHED"])));
        fields.push(forbidden("version", number(1, 10)));
    }
    fields
}

fn ticket_type_fields(creating: bool) -> Vec<Field> {
    let pick = if creating { required } else { optional };
    let version = if creating {
        forbidden("version", number(1, 10))
    } else {
        optional("version", number(1, i64::from(u32::MAX)), bad_number(1, i64::from(u32::MAX)))
    };
    let pricing = prop_oneof![
        Just(json!({ "early_bird": { "price": 500, "ends_at": "2029-01-01T00:00:00Z" } })),
        Just(json!({ "group_discount": { "min_quantity": 2, "percent": 100 } })),
        Just(json!({ "demand": { "steps": [{ "sold_percent": 50, "price": 12_000 }], "max_price": 99_999_999 } })),
        Just(json!({ "last_minute": { "price": 99_999_999, "starts_at": "2030-01-01T00:00:00Z" } })),
        Just(json!(null)),
    ]
    .boxed();
    let bad_pricing = prop_oneof![
        Just(json!({ "early_bird": { "price": 100_000_000, "ends_at": "2029-01-01T00:00:00Z" } })),
        Just(json!({ "group_discount": { "min_quantity": 1, "percent": 10 } })),
        Just(json!({ "group_discount": { "min_quantity": 2, "percent": 101 } })),
        Just(json!({ "demand": { "steps": [{ "sold_percent": 50, "price": 100_000_000 }] } })),
        Just(json!({ "demand": { "steps": [{ "sold_percent": 0, "price": 100 }] } })),
        Just(json!({ "demand": { "steps": [{ "sold_percent": 101, "price": 100 }] } })),
        Just(json!({ "demand": { "steps": [{ "sold_percent": 50, "price": 100 }], "max_price": 100_000_000 } })),
        Just(json!({ "last_minute": { "price": 100_000_000, "starts_at": "2030-01-01T00:00:00Z" } })),
        Just(json!({ "surge": {} })),
    ]
    .boxed();
    vec![
        pick("name", text(1, 100), bad_text(100)),
        pick("price", number(0, 99_999_999), bad_number(0, 99_999_999)),
        pick("quantity", number(1, 1_000_000), bad_number(1, 1_000_000)),
        optional("description", text(0, 1000), too_long_or_wrong_type(1000)),
        optional("currency", one_of(&["USD", "EUR", "JPY"]), one_of(&["usd", "EURO", "", "€"])),
        optional("service_fee", number(0, 99_999_999), bad_number(0, 99_999_999)),
        optional("facility_fee", number(0, 99_999_999), bad_number(0, 99_999_999)),
        optional("tax_rate_bps", number(0, 10_000), bad_number(0, 10_000)),
        optional("sales_start_at", timestamp(2029), bad_timestamp()),
        optional("sales_end_at", timestamp(2030), bad_timestamp()),
        optional("min_per_order", number(1, 100), bad_number(1, 100)),
        optional("max_per_order", number(1, 100), bad_number(1, 100)),
        optional("pricing", pricing, bad_pricing),
        version,
    ]
}

fn line() -> BoxedStrategy<Value> {
    // 0 is well-formed: a quantity outside the type's own min/max per order is a 422 at pricing.
    (uuid(), 0i64..=super::reservation::MAX_LINE_QUANTITY)
        .prop_map(|(id, q)| json!({ "ticket_type_id": id, "quantity": q }))
        .boxed()
}

fn items() -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    let valid = proptest::collection::vec(line(), 1..=10)
        .prop_filter("distinct types", |lines| {
            let ids: std::collections::HashSet<_> = lines.iter().map(|l| l["ticket_type_id"].clone()).collect();
            ids.len() == lines.len()
        })
        .prop_map(|lines| json!(lines))
        .boxed();
    let invalid = prop_oneof![
        Just(json!([])),
        proptest::collection::vec(line(), 11..=14).prop_map(|lines| json!(lines)),
        line().prop_map(|l| json!([l.clone(), l])),
        uuid().prop_map(|id| json!([{ "ticket_type_id": id, "quantity": super::reservation::MAX_LINE_QUANTITY + 1 }])),
        uuid().prop_map(|id| json!([{ "ticket_type_id": id, "quantity": -3 }])),
        Just(json!([{ "ticket_type_id": "nope", "quantity": 1 }])),
        Just(json!({ "ticket_type_id": "nope" })),
    ]
    .boxed();
    (valid, invalid)
}

/// `PROPTEST_CASES`, or proptest's default when unset (plain `cargo test`).
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn venue_create((body, broken) in bodies(venue_fields(false))) {
        let outcome = decoded::<CreateVenue>(&body).and_then(|input| {
            named(input.into_venue(uuid::Uuid::nil().into(), "someone", chrono::Utc::now()))
        });
        check(outcome, broken, &body)?;
    }

    #[test]
    fn venue_update((body, broken) in bodies(venue_fields(true))) {
        let existing = decoded::<CreateVenue>(&json!({ "name": "Hall", "capacity": 10, "timezone": "UTC" }))
            .unwrap()
            .into_venue(uuid::Uuid::nil().into(), "someone", chrono::Utc::now())
            .unwrap();
        let outcome = decoded::<UpdateVenue>(&body).and_then(|input| named(input.apply_to(&existing, chrono::Utc::now())));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn event_create((body, broken) in bodies(event_fields(InputKind::Create))) {
        let outcome = decoded::<EventInput>(&body).and_then(|input| named(input.validate(InputKind::Create)));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn event_update((body, broken) in bodies(event_fields(InputKind::Update))) {
        let outcome = decoded::<EventInput>(&body).and_then(|input| named(input.validate(InputKind::Update)));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn ticket_type_create((body, broken) in bodies(ticket_type_fields(true))) {
        let outcome = decoded::<TicketTypeInput>(&body).and_then(|input| named(input.validate(true)));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn ticket_type_update((body, broken) in bodies(ticket_type_fields(false))) {
        let outcome = decoded::<TicketTypeInput>(&body).and_then(|input| named(input.validate(false)));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn reservation((body, broken) in {
        let (valid, invalid) = items();
        bodies(vec![required("items", valid, invalid), optional("hold_minutes", number(1, 60), bad_number(1, 60))])
    }) {
        let outcome = decoded::<ReservationInput>(&body).and_then(|input| named(input.validate()));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn price_quote((body, broken) in {
        let (valid, invalid) = items();
        bodies(vec![required("items", valid, invalid)])
    }) {
        let outcome = decoded::<QuoteInput>(&body).and_then(|input| named(input.validate()));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn confirm((body, broken) in bodies(vec![required("payment_reference", text(1, 200), bad_text(200))])) {
        let outcome = decoded::<ConfirmInput>(&body).and_then(|input| named(input.validate()));
        check(outcome, broken, &body)?;
    }

    #[test]
    fn cancel((body, broken) in bodies(vec![
        required("reason", text(1, 1000), bad_text(1000)),
        optional("notify_holders", any::<bool>().prop_map(|b| json!(b)).boxed(), one_of(&["yes", "true"])),
    ])) {
        let outcome = decoded::<CancelInput>(&body)
            .and_then(|input| named(input.into_cancellation(uuid::Uuid::nil().into(), "admin", chrono::Utc::now())));
        check(outcome, broken, &body)?;
    }

    /// The refund policy and its percent go together: partial needs 1–99, the others none.
    #[test]
    fn cancel_policy(policy in one_of(&["full", "partial", "none", "half"]), percent in proptest::option::of(-5i64..110)) {
        let mut body = json!({ "reason": "Storm", "refund_policy": policy });
        if let Some(percent) = percent {
            body["partial_percent"] = json!(percent);
        }
        let outcome = decoded::<CancelInput>(&body)
            .and_then(|input| named(input.into_cancellation(uuid::Uuid::nil().into(), "admin", chrono::Utc::now())));
        let policy = policy.as_str().unwrap();
        let expected = match (policy, percent) {
            ("half", _) => Some("refund_policy"),
            ("partial", Some(p)) if (1..=99).contains(&p) => None,
            ("partial", _) | (_, Some(_)) => Some("partial_percent"),
            _ => None,
        };
        check(outcome, expected, &body)?;
    }

    // ---- the field validators, against oracles ----

    #[test]
    fn text_counts_characters_and_refuses_blank(chars in proptest::collection::vec(prop_oneof![Just('a'), Just(' '), Just('\t'), Just('é'), Just('🎟')], 0..30), min in 0usize..3, max in 0usize..25) {
        let value: String = chars.iter().collect();
        let ok = (min == 0 || !value.trim().is_empty()) && (min..=max).contains(&chars.len());
        prop_assert_eq!(fields::text("f", &value, min, max).is_ok(), ok, "{:?} {}..={}", value, min, max);
    }

    #[test]
    fn whole_numbers_are_in_range((min, max, value) in (-5i64..5, 0i64..1_000_000).prop_flat_map(|(min, span)| {
        let max = min + span;
        (Just(min), Just(max), prop_oneof![Just(min - 1), Just(min), Just(max), Just(max + 1), min - 2..=max + 2, any::<i64>()])
    })) {
        let ok = (min..=max).contains(&value) && value >= 0;
        prop_assert_eq!(fields::whole_number("f", value, min, max).ok(), ok.then(|| u32::try_from(value).unwrap()));
    }

    #[test]
    fn ids_are_hyphenated_uuids(n in any::<u128>(), spelling in 0usize..4) {
        let id = uuid::Uuid::from_u128(n);
        let raw = [id.hyphenated().to_string(), id.simple().to_string(), id.urn().to_string(), id.braced().to_string()][spelling].clone();
        prop_assert_eq!(fields::id::<uuid::Uuid>("f", &raw).is_ok(), spelling == 0);
        prop_assert_eq!(fields::id::<uuid::Uuid>("f", &raw.to_uppercase()).ok(), (spelling == 0).then_some(id));
    }

    #[test]
    fn timestamps_need_an_offset(seconds in 0i64..4_102_444_800, offset_minutes in -720i32..=840, with_offset in any::<bool>()) {
        let at = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
        let zone = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let local = at.with_timezone(&zone);
        let raw = if with_offset { local.to_rfc3339() } else { local.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string() };
        prop_assert_eq!(fields::timestamp("f", &raw).ok(), with_offset.then_some(at));
    }

    #[test]
    fn image_urls_are_public_https(host in prop_oneof![
        Just(("cdn.example.com", true)), Just(("93.184.216.34", true)), Just(("[2606:4700::1111]", true)),
        Just(("localhost", false)), Just(("127.0.0.1", false)), Just(("10.0.0.1", false)), Just(("172.16.5.4", false)),
        Just(("192.168.0.10", false)), Just(("169.254.169.254", false)), Just(("[::1]", false)), Just(("[fe80::1]", false)),
        Just(("0.0.0.0", false)),
    ], scheme in prop_oneof![Just("https"), Just("http"), Just("ftp")], path in "[a-z0-9/]{0,20}") {
        let raw = format!("{scheme}://{}/{path}", host.0);
        prop_assert_eq!(fields::public_https_url("f", &raw).is_ok(), host.1 && scheme == "https", "{}", raw);
    }
}
