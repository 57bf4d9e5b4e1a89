//! Conversions between stored text/integers and Liaison values, and small
//! query helpers that keep row mapping in `StoreError` terms.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Row};

use crate::error::StoreError;
use crate::store::Result;

/// Maps one row to a value.
pub(crate) type RowFn<T> = fn(&Row<'_>) -> Result<T>;

/// The current time, truncated to the microseconds that are stored.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The stored form of a time: RFC 3339, UTC, microseconds (sortable text).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parse a stored time.
pub(crate) fn parse_ts(what: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(what, s))
}

/// Parse an optional stored time.
pub(crate) fn parse_opt_ts(what: &str, s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(what, &s)).transpose()
}

/// Parse a stored value in its string form (node id, UUID, TLP, kind, …).
pub(crate) fn parse<T: FromStr>(what: &str, s: &str) -> Result<T> {
    s.parse().map_err(|_| corrupt(what, s))
}

/// Parse an optional stored value in its string form.
pub(crate) fn parse_opt<T: FromStr>(what: &str, s: Option<String>) -> Result<Option<T>> {
    s.map(|s| parse(what, &s)).transpose()
}

/// A stored integer that must fit `T` (counts, sizes, sequence numbers).
pub(crate) fn int<T: TryFrom<i64>>(what: &str, v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("stored {what} {v} is out of range")))
}

/// A count or size for SQL; no real value exceeds `i64::MAX`.
pub(crate) fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The error for a stored value that does not parse; quotes a short prefix.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    let shown: String = value.chars().take(80).collect();
    StoreError::Corrupt(format!("stored {what} `{shown}` does not parse"))
}

/// Every row of a query, mapped by `f`.
pub(crate) fn all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: RowFn<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| Ok(f(row)))?;
    rows.map(|r| r?).collect()
}

/// The first row of a query, if any, mapped by `f`.
pub(crate) fn first<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: RowFn<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_row(params, |row| Ok(f(row)))
        .optional()?
        .transpose()
}

/// A single non-negative integer, e.g. `SELECT COUNT(*) …`.
pub(crate) fn count<P: Params>(conn: &Connection, sql: &str, params: P) -> Result<u64> {
    let n: i64 = conn.prepare_cached(sql)?.query_row(params, |r| r.get(0))?;
    int("count", n)
}

/// Whether a query returns at least one row.
pub(crate) fn exists<P: Params>(conn: &Connection, sql: &str, params: P) -> Result<bool> {
    Ok(conn.prepare_cached(sql)?.exists(params)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_sortable_text_with_micros() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(ts(t), "2026-01-02T03:04:05.000000Z");
        assert_eq!(parse_ts("t", &ts(t)).unwrap(), t);
        let later = t + chrono::Duration::microseconds(1);
        assert!(ts(t) < ts(later));
        assert!(matches!(
            parse_ts("t", "yesterday"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn now_is_stored_exactly() {
        let n = now();
        assert_eq!(parse_ts("t", &ts(n)).unwrap(), n);
    }
}
