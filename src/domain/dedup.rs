//! Deduplicating a batch of deliveries on the sender's delivery id, decided without the
//! database: which writes claim their key, and which repeat a key claimed earlier in the batch.
//! (Whether a claimed key was already stored is the database's answer, read afterwards.)

use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// The plan for one batch, by index into it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DedupPlan {
    /// The writes that claim their key: the first of each key in the batch, in batch order.
    pub claims: Vec<usize>,
    /// For each write, the earlier write of the batch whose key it repeats; its result is the
    /// duplicate of that one's run.
    pub twin_of: Vec<Option<usize>>,
}

/// Plans a batch; `keys[i]` is the `(hook id, delivery id)` write `i` deduplicates on, `None`
/// for a write that starts no run or has no key. Keys are per hook.
pub fn plan_dedup(keys: &[Option<(&str, &str)>]) -> DedupPlan {
    let mut first_of_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut plan = DedupPlan {
        claims: Vec::new(),
        twin_of: vec![None; keys.len()],
    };
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        match first_of_key.entry(*key) {
            Entry::Occupied(first) => plan.twin_of[i] = Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(i);
                plan.claims.push(i);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_key_claims_it_and_later_ones_are_its_twins() {
        let keys = [
            Some(("hk_a", "1")),
            None,
            Some(("hk_a", "1")),
            Some(("hk_b", "1")),
            Some(("hk_a", "2")),
            Some(("hk_a", "1")),
        ];
        let plan = plan_dedup(&keys);
        assert_eq!(plan.claims, vec![0, 3, 4]);
        assert_eq!(plan.twin_of, vec![None, None, Some(0), None, None, Some(0)]);
    }

    #[test]
    fn a_batch_without_keys_claims_nothing() {
        let plan = plan_dedup(&[None, None]);
        assert!(plan.claims.is_empty());
        assert_eq!(plan.twin_of, vec![None, None]);
        assert_eq!(plan_dedup(&[]), DedupPlan::default());
    }
}
