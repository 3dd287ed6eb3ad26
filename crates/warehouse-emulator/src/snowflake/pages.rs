//! Snowflake's sign-in, consent and error pages (plain HTML, no scripts).

use crate::engine::html::{Brand, escape};

const BRAND: Brand = Brand {
    vendor: "Snowflake",
    wordmark: "snowflake",
    background: "#eef6fb",
    accent: "#11567f",
};

fn page(title: &str, body: &str) -> String {
    crate::engine::html::page(&BRAND, title, body)
}

pub fn login(request: &str, app_name: &str, error: Option<&str>) -> String {
    crate::engine::html::login(
        &BRAND,
        "Sign in to Snowflake",
        "/oauth/authorize/login",
        request,
        app_name,
        error,
    )
}

pub fn consent(request: &str, integration: &str, login: &str, role: &str) -> String {
    page(
        "Allow access",
        &format!(
            "<h1>Allow {app}?</h1><p><strong>{app}</strong> will access your Snowflake account as \
             <strong>{login}</strong> with the role <strong id=\"role\">{role}</strong>.</p>\
             <form method=\"post\" action=\"/oauth/authorize/consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{req}\">\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
            app = escape(integration),
            login = escape(login),
            role = escape(role),
            req = escape(request)
        ),
    )
}

/// Snowflake's error page for a request it will not redirect (its code and message).
pub fn error(code: &str, message: &str) -> String {
    page(
        "Error",
        &format!(
            "<h1>Something went wrong</h1><p class=\"error\" role=\"alert\">{}</p><p>Error code: <code id=\"code\">{}</code></p>",
            escape(message),
            escape(code)
        ),
    )
}
