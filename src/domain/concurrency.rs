//! Concurrency policies (SPEC §5): what a pipeline's `concurrency.policy` means, typed.
//! Stored on each run as its name (column `concurrency_policy`, see store/text_enums.rs), and
//! the rules `claim_run` applies to a queued run of a limited key.

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

    /// Whether a queued run gives way to a newer queued run of its key: `supersede`, unless an
    /// approver already let this run go on.
    pub fn yields_to_newer(self, approved: bool) -> bool {
        self == ConcurrencyPolicy::Supersede && !approved
    }

    /// Whether a queued run waits for the older queued runs of its key (`queue`: first in,
    /// first out).
    pub fn waits_for_older(self) -> bool {
        self == ConcurrencyPolicy::Queue
    }
}

/// Whether a run may take a slot of its key: fewer than `max` (1 when unset) of the key's runs
/// are running or waiting for an approval (a waiting run keeps its slot, SPEC §5).
pub fn slot_free(busy: i64, max: Option<i64>) -> bool {
    busy < max.unwrap_or(1)
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

    #[test]
    fn supersede_yields_unless_approved_and_queue_waits_its_turn() {
        use ConcurrencyPolicy::*;
        assert!(Supersede.yields_to_newer(false));
        assert!(!Supersede.yields_to_newer(true));
        assert!(!Queue.yields_to_newer(false));
        assert!(Queue.waits_for_older());
        assert!(!Supersede.waits_for_older());
    }

    #[test]
    fn a_slot_is_free_below_max_and_max_defaults_to_one() {
        assert!(slot_free(0, None));
        assert!(!slot_free(1, None));
        assert!(slot_free(2, Some(3)));
        assert!(!slot_free(3, Some(3)));
    }
}
