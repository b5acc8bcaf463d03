//! Per-client-IP token buckets (governor) for the REST API and for WebSocket joins; a client
//! over its budget gets 429 `rate_limited` with `Retry-After`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

use super::error::ApiError;
use crate::config::RateLimitConfig;

/// Checks between two sweeps of idle clients out of the buckets' memory.
const SWEEP_EVERY: u64 = 4096;

type Limiter =
    RateLimiter<IpAddr, governor::state::keyed::DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The two budgets and how to tell who the client is.
pub struct RateLimits {
    api: Option<Limiter>,
    join: Option<Limiter>,
    trusted_proxies: Vec<ipnet::IpNet>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Api,
    Join,
}

impl RateLimits {
    /// Limits as configured (none when disabled).
    pub fn new(config: &RateLimitConfig) -> Arc<Self> {
        let clock = DefaultClock::default();
        let limiter = |per_s: u32, burst: u32| {
            let per_s = NonZeroU32::new(per_s)?;
            let burst = NonZeroU32::new(burst)?;
            let quota = Quota::per_second(per_s).allow_burst(burst);
            Some(RateLimiter::dashmap_with_clock(quota, clock.clone()))
        };
        let enabled = config.enabled;
        Arc::new(RateLimits {
            api: enabled
                .then(|| limiter(config.api_per_s, config.api_burst))
                .flatten(),
            join: enabled
                .then(|| limiter(config.join_per_s, config.join_burst))
                .flatten(),
            trusted_proxies: config.trusted_networks(),
            clock,
            checks: AtomicU64::new(0),
        })
    }

    /// The client's IP: the peer address, or, when the peer is a trusted proxy, the last
    /// `X-Forwarded-For` entry that is not one (entries left of it could be forged).
    fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                // A garbled entry: stop at the last address we could trust.
                Err(_) => break,
            }
        }
        client
    }

    /// Takes one token from `ip`'s bucket; Err(wait) when it is empty.
    fn check(&self, budget: Budget, ip: IpAddr) -> Result<(), Duration> {
        let limiter = match budget {
            Budget::Api => &self.api,
            Budget::Join => &self.join,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Buckets that refilled completely hold no information: drop them.
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Middleware: limits `/v1/rtc` by the join budget and the rest of `/v1/*` by the API budget;
/// health checks, metrics and the demo page are never limited.
pub async fn limit(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let budget = if path == "/v1/rtc" {
        Budget::Join
    } else if path.starts_with("/v1/") {
        Budget::Api
    } else {
        return next.run(request).await;
    };
    // Without connection info (requests built in tests) every client is one.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ip = limits.client_ip(peer, request.headers());
    match limits.check(budget, ip) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            tracing::debug!(%ip, ?budget, "rate limited");
            let what = match budget {
                Budget::Api => "API requests",
                Budget::Join => "join attempts",
            };
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what} from this address; retry later"),
            )
            .into_response();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> Arc<RateLimits> {
        RateLimits::new(&RateLimitConfig {
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let l = limits(&[]);
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(l.client_ip(peer, &forwarded("203.0.113.1")), peer);
    }

    #[test]
    fn trusted_proxies_name_the_client() {
        let l = limits(&["10.0.0.0/8", "192.0.2.1"]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        // The client may forge entries on the left; the first untrusted from the right wins.
        let h = forwarded("1.1.1.1, 203.0.113.9, 192.0.2.1");
        assert_eq!(
            l.client_ip(proxy, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // No header: the proxy itself.
        assert_eq!(l.client_ip(proxy, &HeaderMap::new()), proxy);
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            l.client_ip(proxy, &forwarded("nonsense, 192.0.2.1")),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn each_ip_has_its_own_bucket() {
        let l = RateLimits::new(&RateLimitConfig {
            join_per_s: 1,
            join_burst: 2,
            ..Default::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(Budget::Join, a).is_ok());
        assert!(l.check(Budget::Join, a).is_ok());
        assert!(l.check(Budget::Join, a).is_err());
        assert!(l.check(Budget::Join, b).is_ok());
        // The API budget is separate.
        assert!(l.check(Budget::Api, a).is_ok());
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let l = RateLimits::new(&RateLimitConfig {
            enabled: false,
            join_per_s: 1,
            join_burst: 1,
            ..Default::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            assert!(l.check(Budget::Join, a).is_ok());
        }
    }
}
