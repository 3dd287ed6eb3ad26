//! Where a connect session may send a browser back: only to an origin the org's admins
//! listed, compared exactly (scheme, host and port), so a connect link can never become an
//! open redirect. Pure rules; the allow-list lives with the org.

use url::Url;

/// At most this many origins per org (a platform has a handful of front ends).
pub const MAX_ORIGINS: usize = 20;

/// Loopback hosts may use plain http (a platform developing on its own machine);
/// every other origin must be https, as the browser will carry a connection id to it.
fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn secure_enough(u: &Url) -> bool {
    match u.scheme() {
        "https" => true,
        "http" => u.host().as_ref().is_some_and(loopback),
        _ => false,
    }
}

/// Checks one origin as an admin typed it and returns its canonical form
/// (`https://app.example.com`, `http://127.0.0.1:3000`): no path, query, fragment or
/// credentials, lower-case host, default port dropped.
pub fn normalize_origin(input: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{input:?} is not an origin: use scheme and host (and port), such as https://app.example.com"
        )
    };
    let trimmed = input.trim();
    let u = Url::parse(trimmed).map_err(|_| bad())?;
    if u.path() != "/"
        || u.query().is_some()
        || u.fragment().is_some()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.host().is_none()
    {
        return Err(bad());
    }
    if !secure_enough(&u) {
        return Err(format!(
            "{input:?} must use https (plain http only for localhost and loopback addresses)"
        ));
    }
    Ok(u.origin().ascii_serialization())
}

/// Checks a whole allow-list: canonical, de-duplicated, in the order given.
pub fn normalize_origins(inputs: &[String]) -> Result<Vec<String>, String> {
    if inputs.len() > MAX_ORIGINS {
        return Err(format!("at most {MAX_ORIGINS} return origins are allowed"));
    }
    let mut out: Vec<String> = Vec::new();
    for i in inputs {
        let o = normalize_origin(i)?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

/// A connect session's `return_url`, accepted only when its origin is exactly one of
/// `allowed`. Credentials in the URL and fragments are refused (the outcome is appended
/// as query parameters; a fragment would hide them from the platform's server).
pub fn check_return_url(input: &str, allowed: &[String]) -> Result<Url, String> {
    let u = Url::parse(input).map_err(|_| "return_url must be an absolute URL".to_owned())?;
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Err("return_url must not carry credentials or a fragment".into());
    }
    let origin = u.origin().ascii_serialization();
    if !secure_enough(&u) || !allowed.contains(&origin) {
        return Err(format!(
            "return_url's origin {origin} is not one of the organization's allowed return origins (Settings › Advanced › Connect sessions)"
        ));
    }
    Ok(u)
}

/// The platform URL with the outcome appended (any query it had is kept).
pub fn with_outcome(
    return_url: &Url,
    connection_id: &str,
    status: &str,
    reason: Option<&str>,
) -> Url {
    let mut u = return_url.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("connection_id", connection_id);
        q.append_pair("status", status);
        if let Some(r) = reason {
            q.append_pair("reason", r);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_canonical_and_strict() {
        assert_eq!(
            normalize_origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normalize_origin("https://app.example.com:443/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        for bad in [
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "http://app.example.com",
            "javascript:alert(1)",
            "app.example.com",
            "",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn return_urls_match_an_origin_exactly() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert!(check_return_url("https://app.example.com/done?x=1", &allowed).is_ok());
        for bad in [
            "https://app.example.com.evil.test/done",
            "https://evil.test/https://app.example.com",
            "http://app.example.com/done",
            "https://app.example.com:8443/done",
            "https://sub.app.example.com/done",
            "https://x@app.example.com/done",
            "https://app.example.com/done#frag",
            "/done",
            "//evil.test/done",
        ] {
            assert!(check_return_url(bad, &allowed).is_err(), "{bad}");
        }
        assert!(check_return_url("https://app.example.com/", &[]).is_err());
    }

    #[test]
    fn the_outcome_is_appended_to_the_query() {
        let u = Url::parse("https://app.example.com/done?tab=2").unwrap();
        assert_eq!(
            with_outcome(&u, "c1", "failed", Some("access_denied")).as_str(),
            "https://app.example.com/done?tab=2&connection_id=c1&status=failed&reason=access_denied"
        );
    }
}
