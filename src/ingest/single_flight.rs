//! One read at a time per key: callers that ask for a key while its read is under way wait for
//! that read's outcome instead of starting their own (`hooks.rs`: when a busy hook's cache
//! entry expired, every request in flight read its row at once).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// The reads under way, by key, each with the epoch it began at.
pub struct SingleFlight<V> {
    reading: Mutex<HashMap<String, (u64, Read<V>)>>,
}

type Read<V> = Arc<OnceCell<V>>;

impl<V> Default for SingleFlight<V> {
    fn default() -> Self {
        Self {
            reading: Mutex::default(),
        }
    }
}

impl<V: Clone> SingleFlight<V> {
    /// The outcome of `read` for `key`: this caller's own, or that of a read of the same key
    /// begun at the same `epoch` and still under way. A read begun at another epoch is not
    /// joined (it may predate what moved the epoch). Should the caller running the read be
    /// dropped, a waiting one runs its own `read` instead.
    pub async fn run<F, Fut>(&self, key: &str, epoch: u64, read: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let flight = {
            let mut reading = self.reading.lock().expect("single flight lock");
            match reading.get(key) {
                Some((began_at, flight)) if *began_at == epoch => flight.clone(),
                _ => {
                    let flight = Read::default();
                    reading.insert(key.to_string(), (epoch, flight.clone()));
                    flight
                }
            }
        };
        let outcome = flight.get_or_init(read).await.clone();
        // This read is over: the next caller begins a new one.
        let mut reading = self.reading.lock().expect("single flight lock");
        if reading
            .get(key)
            .is_some_and(|(_, current)| Arc::ptr_eq(current, &flight))
        {
            reading.remove(key);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A read that counts itself and takes `ms` to answer `answer`.
    async fn counted(reads: &AtomicUsize, ms: u64, answer: u32) -> u32 {
        reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        answer
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_read() {
        let flights = SingleFlight::default();
        let reads = &AtomicUsize::new(0);
        let answers = futures_util::future::join_all(
            (0..64u32).map(|i| flights.run("hk_a", 7, move || counted(reads, 20, i))),
        )
        .await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|&a| a == answers[0]), "{answers:?}");
        assert!(flights.reading.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn another_key_or_epoch_reads_again() {
        let flights = SingleFlight::default();
        let reads = AtomicUsize::new(0);
        let (a, b, c) = tokio::join!(
            flights.run("hk_a", 1, || counted(&reads, 20, 1)),
            flights.run("hk_b", 1, || counted(&reads, 20, 2)),
            flights.run("hk_a", 2, || counted(&reads, 20, 3)),
        );
        assert_eq!((a, b, c), (1, 2, 3));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_finished_read_is_not_reused() {
        let flights = SingleFlight::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(flights.run("hk_a", 1, || counted(&reads, 0, 1)).await, 1);
        assert_eq!(flights.run("hk_a", 1, || counted(&reads, 0, 2)).await, 2);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_waiter_reads_when_the_reader_is_dropped() {
        let flights = SingleFlight::default();
        let reads = AtomicUsize::new(0);
        let dropped = tokio::time::timeout(
            Duration::from_millis(10),
            flights.run("hk_a", 1, || counted(&reads, 1_000, 1)),
        );
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            flights.run("hk_a", 1, || counted(&reads, 0, 2)).await
        };
        let (first, second) = tokio::join!(dropped, waiter);
        assert!(first.is_err(), "the first read was cut short");
        assert_eq!(second, 2);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
