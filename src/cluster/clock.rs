//! The API server's clock, read from the `Date` header of its answers. Every age and
//! duration the drive and the cockpit show is measured on it, so that two machines'
//! clocks never meet in one figure, and a rehearsal against the simulator (whose
//! clock may run many times faster than ours) reads in the simulator's time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, Response};
use parking_lot::Mutex;
use tower::Service;

use crate::units::{ClusterClock, Now, Timestamp};

/// The API server's time as its answers show it, advanced between answers at the
/// rate it was seen to move; this machine's clock until a first answer came. Clones
/// share one clock.
#[derive(Clone, Debug, Default)]
pub struct ServerClock(Arc<Mutex<Seen>>);

#[derive(Debug)]
struct Seen {
    clock: ClusterClock,
    /// The latest time given out: the clock never goes back.
    given: Option<Timestamp>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            // an HTTP date is whole seconds
            clock: ClusterClock::with_resolution(Duration::from_secs(1)),
            given: None,
        }
    }
}

/// Two clocks compare equal: which clock reads the server says nothing of where one
/// is connected.
impl PartialEq for ServerClock {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ServerClock {}

impl ServerClock {
    /// Takes in an answer's headers, received at `local`.
    pub fn saw(&self, headers: &HeaderMap, local: Instant) {
        let Some(at) = headers
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| Timestamp::try_from(t).ok())
        else {
            return;
        };
        // a date is rounded down to its second: the middle of it is nearer
        let at = at + jiff::SignedDuration::from_millis(500);
        self.0.lock().clock.observe(at, local);
    }

    /// Whether an answer has told the server's time yet.
    pub fn known(&self) -> bool {
        self.0.lock().clock.now(Instant::now()).is_some()
    }

    /// The server's time now.
    pub fn now(&self) -> Timestamp {
        self.now_at(Instant::now())
    }

    /// The server's time at `local`: never earlier than a time given before, and this
    /// machine's clock while no answer has told it.
    pub fn now_at(&self, local: Instant) -> Timestamp {
        let mut seen = self.0.lock();
        let Some(t) = seen.clock.now(local) else {
            return Timestamp::now();
        };
        let t = seen.given.map_or(t, |g| g.max(t));
        seen.given = Some(t);
        t
    }

    /// This clock as the shared function a drive and a thread read.
    pub fn as_now(&self) -> Now {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
}

/// A client stack that shows every answer's headers to a [`ServerClock`].
pub struct Dated<S> {
    inner: S,
    clock: ServerClock,
}

impl<S> Dated<S> {
    pub fn new(inner: S, clock: ServerClock) -> Self {
        Dated { inner, clock }
    }
}

impl<S, B, Q> Service<Request<Q>> for Dated<S>
where
    S: Service<Request<Q>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Q>) -> Self::Future {
        let clock = self.clock.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let answer = answer.await?;
            clock.saw(answer.headers(), Instant::now());
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::DATE, s.parse().expect("header"));
        h
    }

    #[test]
    fn it_reads_the_servers_dates_and_runs_at_their_pace() {
        let c = ServerClock::default();
        assert!(!c.known());
        let l0 = Instant::now();
        c.saw(&date("Tue, 01 Dec 2026 10:00:00 GMT"), l0);
        assert!(c.known());
        assert_eq!(c.now_at(l0).to_string(), "2026-12-01T10:00:00.5Z");
        // a server whose clock runs 10× (a simulator): 60 s in 6 s of ours
        c.saw(&date("Tue, 01 Dec 2026 10:01:00 GMT"), l0 + Duration::from_secs(6));
        let later = c.now_at(l0 + Duration::from_secs(16));
        assert_eq!(later.to_string(), "2026-12-01T10:02:40.5Z");
        // an answer without a date, or with a wrong one, changes nothing
        c.saw(&HeaderMap::new(), l0 + Duration::from_secs(16));
        c.saw(&date("yesterday"), l0 + Duration::from_secs(16));
        assert_eq!(c.now_at(l0 + Duration::from_secs(16)), later);
    }

    #[test]
    fn it_never_goes_back() {
        let c = ServerClock::default();
        let l0 = Instant::now();
        c.saw(&date("Tue, 01 Dec 2026 10:00:00 GMT"), l0);
        c.saw(&date("Tue, 01 Dec 2026 10:00:10 GMT"), l0 + Duration::from_secs(5));
        // extrapolated at 2×, then a slower answer comes: the time given stands
        let ahead = c.now_at(l0 + Duration::from_secs(9));
        c.saw(&date("Tue, 01 Dec 2026 10:00:12 GMT"), l0 + Duration::from_secs(9));
        assert!(c.now_at(l0 + Duration::from_secs(9)) >= ahead);
    }
}
