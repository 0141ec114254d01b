//! Slow bodies: a request body must arrive within a deadline and no slower than a minimum rate,
//! or the request is answered `408 request_timeout` and its connection closed (SPEC §7).
//!
//! actix-web's own `client_request_timeout` covers the request head only (see `startup.rs`); a
//! body is read by whoever extracts it, for as long as the client likes. So [`guard`], a
//! middleware around every route, replaces the request's payload with a [`Guarded`] stream:
//! - the whole body must have arrived `body_read_timeout_secs` after the head (default 30 s);
//! - every [`RATE_WINDOW`] (5 s) without the body ending must bring at least
//!   `body_min_bytes_per_sec` × 5 bytes (default 1 KiB/s), so a body sent at 1 byte/s is cut
//!   after 5 s, not 30.
//!
//! When either trips, the stream ends with an error (the handler fails however it fails on a
//! broken body), and [`guard`] answers 408 instead, with `Connection: close`. Timers only run
//! while someone waits for the body, which is whenever a handler reads it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures_util::Stream;
use tokio::time::{sleep, Instant, Sleep};

use crate::app::AppState;
use crate::error::ApiError;

/// actix's boxed payload stream (`actix_http::BoxedPayloadStream`, not re-exported).
type BoxedStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// The window over which the minimum rate is judged.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The limits a body is read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The whole body must arrive within this long after the head.
    pub deadline: Duration,
    /// Bytes a second, judged over each `window`; 0 switches the rate check off.
    pub min_bytes_per_sec: u64,
    /// [`RATE_WINDOW`], except in tests.
    pub window: Duration,
}

/// A payload that fails once its deadline passes or a window brings too few bytes, and marks
/// `tripped` so that [`guard`] answers 408.
pub struct Guarded {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    window: Pin<Box<Sleep>>,
    window_len: Duration,
    min_per_window: u64,
    seen_in_window: u64,
    ended: bool,
    tripped: Rc<Cell<Option<&'static str>>>,
}

impl Guarded {
    pub fn new(
        inner: Payload,
        limits: BodyLimits,
        tripped: Rc<Cell<Option<&'static str>>>,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(sleep(limits.deadline)),
            window: Box::pin(sleep(limits.window)),
            window_len: limits.window,
            min_per_window: (limits.min_bytes_per_sec as f64 * limits.window.as_secs_f64()) as u64,
            seen_in_window: 0,
            ended: false,
            tripped,
        }
    }

    fn trip(&mut self, why: &'static str) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.ended = true;
        self.tripped.set(Some(why));
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            why,
        )))))
    }
}

impl Stream for Guarded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        // Timers are checked on every poll, even when a chunk is ready, so that a body fed
        // just often enough to be ready whenever it is polled still meets the deadline.
        let chunk = match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen_in_window += chunk.len() as u64;
                Some(chunk)
            }
            Poll::Ready(None) => {
                this.ended = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Pending => None,
        };
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.trip("the body did not arrive within the body-read deadline");
        }
        while this.window.as_mut().poll(cx).is_ready() {
            if this.seen_in_window < this.min_per_window {
                return this.trip("the body arrived slower than the minimum rate");
            }
            this.seen_in_window = 0;
            let next = Instant::now() + this.window_len;
            this.window.as_mut().reset(next);
        }
        match chunk {
            Some(chunk) => Poll::Ready(Some(Ok(chunk))),
            None => Poll::Pending,
        }
    }
}

/// The middleware: see the module documentation.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.body_limits());
    // HTTP/1.1: a request with neither Content-Length nor Transfer-Encoding has no body.
    let headers = req.headers();
    let no_body = !headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        && headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    let (Some(limits), false) = (limits, no_body) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let tripped = Rc::new(Cell::new(None));
    let payload = Guarded::new(req.take_payload(), limits, tripped.clone());
    req.set_payload(Payload::from(Box::pin(payload) as BoxedStream));
    let (http_req, res) = match next.call(req).await {
        Ok(res) => {
            let (http_req, res) = res.into_parts();
            (http_req, Ok(res.map_into_boxed_body()))
        }
        Err(e) => return tripped_or(tripped.get(), Err(e)),
    };
    match tripped.get() {
        None => res.map(|r| ServiceResponse::new(http_req, r)),
        Some(why) => {
            let mut answer = actix_web::ResponseError::error_response(&ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                why,
            ));
            answer
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            Ok(ServiceResponse::new(http_req, answer))
        }
    }
}

/// An error from further in (rare: handlers answer their errors themselves) stays an error,
/// unless the body tripped, in which case actix turns this error into 408 with the connection
/// closed.
fn tripped_or(
    why: Option<&'static str>,
    res: Result<ServiceResponse<BoxBody>, actix_web::Error>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match why {
        None => res,
        Some(why) => Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", why).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// A payload fed through a channel, so the test decides when bytes arrive.
    fn fed() -> (tokio::sync::mpsc::UnboundedSender<Bytes>, Payload) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let stream = tokio_stream_from(rx);
        (tx, Payload::from(Box::pin(stream) as BoxedStream))
    }

    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    ) -> impl Stream<Item = Result<Bytes, PayloadError>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok)))
    }

    /// 1 KiB/s over 50 ms windows (20 s would be too long for a test): 51 bytes a window.
    const LIMITS: BodyLimits = BodyLimits {
        deadline: Duration::from_millis(400),
        min_bytes_per_sec: 1024,
        window: Duration::from_millis(50),
    };

    #[tokio::test]
    async fn a_trickle_is_cut_at_the_end_of_a_window() {
        let (tx, payload) = fed();
        let tripped = Rc::new(Cell::new(None));
        let mut g = Guarded::new(payload, LIMITS, tripped.clone());
        tx.send(Bytes::from_static(b"{")).unwrap();
        assert!(g.next().await.unwrap().is_ok());
        // Nothing more arrives: a window's end cuts it.
        assert!(g.next().await.unwrap().is_err());
        assert!(tripped.get().unwrap().contains("minimum rate"));
        assert!(g.next().await.is_none());
    }

    #[tokio::test]
    async fn a_body_fast_enough_for_every_window_still_meets_the_deadline() {
        let (tx, payload) = fed();
        let tripped = Rc::new(Cell::new(None));
        let mut g = Guarded::new(payload, LIMITS, tripped.clone());
        // 1 KiB every 20 ms is well above the rate: no window trips it, the deadline does.
        let mut chunks = 0;
        loop {
            tx.send(Bytes::from(vec![b' '; 1024])).unwrap();
            if g.next().await.unwrap().is_err() {
                break;
            }
            chunks += 1;
            assert!(chunks < 10_000, "the deadline never came");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            tripped.get().unwrap().contains("deadline"),
            "{:?}",
            tripped.get()
        );
    }

    #[tokio::test]
    async fn a_body_that_ends_is_not_tripped() {
        let (tx, payload) = fed();
        let tripped = Rc::new(Cell::new(None));
        let mut g = Guarded::new(payload, LIMITS, tripped.clone());
        tx.send(Bytes::from_static(b"{}")).unwrap();
        drop(tx);
        assert_eq!(g.next().await.unwrap().unwrap(), Bytes::from_static(b"{}"));
        assert!(g.next().await.is_none());
        tokio::time::sleep(LIMITS.deadline * 2).await;
        assert!(g.next().await.is_none());
        assert_eq!(tripped.get(), None);
    }
}
