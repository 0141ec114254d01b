//! Concurrency policies (SPEC §5): what a pipeline's `concurrency.policy` means, typed.
//! Stored on each run as its name (column `concurrency_policy`) and converted back here.

/// How runs that share a concurrency key wait for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcurrencyPolicy {
    /// Runs of a key start one after another, oldest first, up to `max` at once.
    Queue,
    /// A queued run is dropped for a newer one of its key.
    Supersede,
    /// No limit.
    Parallel,
}

impl ConcurrencyPolicy {
    /// Every policy.
    pub const ALL: [ConcurrencyPolicy; 3] = [
        ConcurrencyPolicy::Queue,
        ConcurrencyPolicy::Supersede,
        ConcurrencyPolicy::Parallel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Queue => "queue",
            ConcurrencyPolicy::Supersede => "supersede",
            ConcurrencyPolicy::Parallel => "parallel",
        }
    }

    pub fn parse(s: &str) -> Option<ConcurrencyPolicy> {
        ConcurrencyPolicy::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The policy that limits a stored run: `None` for a run without a key, or whose policy
    /// is `parallel`, absent or unknown (a run is never held back by a name it cannot read).
    pub fn limiting(key: Option<&str>, stored: Option<&str>) -> Option<ConcurrencyPolicy> {
        key?;
        match stored.and_then(ConcurrencyPolicy::parse)? {
            ConcurrencyPolicy::Parallel => None,
            limited => Some(limited),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in ConcurrencyPolicy::ALL {
            assert_eq!(ConcurrencyPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(ConcurrencyPolicy::parse("Queue"), None);
    }

    #[test]
    fn only_a_keyed_queue_or_supersede_run_is_limited() {
        use ConcurrencyPolicy::*;
        assert_eq!(
            ConcurrencyPolicy::limiting(Some("main"), Some("queue")),
            Some(Queue)
        );
        assert_eq!(
            ConcurrencyPolicy::limiting(Some("main"), Some("supersede")),
            Some(Supersede)
        );
        assert_eq!(
            ConcurrencyPolicy::limiting(Some("main"), Some("parallel")),
            None
        );
        assert_eq!(ConcurrencyPolicy::limiting(Some("main"), None), None);
        assert_eq!(
            ConcurrencyPolicy::limiting(Some("main"), Some("later")),
            None
        );
        assert_eq!(ConcurrencyPolicy::limiting(None, Some("queue")), None);
    }
}
