//! Parsed names: an `Email` or `Slug` value has passed validation.

use std::fmt;

/// A lower-cased email address with one `@` and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, String> {
        let s = input.trim().to_lowercase();
        let valid = input.chars().count() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Email(s))
        } else {
            Err(format!("{input:?} is not an email address"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organization slug: 2–40 characters of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Slug, String> {
        let s = input.trim();
        let valid = (2..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Slug(s.to_owned()))
        } else {
            Err(format!(
                "{input:?} is not a valid slug: use 2-40 lowercase letters, digits and inner hyphens"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bounded_text(what: &str, input: &str, max: usize) -> Result<String, String> {
    // The limit counts what was sent, surrounding spaces included (as the API schema's
    // maxLength does); the stored text is trimmed.
    let s = input.trim();
    if s.is_empty() || input.chars().count() > max || s.chars().any(char::is_control) {
        Err(format!("{what} must be 1-{max} printable characters"))
    } else {
        Ok(s.to_owned())
    }
}

pub fn validate_org_name(input: &str) -> Result<String, String> {
    bounded_text("the organization name", input, 100)
}

pub fn validate_display_name(input: &str) -> Result<String, String> {
    bounded_text("the display name", input, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_checked() {
        assert!(Slug::parse("acme-2").is_ok());
        for bad in [
            "a",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "ac_me",
            &"a".repeat(41),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(validate_org_name(" Acme ").unwrap(), "Acme");
        assert!(validate_org_name("").is_err());
        assert!(validate_display_name(&"x".repeat(101)).is_err());
        assert!(validate_display_name("a\u{0}b").is_err());
    }
}
