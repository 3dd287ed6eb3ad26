//! The sign-in and consent pages (plain HTML, no scripts).

use crate::engine::html::{Brand, escape};

const BRAND: Brand = Brand {
    vendor: "Databricks",
    wordmark: "databricks",
    background: "#f3f4f6",
    accent: "#ff3621",
};

fn page(title: &str, body: &str) -> String {
    crate::engine::html::page(&BRAND, title, body)
}

pub fn login(request: &str, app_name: &str, error: Option<&str>) -> String {
    crate::engine::html::login(
        &BRAND,
        "Sign in",
        "/oidc/v1/authorize/login",
        request,
        app_name,
        error,
    )
}

pub fn consent(request: &str, app_name: &str, email: &str, scopes: &[String]) -> String {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    page(
        "Authorize",
        &format!(
            "<h1>Authorize {app}</h1><p>Signed in as <strong>{email}</strong>. <strong>{app}</strong> asks for:</p><ul>{items}</ul>\
             <form method=\"post\" action=\"/oidc/v1/authorize/consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{req}\">\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
            app = escape(app_name),
            email = escape(email),
            req = escape(request)
        ),
    )
}
