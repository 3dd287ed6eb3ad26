//! The HTML of the emulated vendors' sign-in pages: escaping and one page shell, branded
//! by each front-end (plain HTML, no scripts).

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A vendor's look: its name in the title and header, its background and accent colours.
pub struct Brand {
    pub vendor: &'static str,
    pub wordmark: &'static str,
    pub background: &'static str,
    pub accent: &'static str,
}

pub fn page(brand: &Brand, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · {vendor} (emulated)</title>\
         <style>body{{font:16px system-ui,sans-serif;background:{bg};margin:0}}main{{max-width:380px;margin:4rem auto;background:#fff;\
         padding:2rem;border-radius:8px;border:1px solid #ddd}}label{{display:block;margin:.8rem 0 .2rem;font-weight:600}}\
         input{{width:100%;padding:.5rem;box-sizing:border-box}}button{{margin-top:1rem;padding:.5rem 1rem;border:0;border-radius:4px;\
         background:{accent};color:#fff;font:inherit;cursor:pointer}}button.secondary{{background:#555}}.error{{color:#b00020}}\
         .brand{{color:{accent};font-weight:700}}</style></head><body><main><p class=\"brand\">{mark} <small>(emulator)</small></p>{body}</main></body></html>",
        t = escape(title),
        vendor = brand.vendor,
        bg = brand.background,
        accent = brand.accent,
        mark = brand.wordmark,
    )
}

/// The sign-in form: email and password, posted to `action` with the pending request's id.
pub fn login(
    brand: &Brand,
    heading: &str,
    action: &str,
    request: &str,
    app: &str,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        brand,
        "Sign in",
        &format!(
            "<h1>{heading}</h1><p>to continue to <strong>{app}</strong></p>{error}\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"request\" value=\"{req}\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            heading = escape(heading),
            app = escape(app),
            req = escape(request)
        ),
    )
}
