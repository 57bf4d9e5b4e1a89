//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the JSON API
//! (`/api/...`; not TAXII, which follows its own standard). Hand-written
//! (`crates/liaison-api/openapi.json`); `tests/api.rs` checks that its
//! paths and methods are exactly the router's, and `tests/openapi.rs` that
//! it is a valid OpenAPI document.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// `GET /api/openapi.json` (no token).
pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
