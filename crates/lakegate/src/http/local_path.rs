//! Where Lakegate may send a browser after a login or a warehouse sign-in: a path on this
//! site, never another origin (an open redirect would turn a Lakegate link into a phishing
//! link).

/// Longer paths are refused: nothing Lakegate links to comes close, and a redirect target
/// is echoed into a `Location` header.
pub const MAX_LEN: usize = 2048;

/// True for an absolute path on this site: `/` then anything that a browser cannot read as
/// another host. `//host` and `/\host` are protocol-relative to browsers (they treat `\` as
/// `/`), control characters can split headers or be stripped into those forms, and a
/// scheme (`https:`, `javascript:`) never starts with `/`.
pub fn is_local_path(p: &str) -> bool {
    p.len() <= MAX_LEN
        && p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_this_site_pass_and_every_other_origin_is_refused() {
        for ok in [
            "/",
            "/connections/abc?tab=1#x",
            "/%2F%2Fevil.example",
            "/a//b",
            "/.//evil",
        ] {
            assert!(is_local_path(ok), "{ok:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "evil.example",
            " /x",
            "/\tevil",
            "/\r\nSet-Cookie: x=1",
            "/\u{0}x",
            "/\u{7f}x",
            "/\u{85}x",
            long.as_str(),
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
