//! Templates: minijinja, embedded at build time, autoescaped as HTML.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

/// Every template, by name (the `.html` suffix turns on HTML escaping).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    (
        "approvals.html",
        include_str!("../../templates/approvals.html"),
    ),
    (
        "approval.html",
        include_str!("../../templates/approval.html"),
    ),
    ("shares.html", include_str!("../../templates/shares.html")),
    (
        "share_new.html",
        include_str!("../../templates/share_new.html"),
    ),
    ("share.html", include_str!("../../templates/share.html")),
    ("inbox.html", include_str!("../../templates/inbox.html")),
    (
        "inbox_item.html",
        include_str!("../../templates/inbox_item.html"),
    ),
    ("peers.html", include_str!("../../templates/peers.html")),
    (
        "incidents.html",
        include_str!("../../templates/incidents.html"),
    ),
    (
        "incident.html",
        include_str!("../../templates/incident.html"),
    ),
    ("ledger.html", include_str!("../../templates/ledger.html")),
];

/// The page stylesheet, served at `/ui/style.css`.
pub(crate) const STYLE_CSS: &str = include_str!("../../templates/style.css");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            // A template that does not parse is a build defect, caught by
            // the tests that render every page; log and serve the error page.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "web template does not parse");
            }
        }
        env.add_filter("tlp_class", tlp_class);
        env.add_filter("when", when);
        env.add_filter("pretty", pretty);
        env.add_filter("short", short);
        env
    })
}

/// `TLP:AMBER+STRICT` → `tlp-amber-strict`: the CSS class with the official
/// TLP 2.0 colours.
fn tlp_class(label: &str) -> String {
    let l = label.trim().to_ascii_lowercase();
    let l = l.strip_prefix("tlp:").unwrap_or(&l);
    format!("tlp-{}", l.replace('+', "-"))
}

/// An RFC 3339 time as `2026-12-01 23:04:08 UTC`.
fn when(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| value.to_string())
}

/// A value as indented JSON.
fn pretty(value: Value) -> String {
    serde_json::to_value(&value)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// The first 12 characters of an id or digest.
fn short(value: &str) -> String {
    value.chars().take(12).collect()
}

/// Render `template` with `ctx` as a full page with `status`.
pub(crate) fn page(status: StatusCode, template: &str, ctx: Value) -> Response {
    let html = env().get_template(template).and_then(|t| t.render(ctx));
    match html {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "web template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>internal error; see the node log</p>"),
            )
                .into_response()
        }
    }
}

/// Headers every UI answer carries: no caching of pages that hold shared
/// content, no framing, no sniffing, a CSP that allows only our stylesheet
/// and forms posting back to us (no script at all).
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = env();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name} does not parse");
        }
    }

    #[test]
    fn tlp_classes_follow_the_label() {
        assert_eq!(tlp_class("TLP:AMBER+STRICT"), "tlp-amber-strict");
        assert_eq!(tlp_class("TLP:RED"), "tlp-red");
        assert_eq!(tlp_class("clear"), "tlp-clear");
    }

    #[test]
    fn content_is_escaped() {
        let out = env()
            .render_str("{{ x }}", minijinja::context! { x => "<script>" })
            .unwrap();
        // render_str has no .html name, so test the named path instead.
        assert_eq!(out, "<script>");
        let t = env().get_template("error.html").unwrap();
        let html = t
            .render(minijinja::context! { title => "t", message => "<script>alert(1)</script>" })
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
