//! The incident-response roster of a peer and its contact-path schedule
//! (NIST SP 800-53 IR-4(10): coordination with the organizations in the
//! supply chain needs a contact path that is known to work).
//!
//! Each pinned peer carries a tier (1 critical, 2 important, 3 other), its
//! 24×7 security contact, backups, an escalation path, a fallback channel
//! for when the node is unreachable, and contract references. The node
//! pings every peer over QUIC on a schedule set by its tier; a peer whose
//! path was not verified within its tier's interval is flagged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The people and channels behind a peer, for incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// The 24×7 security contact (name, phone, e-mail: free text).
    #[serde(default)]
    pub security_contact: String,
    /// Backup contacts, in the order to try them.
    #[serde(default)]
    pub backup_contacts: Vec<String>,
    /// Whom to escalate to, in order, when deadlines pass.
    #[serde(default)]
    pub escalation_path: Vec<String>,
    /// The out-of-band channel if the node cannot be reached (e.g. a phone
    /// bridge or a Signal group).
    #[serde(default)]
    pub fallback_channel: String,
    /// Contract references that oblige the peer to notify or cooperate.
    #[serde(default)]
    pub contract_refs: Vec<String>,
}

/// How often each tier's contact path must be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactSchedule {
    /// Tier 1 (critical), tier 2 (important), tier 3 (other).
    pub intervals: [Duration; 3],
}

impl Default for ContactSchedule {
    /// Tier 1 hourly, tier 2 every 6 hours, tier 3 daily.
    fn default() -> Self {
        ContactSchedule {
            intervals: [
                Duration::from_secs(3600),
                Duration::from_secs(6 * 3600),
                Duration::from_secs(24 * 3600),
            ],
        }
    }
}

impl ContactSchedule {
    /// The interval of `tier` (tiers outside 1..=3 count as 3).
    pub fn interval(&self, tier: u8) -> Duration {
        let i = usize::from(tier.clamp(1, 3)) - 1;
        self.intervals[i]
    }

    /// Whether to ping a peer of `tier` now: never checked, or last checked
    /// half an interval ago or more. Checking twice per interval means a
    /// healthy path is never flagged, and a broken one is flagged within
    /// one interval of its last success.
    pub fn check_due(
        &self,
        tier: u8,
        last_check: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        match last_check {
            None => true,
            Some(at) => elapsed(at, now) >= self.interval(tier) / 2,
        }
    }

    /// Whether a peer's contact path is overdue for verification: its last
    /// verification (or, never verified, its pinning) is more than one
    /// interval ago.
    pub fn is_stale(
        &self,
        tier: u8,
        verified_at: Option<DateTime<Utc>>,
        pinned_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        elapsed(verified_at.unwrap_or(pinned_at), now) > self.interval(tier)
    }

    /// How long the checker may sleep and still honour every tier: a
    /// quarter of the shortest interval, between 100 ms and 60 s.
    pub fn tick(&self) -> Duration {
        let shortest = self.intervals.iter().min().copied().unwrap_or_default();
        (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    }
}

fn elapsed(from: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - from).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn tiers_pick_their_interval_and_unknown_tiers_count_as_three() {
        let s = ContactSchedule::default();
        assert_eq!(s.interval(1), Duration::from_secs(3600));
        assert_eq!(s.interval(2), Duration::from_secs(21600));
        assert_eq!(s.interval(3), Duration::from_secs(86400));
        assert_eq!(s.interval(0), s.interval(1));
        assert_eq!(s.interval(9), s.interval(3));
    }

    #[test]
    fn checks_are_due_twice_per_interval() {
        let s = ContactSchedule::default();
        assert!(s.check_due(1, None, t(0)));
        assert!(!s.check_due(1, Some(t(0)), t(1799)));
        assert!(s.check_due(1, Some(t(0)), t(1800)));
        // A clock that went backwards does not make a check due.
        assert!(!s.check_due(1, Some(t(10)), t(0)));
    }

    #[test]
    fn a_path_is_stale_after_one_interval_without_verification() {
        let s = ContactSchedule::default();
        assert!(!s.is_stale(1, Some(t(0)), t(-100), t(3600)));
        assert!(s.is_stale(1, Some(t(0)), t(-100), t(3601)));
        // Never verified: the interval runs from pinning.
        assert!(!s.is_stale(2, None, t(0), t(21600)));
        assert!(s.is_stale(2, None, t(0), t(21601)));
    }

    #[test]
    fn the_tick_follows_the_shortest_interval_within_bounds() {
        let fast = ContactSchedule {
            intervals: [
                Duration::from_secs(2),
                Duration::from_secs(60),
                Duration::from_secs(60),
            ],
        };
        assert_eq!(fast.tick(), Duration::from_millis(500));
        assert_eq!(ContactSchedule::default().tick(), Duration::from_secs(60));
        let tiny = ContactSchedule {
            intervals: [Duration::from_millis(10); 3],
        };
        assert_eq!(tiny.tick(), Duration::from_millis(100));
    }

    #[test]
    fn rosters_refuse_unknown_fields() {
        let r: Roster = serde_json::from_str(r#"{"security_contact": "SOC +1 555 0100"}"#).unwrap();
        assert_eq!(r.security_contact, "SOC +1 555 0100");
        assert!(serde_json::from_str::<Roster>(r#"{"phone": "x"}"#).is_err());
    }
}
