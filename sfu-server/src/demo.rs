//! The page served at `/`.

use axum::response::Html;

/// A minimal conference page: join a room by name, publish camera and microphone, see others.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}
