//! Password guessing is paid per client address, not per connection: once an address has
//! failed a login, each of its further PASS commands waits for a turn (one at a time, the
//! wait growing with its failures), whichever connection it comes on; past
//! [`MAX_FAILURES`] in [`WINDOW`] the address is refused (421) until the window passes.
//! Sixty parallel connections then guess no faster than one, and other addresses are not
//! slowed at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins an address may have in [`WINDOW`] before it is refused.
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses remembered at most; the oldest are forgotten first beyond that.
const MAX_ADDRESSES: usize = 100_000;

/// What an address may do with its next password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Check it after this wait (zero for an address without recent failures).
    After(Duration),
    /// Refuse it: too many failures in the window.
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    first_failure: Instant,
    /// When the next password from this address may be checked.
    next_turn: Instant,
}

/// The failed logins of every client address.
#[derive(Debug)]
pub struct LoginThrottle {
    step: Duration,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl LoginThrottle {
    /// A throttle whose wait grows by `step` per failure (at most 8 steps).
    pub fn new(step: Duration) -> LoginThrottle {
        LoginThrottle { step, records: Mutex::new(HashMap::new()) }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `ip`'s next turn to have a password checked, at `now`.
    pub fn turn(&self, ip: IpAddr, now: Instant) -> Turn {
        let mut records = self.records();
        let Some(record) = records.get_mut(&ip) else { return Turn::After(Duration::ZERO) };
        if now.duration_since(record.first_failure) > WINDOW {
            records.remove(&ip);
            return Turn::After(Duration::ZERO);
        }
        if record.failures >= MAX_FAILURES {
            return Turn::Refused;
        }
        let start = record.next_turn.max(now);
        record.next_turn = start + self.step * record.failures.min(8);
        Turn::After(start - now)
    }

    /// Records a failed login from `ip` at `now`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut records = self.records();
        if records.len() >= MAX_ADDRESSES && !records.contains_key(&ip) {
            records.retain(|_, r| now.duration_since(r.first_failure) <= WINDOW);
            if records.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let record = records.entry(ip).or_insert(Record { failures: 0, first_failure: now, next_turn: now });
        record.failures += 1;
        record.next_turn = record.next_turn.max(now + self.step * record.failures.min(8));
    }

    /// A successful login from `ip` forgets its failures.
    pub fn succeeded(&self, ip: IpAddr) {
        self.records().remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_without_failures_never_waits() {
        let throttle = LoginThrottle::new(Duration::from_secs(1));
        let now = Instant::now();
        assert_eq!(throttle.turn(A, now), Turn::After(Duration::ZERO));
        assert_eq!(throttle.turn(A, now), Turn::After(Duration::ZERO));
    }

    #[test]
    fn parallel_guesses_from_one_address_take_turns() {
        let throttle = LoginThrottle::new(Duration::from_secs(1));
        let now = Instant::now();
        throttle.failed(A, now);
        // Sixty connections ask at once: their turns are a second (or more) apart.
        let waits: Vec<Duration> = (0..5)
            .map(|_| match throttle.turn(A, now) {
                Turn::After(wait) => wait,
                Turn::Refused => panic!("refused too early"),
            })
            .collect();
        assert!(waits.windows(2).all(|w| w[1] >= w[0] + Duration::from_secs(1)), "{waits:?}");
        assert_eq!(throttle.turn(B, now), Turn::After(Duration::ZERO), "another address is not slowed");
    }

    #[test]
    fn too_many_failures_refuse_the_address_until_the_window_passes() {
        let throttle = LoginThrottle::new(Duration::from_millis(1));
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.failed(A, now);
        }
        assert_eq!(throttle.turn(A, now), Turn::Refused);
        assert_eq!(throttle.turn(B, now), Turn::After(Duration::ZERO));
        assert_eq!(throttle.turn(A, now + WINDOW + Duration::from_secs(1)), Turn::After(Duration::ZERO));
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let throttle = LoginThrottle::new(Duration::from_secs(1));
        let now = Instant::now();
        throttle.failed(A, now);
        throttle.succeeded(A);
        assert_eq!(throttle.turn(A, now), Turn::After(Duration::ZERO));
    }
}
