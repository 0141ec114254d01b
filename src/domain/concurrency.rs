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

named_enum!(ConcurrencyPolicy {
    Queue = "queue",
    Supersede = "supersede",
    Parallel = "parallel",
});

impl ConcurrencyPolicy {
    /// The policy that limits a stored run: `None` for a run without a key, or whose policy
    /// is `parallel` or absent.
    pub fn limiting(
        key: Option<&str>,
        stored: Option<ConcurrencyPolicy>,
    ) -> Option<ConcurrencyPolicy> {
        key?;
        match stored? {
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
        let limiting = ConcurrencyPolicy::limiting;
        assert_eq!(limiting(Some("main"), Some(Queue)), Some(Queue));
        assert_eq!(limiting(Some("main"), Some(Supersede)), Some(Supersede));
        assert_eq!(limiting(Some("main"), Some(Parallel)), None);
        assert_eq!(limiting(Some("main"), None), None);
        assert_eq!(limiting(None, Some(Queue)), None);
    }
}
