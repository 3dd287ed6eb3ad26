//! Google's sign-in, consent (a checkbox per scope beyond sign-in) and error pages.

use crate::engine::html::{Brand, escape};

const BRAND: Brand = Brand {
    vendor: "Google",
    wordmark: "Google",
    background: "#f8f9fa",
    accent: "#1a73e8",
};

pub fn login(request: &str, error: Option<&str>) -> String {
    crate::engine::html::login(
        &BRAND,
        "Sign in with Google",
        "/o/oauth2/v2/auth/login",
        request,
        "Lakegate",
        error,
    )
}

/// The consent screen: the account, and one checkbox per scope that needs one, unticked
/// by default as Google's granular consent shows them.
pub fn consent(request: &str, email: &str, scopes: &[(&str, &str)]) -> String {
    let boxes: String = scopes
        .iter()
        .map(|(scope, label)| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"scope\" value=\"{s}\"> {l}</label>",
                s = escape(scope),
                l = escape(label)
            )
        })
        .collect();
    crate::engine::html::page(
        &BRAND,
        "Lakegate wants access to your Google Account",
        &format!(
            "<h1>Lakegate wants access to your Google Account</h1><p id=\"account\">{email}</p>\
             <p>Select what Lakegate can access</p>\
             <form method=\"post\" action=\"/o/oauth2/v2/auth/consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{req}\">{boxes}\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Continue</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Cancel</button></form>",
            email = escape(email),
            req = escape(request),
        ),
    )
}

/// Google's error page for a request it will not send back ("Error 400: redirect_uri_mismatch").
pub fn error(status: u16, code: &str, detail: &str) -> String {
    crate::engine::html::page(
        &BRAND,
        "Error",
        &format!(
            "<h1>Access blocked: this app's request is invalid</h1>\
             <p class=\"error\" role=\"alert\">Error {status}: <code id=\"code\">{}</code></p><p>{}</p>",
            escape(code),
            escape(detail)
        ),
    )
}
