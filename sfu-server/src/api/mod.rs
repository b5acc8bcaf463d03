//! The HTTP surface: REST API, WebSocket signalling endpoint, health checks, demo page.

mod destination;
mod dev;
pub mod error;
mod forwards;
mod guards;
mod health;
mod json;
mod rate_limit;
mod rooms;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{delete, get, post};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::auth::Claims;
use error::ApiError;

/// Builds the whole HTTP router; tests call it with `oneshot` and no socket. Each call has
/// its own rate-limit buckets: build it once per server.
pub fn router(state: AppState) -> Router {
    let server = &state.config.server;
    let deadline = std::time::Duration::from_secs(server.request_timeout_s);
    let limits = rate_limit::RateLimits::new(&server.rate_limit);
    let max_body = server.max_body_bytes;
    let mut api = Router::new()
        .route("/v1/rooms", post(rooms::create).get(rooms::list))
        .route("/v1/rooms/{room}", get(rooms::get).delete(rooms::delete))
        .route("/v1/rooms/{room}/participants", get(rooms::participants))
        .route(
            "/v1/rooms/{room}/participants/{identity}",
            delete(rooms::remove_participant),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/tracks/{track_id}/mute",
            post(rooms::mute_track),
        )
        .route(
            "/v1/rooms/{room}/forwards",
            post(forwards::create).get(forwards::list),
        )
        .route(
            "/v1/rooms/{room}/forwards/{id}",
            delete(forwards::delete).patch(forwards::update),
        )
        .route("/v1/stats", get(rooms::stats))
        .route("/v1/rtc", get(crate::signal::websocket))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        // Innermost first: the deadline covers the handler and its body; the size check and
        // the rate limit refuse before any work; the count sees every answer, refusals too.
        .route_layer(axum::middleware::from_fn_with_state(
            deadline,
            guards::deadline,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            max_body,
            guards::announced_body_size,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ));
    api = match &state.config.server.static_dir {
        // An operator's own page replaces the embedded demo.
        Some(dir) => api.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .not_found_service(axum::routing::any(not_found)),
        ),
        None => api
            .route("/", get(crate::demo::index))
            .route("/demo.js", get(crate::demo::script))
            .route("/demo.css", get(crate::demo::style))
            .fallback(not_found),
    };
    // The dev token endpoint does not exist outside dev mode (API.md).
    if state.auth.is_dev_mode() {
        api = api.route("/v1/dev/token", post(dev::token));
    }
    let cors = cors_layer(&state.config.server.cors_allow_origins);
    api.method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .layer(cors)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text exposition (unauthenticated, like `/healthz`: scrapers
/// carry no tokens; keep the HTTP port off the public internet or filter the path).
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let media = state.media.stats().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&media),
    ))
}

/// The span of one HTTP request: method and path, never the query (`/v1/rtc` carries the
/// access token there).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Counts each request of a known route by its route template and status, and each error
/// response by its code.
async fn count_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    path: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = path.map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .observe_http(&route, response.status().as_u16());
    if let Some(error::ErrorCode(code)) = response.extensions().get() {
        state.metrics.observe_api_error(code);
    }
    response
}

/// CORS for browser apps on other origins calling the REST API; none by default.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        // Preflights are cached a while; clients may read how long to back off after a 429.
        .max_age(std::time::Duration::from_secs(600))
        .expose_headers([header::RETRY_AFTER])
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::DELETE,
            axum::http::Method::PATCH,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<_> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// The verified token of a REST call; extracted before any body, so an unauthenticated
/// request is refused with 401 whatever it carries.
pub(crate) struct Bearer(pub Claims);

impl axum::extract::FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        bearer(state, &parts.headers).map(Bearer)
    }
}

/// Verifies the `Authorization: Bearer` token of a REST call.
fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "an Authorization: Bearer token is required",
            )
        })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
    Ok(state.auth.verify(token.trim())?)
}

#[cfg(test)]
mod forward_tests;
#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod tests;
