//! One read at a time per key: callers that ask for a key while its read is under way wait for
//! that read's outcome instead of starting their own (`hooks.rs`: when a busy hook's cache
//! entry expired, every request in flight read its row at once).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

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
        let hold = {
            let mut reading = self.reading.lock().expect("single flight lock");
            let flight = match reading.get(key) {
                Some((began_at, flight)) if *began_at == epoch => flight.clone(),
                _ => {
                    let flight = Read::default();
                    reading.insert(key.to_string(), (epoch, flight.clone()));
                    flight
                }
            };
            Hold {
                flights: self,
                key,
                flight: Some(flight),
            }
        };
        hold.cell().get_or_init(read).await.clone()
    }
}

/// A caller's share of a read. When it ends, by answer or by being dropped, the key's entry goes
/// if the read is over or no one else is left to run it: a request cut short (a client gone, a
/// timeout) must not leave its entry behind, or hostile requests for made-up hook ids would
/// grow the map.
struct Hold<'a, V> {
    flights: &'a SingleFlight<V>,
    key: &'a str,
    /// `Some` until dropped; released under the map's lock, so counts read there are exact.
    flight: Option<Read<V>>,
}

impl<V> Hold<'_, V> {
    fn cell(&self) -> &OnceCell<V> {
        self.flight.as_deref().expect("held until dropped")
    }
}

impl<V> Drop for Hold<'_, V> {
    fn drop(&mut self) {
        let mut reading = self
            .flights
            .reading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(flight) = self.flight.take() else {
            return;
        };
        let over = flight.initialized();
        let Some((_, current)) = reading.get(self.key) else {
            return;
        };
        if Arc::ptr_eq(current, &flight) {
            drop(flight);
            if over || Arc::strong_count(current) == 1 {
                reading.remove(self.key);
            }
        }
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
        assert!(flights.reading.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_read_cut_short_with_no_one_waiting_leaves_nothing_behind() {
        let flights = SingleFlight::default();
        let reads = AtomicUsize::new(0);
        for i in 0..3u32 {
            let key = format!("hk_{i}");
            let cut = tokio::time::timeout(
                Duration::from_millis(5),
                flights.run(&key, 1, || counted(&reads, 1_000, i)),
            )
            .await;
            assert!(cut.is_err(), "the read was cut short");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        assert!(flights.reading.lock().unwrap().is_empty());
    }
}
