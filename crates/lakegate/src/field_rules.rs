//! The rules of request fields as the API documents them (JSON Schema patterns for the
//! OpenAPI document) and reads them (serde helpers): the services check the same rules and
//! name them in their errors, so a request the schema allows is accepted and one it forbids
//! is refused. Pure: no I/O, nothing of HTTP. Patterns are ECMA-262 and Python `re`
//! compatible (Schemathesis generates from them).

use serde::{Deserialize, Deserializer};

/// 1 to N printable characters after trimming (the services trim, then count).
pub const PRINTABLE: &str = r"^\s*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Printable characters, possibly none (an optional name; blank means "none").
pub const PRINTABLE_OR_BLANK: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// One `@`, a dotted domain that neither starts nor ends with a dot, no spaces (the
/// services lower-case it).
pub const EMAIL: &str = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@.\s\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f]$";

/// A `:name` parameter marker.
pub const PARAMETER_NAME: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// Empty (the default applies), or 1 to N printable characters after trimming.
pub const EMPTY_OR_PRINTABLE: &str = r"^(|\s*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*)$";

/// A statement with something in it.
pub const NOT_BLANK: &str = r"\S";

/// An optional field that, when present, must not be `null` (a PATCH leaves out what it
/// does not change; `null` is refused rather than read as "unchanged").
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// An optional whole number, also when a client writes it as `12.0` (JSON Schema's
/// `integer` includes those; serde's `i64` would refuse them).
pub fn whole_number<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number in range"
        ))),
    }
}

/// A JSON scalar: string, number, boolean or null (a query parameter's value).
pub fn scalar(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["string", "number", "boolean", "null"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "present")]
        name: Option<String>,
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn absent_is_none_null_is_refused_and_whole_floats_are_integers() {
        let b = parse("{}").unwrap();
        assert_eq!((b.name, b.n), (None, None));
        assert!(
            parse(r#"{"name": null}"#).is_err(),
            "null is not 'unchanged'"
        );
        assert_eq!(
            parse(r#"{"name": "x"}"#).unwrap().name.as_deref(),
            Some("x")
        );
        assert_eq!(parse(r#"{"n": 12.0}"#).unwrap().n, Some(12));
        assert_eq!(parse(r#"{"n": -3}"#).unwrap().n, Some(-3));
        assert_eq!(parse(r#"{"n": null}"#).unwrap().n, None);
        for bad in [r#"{"n": 1.5}"#, r#"{"n": 1e300}"#, r#"{"n": "1"}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_patterns_mean_what_the_services_check() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let printable = re(PRINTABLE);
        assert!(printable.is_match(" Sales "));
        assert!(!printable.is_match("   ") && !printable.is_match("a\u{7}b"));
        let email = re(EMAIL);
        assert!(email.is_match("a@b.co"));
        for bad in ["a@b", "a@.b", "a@b.", "a b@c.d", "a@b@c.d"] {
            assert!(!email.is_match(bad), "{bad}");
        }
        assert!(re(PARAMETER_NAME).is_match("_a1") && !re(PARAMETER_NAME).is_match("1a"));
    }
}
