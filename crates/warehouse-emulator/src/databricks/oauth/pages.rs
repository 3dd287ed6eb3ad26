//! The sign-in and consent pages (plain HTML, no scripts).

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · Databricks (emulated)</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#f3f4f6;margin:0}}main{{max-width:380px;margin:4rem auto;background:#fff;\
         padding:2rem;border-radius:8px;border:1px solid #ddd}}label{{display:block;margin:.8rem 0 .2rem;font-weight:600}}\
         input{{width:100%;padding:.5rem;box-sizing:border-box}}button{{margin-top:1rem;padding:.5rem 1rem;border:0;border-radius:4px;\
         background:#ff3621;color:#fff;font:inherit;cursor:pointer}}button.secondary{{background:#555}}.error{{color:#b00020}}\
         .brand{{color:#ff3621;font-weight:700}}</style></head><body><main><p class=\"brand\">databricks <small>(emulator)</small></p>{body}</main></body></html>",
        t = escape(title)
    )
}

pub fn login(request: &str, app_name: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1><p>to continue to <strong>{app}</strong></p>{error}\
             <form method=\"post\" action=\"/oidc/v1/authorize/login\">\
             <input type=\"hidden\" name=\"request\" value=\"{req}\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            app = escape(app_name),
            req = escape(request)
        ),
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
