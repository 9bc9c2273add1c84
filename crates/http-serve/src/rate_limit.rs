//! Per-client limits on what fails: deliveries that do not verify, unknown repos or providers,
//! and management requests without a valid token.
//!
//! Valid work is never charged: a delivery whose signature verifies is accepted whatever its
//! address sent before (behind a reverse proxy every sender shares the proxy's address). The
//! limiter is `governor`'s keyed GCRA; its memory is bounded by [`MAX_TRACKED_CLIENTS`]:
//! clients whose state has fully refilled are forgotten on a timer ([`FailureLimiter::sweep`])
//! and, when that is not enough, new clients share one overflow budget until the next sweep.
//! No client's state is ever cleared while it still counts.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// The most clients tracked at once; about 100 bytes each.
pub const MAX_TRACKED_CLIENTS: usize = 65_536;

/// How often forgotten (fully refilled) clients are dropped from the map.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The key a client is counted under: its address, or its /64 for IPv6 (one host usually
/// holds a whole /64, so counting single addresses there would limit nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// One address (IPv4) or one /64 (IPv6).
    Addr(IpAddr),
    /// Shared by every new client while the map is full.
    Overflow,
}

impl ClientKey {
    /// The key `ip` is counted under.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                ClientKey::Addr(IpAddr::from(octets))
            }
            IpAddr::V6(v6) => ClientKey::Addr(IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            )),
            v4 => ClientKey::Addr(v4),
        }
    }
}

/// `[rate_limit]`: failed or unauthenticated requests allowed per client IP; a rate of 0
/// turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Failures per second on average.
    pub per_ip_per_sec: f64,
    /// Failures at once.
    pub per_ip_burst: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_ip_per_sec: 10.0,
            per_ip_burst: 100.0,
        }
    }
}

/// The `[rate_limit]` table as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    per_ip_per_sec: Option<f64>,
    per_ip_burst: Option<f64>,
}

impl RateLimitSection {
    /// The limits (defaults for what is not set), or each key whose value is not a rate,
    /// with what is wrong.
    pub fn into_config(self) -> Result<RateLimitConfig, Vec<(&'static str, String)>> {
        let mut config = RateLimitConfig::default();
        let mut wrong = Vec::new();
        let fields = [
            (
                "per_ip_per_sec",
                self.per_ip_per_sec,
                &mut config.per_ip_per_sec,
            ),
            ("per_ip_burst", self.per_ip_burst, &mut config.per_ip_burst),
        ];
        for (key, value, slot) in fields {
            match value {
                Some(v) if !v.is_finite() || v < 0.0 => wrong.push((
                    key,
                    format!("{v} is not a rate: use 0 (off) or a positive number"),
                )),
                Some(v) => *slot = v,
                None => {}
            }
        }
        if wrong.is_empty() {
            Ok(config)
        } else {
            Err(wrong)
        }
    }
}

/// Failures allowed per client: `per_sec` on average with bursts of `burst`.
#[derive(Debug)]
pub struct FailureLimiter {
    limiter: Option<DefaultKeyedRateLimiter<ClientKey>>,
    /// Milliseconds since `started` of the last sweep (so a full map sweeps at most once a
    /// second from the request path).
    last_sweep_ms: AtomicU64,
    started: Instant,
}

impl FailureLimiter {
    /// `per_sec == 0` turns the limiter off.
    pub fn new(per_sec: f64, burst: f64) -> FailureLimiter {
        let limiter = quota(per_sec, burst).map(governor::RateLimiter::keyed);
        FailureLimiter {
            limiter,
            last_sweep_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Counts one failure of `ip`; `Err(wait)` when its budget is spent (answer 429).
    pub fn charge(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let mut key = ClientKey::of(ip);
        if limiter.len() >= MAX_TRACKED_CLIENTS {
            self.sweep_now_and_then(limiter);
            if limiter.len() >= MAX_TRACKED_CLIENTS {
                key = ClientKey::Overflow;
            }
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets clients whose budget is full again (they are indistinguishable from new ones).
    pub fn sweep(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// [`FailureLimiter::sweep`] every [`SWEEP_EVERY`], until the task running it is dropped
    /// or aborted.
    pub async fn sweep_forever(&self) {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.sweep();
        }
    }

    /// How many clients are tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }

    fn sweep_now_and_then(&self, limiter: &DefaultKeyedRateLimiter<ClientKey>) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            limiter.retain_recent();
        }
    }
}

fn quota(per_sec: f64, burst: f64) -> Option<Quota> {
    if per_sec <= 0.0 || !per_sec.is_finite() {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_sec).max(Duration::from_nanos(1));
    let burst =
        NonZeroU32::new(burst.max(1.0).min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn burst_then_refuse_then_refill_by_time() {
        let limiter = FailureLimiter::new(1000.0, 3.0);
        for _ in 0..3 {
            assert!(limiter.charge(ip("10.0.0.1")).is_ok());
        }
        let wait = limiter.charge(ip("10.0.0.1")).unwrap_err();
        assert!(wait <= Duration::from_millis(2), "{wait:?}");
        assert!(
            limiter.charge(ip("10.0.0.2")).is_ok(),
            "clients are independent"
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.charge(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = FailureLimiter::new(0.0, 0.0);
        for _ in 0..10_000 {
            assert!(limiter.charge(ip("10.0.0.1")).is_ok());
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let limiter = FailureLimiter::new(0.001, 2.0);
        assert!(limiter.charge(ip("2001:db8::1")).is_ok());
        assert!(limiter.charge(ip("2001:db8::2")).is_ok());
        assert!(limiter.charge(ip("2001:db8::ffff:3")).is_err());
        assert!(limiter.charge(ip("2001:db8:0:1::1")).is_ok());
        assert_eq!(
            ClientKey::of(ip("::ffff:127.0.0.1")),
            ClientKey::Addr(ip("127.0.0.1"))
        );
    }

    #[test]
    fn memory_is_bounded_and_a_full_map_keeps_every_counted_client() {
        let limiter = FailureLimiter::new(0.001, 1.0);
        let addr = |n: usize| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n as u32));
        for n in 0..MAX_TRACKED_CLIENTS + 500 {
            let _ = limiter.charge(addr(n));
        }
        // One overflow key past the cap, never more.
        assert!(
            limiter.tracked() <= MAX_TRACKED_CLIENTS + 1,
            "{}",
            limiter.tracked()
        );
        // The first client still has its spent budget: nothing was cleared wholesale.
        assert!(limiter.charge(addr(0)).is_err());
        limiter.sweep();
        assert!(
            limiter.charge(addr(1)).is_err(),
            "a sweep keeps clients that still count"
        );
    }

    #[test]
    fn a_sweep_forgets_clients_that_have_refilled() {
        let limiter = FailureLimiter::new(1000.0, 1.0);
        for n in 0..100u32 {
            let _ = limiter.charge(IpAddr::from(std::net::Ipv4Addr::from(n)));
        }
        assert_eq!(limiter.tracked(), 100);
        std::thread::sleep(Duration::from_millis(20));
        limiter.sweep();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn the_section_takes_rates_and_names_each_bad_one() {
        let section = |per_ip_per_sec, per_ip_burst| RateLimitSection {
            per_ip_per_sec,
            per_ip_burst,
        };
        assert_eq!(
            section(None, None).into_config(),
            Ok(RateLimitConfig::default())
        );
        let set = section(Some(0.0), Some(5.0)).into_config().unwrap();
        assert_eq!((set.per_ip_per_sec, set.per_ip_burst), (0.0, 5.0));
        let wrong = section(Some(-1.0), Some(f64::NAN))
            .into_config()
            .unwrap_err();
        let keys: Vec<_> = wrong.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["per_ip_per_sec", "per_ip_burst"]);
        assert!(wrong[0].1.contains("not a rate"), "{wrong:?}");
    }
}
