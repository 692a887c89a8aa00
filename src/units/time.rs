//! Time as upshift reads it: instants are `jiff` timestamps, and a clock is a shared
//! function, so that a rehearsal and the tests can hand in the simulator's virtual
//! clock where the real world has the wall clock.

use std::sync::Arc;

/// An instant, in UTC.
pub type Timestamp = jiff::Timestamp;

/// A clock: the wall clock (`Arc::new(Timestamp::now)`) or a simulator's virtual one.
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;
