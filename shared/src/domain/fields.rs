//! Field-level checks shared by the request types. Each check records a [`FieldError`]
//! instead of returning early, so a client learns about every bad field at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use uuid::Uuid;

use super::error::{DomainError, FieldError, field_code};

#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Keeps the value if the check passed, records the error otherwise.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|error| self.0.push(error)).ok()
    }

    /// Every recorded problem as one [`DomainError::Invalid`], or `Ok` when there are none.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Invalid(self.0)) }
    }
}

/// Text of `min..=max` characters (not bytes); `min >= 1` also refuses blank text.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let chars = value.chars().count();
    if min > 0 && value.trim().is_empty() {
        return Err(FieldError::new(field, field_code::REQUIRED, format!("{field} must not be blank")));
    }
    if chars < min || chars > max {
        let code = if chars > max { field_code::TOO_LONG } else { field_code::OUT_OF_RANGE };
        return Err(FieldError::new(field, code, format!("{field} must be {min} to {max} characters")));
    }
    Ok(value.to_owned())
}

/// A hyphenated UUID (ids in paths and bodies); other spellings are refused, so one id has
/// one spelling everywhere.
pub fn id<Id: From<Uuid>>(field: &str, raw: &str) -> Result<Id, FieldError> {
    let invalid = || FieldError::new(field, field_code::INVALID_FORMAT, "must be a UUID");
    if raw.len() != 36 {
        return Err(invalid());
    }
    Uuid::try_parse(raw).map(Id::from).map_err(|_| invalid())
}

pub fn whole_number(field: &str, value: i64, min: i64, max: i64) -> Result<u32, FieldError> {
    if (min..=max).contains(&value) {
        u32::try_from(value).map_err(|_| out_of_range(field, min, max))
    } else {
        Err(out_of_range(field, min, max))
    }
}

fn out_of_range(field: &str, min: i64, max: i64) -> FieldError {
    FieldError::new(field, field_code::OUT_OF_RANGE, format!("{field} must be from {min} to {max}"))
}

/// An RFC 3339 timestamp that states its offset (`Z` or `±hh:mm`); a bare local time is refused.
pub fn timestamp(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        FieldError::new(
            field,
            field_code::INVALID_FORMAT,
            format!("{field} must be an RFC 3339 timestamp with an offset, e.g. 2027-06-15T19:00:00-04:00"),
        )
    })
}

/// An IANA zone name, exactly as spelled in the database. Bare abbreviations and legacy
/// aliases without a region (`EST`, `CET`, `Japan`) are refused: they hide DST rules.
pub fn time_zone(field: &str, raw: &str) -> Result<String, FieldError> {
    let invalid = || {
        FieldError::new(
            field,
            field_code::INVALID_VALUE,
            format!("{field} must be an IANA time zone such as America/New_York"),
        )
    };
    if raw != "UTC" && !raw.contains('/') {
        return Err(invalid());
    }
    // The database's lookup ignores case; the name it answers with is the one it stores.
    let zone = jiff::tz::TimeZone::get(raw).map_err(|_| invalid())?;
    if zone.iana_name() == Some(raw) { Ok(raw.to_owned()) } else { Err(invalid()) }
}

/// An `https` URL whose host is a public name or address, so clients that fetch it cannot be
/// pointed at private, loopback or link-local targets.
pub fn public_https_url(field: &str, raw: &str) -> Result<String, FieldError> {
    let refuse = |why: &str| FieldError::new(field, field_code::INVALID_VALUE, format!("{field} {why}"));
    if raw.len() > 2048 {
        return Err(FieldError::new(field, field_code::TOO_LONG, format!("{field} must be at most 2048 characters")));
    }
    let url = url::Url::parse(raw).map_err(|_| refuse("must be an absolute https URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("must use https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not carry credentials"));
    }
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if domain == "localhost" || domain.ends_with(".localhost") {
                return Err(refuse("must not point at localhost"));
            }
        }
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
            return Err(refuse("must not point at a private address"));
        }
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
            return Err(refuse("must not point at a private address"));
        }
        Some(_) => {}
        None => return Err(refuse("must have a host")),
    }
    Ok(url.to_string())
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared_cgnat = a == 100 && (64..128).contains(&b);
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || shared_cgnat
        || a == 0)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    // Forms that carry an IPv4 address reach that address: judge them by it. IPv4-compatible
    // (::a.b.c.d, which also covers :: and ::1), NAT64's well-known prefix, SIIT's
    // ::ffff:0:a.b.c.d, and 6to4.
    if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    let unique_local = s[0] & 0xfe00 == 0xfc00;
    let link_local = s[0] & 0xffc0 == 0xfe80;
    let site_local = s[0] & 0xffc0 == 0xfec0;
    let multicast = s[0] & 0xff00 == 0xff00;
    let local_nat64 = s[..3] == [0x64, 0xff9b, 1];
    // Teredo hides its IPv4 client address; documentation and discard ranges route nowhere.
    let teredo = s[..2] == [0x2001, 0];
    let documentation = s[..2] == [0x2001, 0xdb8];
    let discard = s[..4] == [0x100, 0, 0, 0];
    let orchid = s[0] == 0x2001 && s[1] & 0xfff0 == 0x0010;
    !(unique_local
        || link_local
        || site_local
        || multicast
        || local_nat64
        || teredo
        || documentation
        || discard
        || orchid)
}

/// For optional fields that may be cleared: absent → `None`, `null` → `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// For optional fields that have no `null`: absent leaves them out (or unchanged), `null` is a
/// type error like any other wrong type, so `{"timezone": null}` is a 400, not a silent no-op.
pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_addresses_in_any_ipv6_form_are_accepted() {
        for url in [
            "https://8.8.8.8/a.png",
            "https://[2606:4700::1111]/a.png",
            "https://[::ffff:8.8.8.8]/a.png",
            "https://[64:ff9b::808:808]/a.png",
            "https://[2002:808:808::1]/a.png",
        ] {
            assert!(super::public_https_url("image_url", url).is_ok(), "{url}");
        }
    }

    use super::*;

    #[test]
    fn time_zones_must_be_exact_iana_names() {
        assert!(time_zone("tz", "America/New_York").is_ok());
        assert!(time_zone("tz", "UTC").is_ok());
        assert!(time_zone("tz", "america/new_york").is_err(), "the name must be spelled as the database spells it");
        assert!(time_zone("tz", "EST").is_err());
        assert!(time_zone("tz", "CET").is_err());
        assert!(time_zone("tz", "Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn timestamps_need_an_offset() {
        assert_eq!(timestamp("t", "2027-06-15T19:00:00-04:00").unwrap().to_rfc3339(), "2027-06-15T23:00:00+00:00");
        assert!(timestamp("t", "2027-06-15T19:00:00Z").is_ok());
        assert!(timestamp("t", "2027-06-15T19:00:00").is_err());
        assert!(timestamp("t", "2027-06-15").is_err());
    }

    #[test]
    fn image_urls_must_be_https_on_public_hosts() {
        assert!(public_https_url("u", "https://cdn.example.com/a.png").is_ok());
        assert!(public_https_url("u", "https://93.184.216.34/a.png").is_ok());
        for refused in [
            "http://cdn.example.com/a.png",
            "https://localhost/a.png",
            "https://LOCALHOST./a.png",
            "https://api.localhost/a.png",
            "https://127.0.0.1/a.png",
            "https://2130706433/a.png",
            "https://10.0.0.8/a.png",
            "https://172.16.3.4/a.png",
            "https://192.168.1.1/a.png",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/a.png",
            "https://[fe80::1]/a.png",
            "https://[fd00::1]/a.png",
            "https://[::ffff:10.0.0.1]/a.png",
            "https://user:pw@cdn.example.com/a.png",
            "not a url",
        ] {
            assert!(public_https_url("u", refused).is_err(), "{refused} should be refused");
        }
    }

    #[test]
    fn text_length_counts_characters_and_refuses_blank() {
        assert!(text("n", "é".repeat(200).as_str(), 1, 200).is_ok());
        assert_eq!(text("n", &"a".repeat(201), 1, 200).unwrap_err().code, field_code::TOO_LONG);
        assert_eq!(text("n", "   ", 1, 200).unwrap_err().code, field_code::REQUIRED);
        assert!(text("n", "", 0, 10).is_ok());
    }
}
