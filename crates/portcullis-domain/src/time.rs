use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Every stored instant is UTC with microsecond precision: the finest both
/// SQLite (integer microseconds) and PostgreSQL (`timestamptz`) keep, so a
/// value survives a round trip through either store unchanged.
pub type Timestamp = DateTime<Utc>;

/// The current instant, truncated to microseconds.
pub fn now() -> Timestamp {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
