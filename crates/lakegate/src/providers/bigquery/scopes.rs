//! The scopes a BigQuery integration asks Google for: sign-in (`openid email`) and
//! BigQuery; never `offline_access`, which Google refuses (offline access is the
//! `access_type=offline` parameter).

pub const BIGQUERY: &str = "https://www.googleapis.com/auth/bigquery";

pub const DEFAULT: &str = "openid email https://www.googleapis.com/auth/bigquery";

/// Google scopes an admin may add (read-only variants and Cloud Platform).
const OPTIONAL: [&str; 4] = [
    "profile",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
];

/// A scope list, normalised (space-separated, in the order given, no repeats).
pub fn parse(input: &str) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for s in input.split([' ', ',']).filter(|s| !s.is_empty()) {
        let known = matches!(s, "openid" | "email" | BIGQUERY)
            || s == "https://www.googleapis.com/auth/userinfo.email"
            || OPTIONAL.contains(&s);
        if s == "offline_access" {
            return Err("Google refuses offline_access: Lakegate asks for offline access with access_type=offline".into());
        }
        if !known {
            return Err(format!("{s:?} is not a scope Lakegate asks Google for"));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    let has_email =
        out.contains(&"email") || out.contains(&"https://www.googleapis.com/auth/userinfo.email");
    if !(out.contains(&"openid") && has_email && out.contains(&BIGQUERY)) {
        return Err(format!(
            "the scopes must include openid, email and {BIGQUERY}"
        ));
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_and_bigquery_are_required_and_offline_access_never() {
        assert_eq!(parse(DEFAULT).unwrap(), DEFAULT);
        assert_eq!(
            parse("openid,email , https://www.googleapis.com/auth/bigquery openid").unwrap(),
            DEFAULT
        );
        assert!(parse("openid email").unwrap_err().contains("bigquery"));
        assert!(
            parse(&format!("{DEFAULT} offline_access"))
                .unwrap_err()
                .contains("access_type")
        );
        assert!(parse(&format!("{DEFAULT} https://www.googleapis.com/auth/drive")).is_err());
    }
}
