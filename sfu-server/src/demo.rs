//! The demo conference page served at `/`: `static/index.html`, its stylesheet, and
//! `static/demo.js`, the page's TypeScript (`sfu-client-js/demo/`) bundled with the JS SDK by
//! `npm run build:demo` and committed, so that running the server needs no npm step.

use axum::http::header;
use axum::response::IntoResponse;

/// Every response of the page must be revalidated: the files change with the binary.
fn page_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The page: join a room by name, see and hear the others, chat.
pub async fn index() -> impl IntoResponse {
    page_file(
        "text/html; charset=utf-8",
        include_str!("../static/index.html"),
    )
}

/// The page's code, with the SDK in it.
pub async fn script() -> impl IntoResponse {
    page_file(
        "text/javascript; charset=utf-8",
        include_str!("../static/demo.js"),
    )
}

/// The page's stylesheet.
pub async fn style() -> impl IntoResponse {
    page_file(
        "text/css; charset=utf-8",
        include_str!("../static/demo.css"),
    )
}
