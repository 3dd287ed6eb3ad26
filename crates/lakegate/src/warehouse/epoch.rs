//! Cells written as counts from the Unix epoch (Snowflake's SQL API: DATE as days,
//! TIME and TIMESTAMP as seconds with nine decimals, TIMESTAMP_TZ with an encoded offset;
//! BigQuery: TIMESTAMP as microseconds)
//! read back as ISO 8601. Pure; `None` when a cell is not what its type says.

use time::OffsetDateTime;

/// `"18262"` (days since 1970-01-01) → `2020-01-01`.
pub fn date(s: &str) -> Option<String> {
    let days: i64 = s.trim().parse().ok()?;
    let t = OffsetDateTime::from_unix_timestamp(days.checked_mul(86_400)?).ok()?;
    Some(t.date().to_string())
}

/// `"1577836800.123456789"` (or negative) → nanoseconds since the epoch.
fn nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let frac: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let n = whole.checked_mul(1_000_000_000)?.checked_add(frac)?;
    Some(if negative { -n } else { n })
}

fn instant(nanos: i128, offset_minutes: i64) -> Option<OffsetDateTime> {
    let seconds = i32::try_from(offset_minutes * 60).ok()?;
    let offset = time::UtcOffset::from_whole_seconds(seconds).ok()?;
    Some(
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()?
            .to_offset(offset),
    )
}

/// `.123` style fraction: the digits that carry information, none when zero.
fn fraction(t: &OffsetDateTime) -> String {
    let n = t.nanosecond();
    if n == 0 {
        return String::new();
    }
    format!(".{n:09}").trim_end_matches('0').to_owned()
}

fn local(t: &OffsetDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}{}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second(),
        fraction(t)
    )
}

fn zoned(t: &OffsetDateTime) -> String {
    let mut out = local(t);
    let o = t.offset();
    if o.is_utc() {
        out.push('Z');
    } else {
        let total = o.whole_minutes();
        let sign = if total < 0 { '-' } else { '+' };
        let abs = total.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60));
    }
    out
}

/// Wall-clock time without a zone: `2020-01-01T00:00:00.5`.
pub fn timestamp_ntz(s: &str) -> Option<String> {
    Some(local(&instant(nanos(s)?, 0)?))
}

/// An instant, in UTC: `2020-01-01T00:00:00Z`.
pub fn timestamp_ltz(s: &str) -> Option<String> {
    Some(zoned(&instant(nanos(s)?, 0)?))
}

/// `"1451606482500000"` (microseconds since the epoch) → `2016-01-01T00:01:22.5Z`.
pub fn timestamp_micros(s: &str) -> Option<String> {
    let micros: i128 = s.trim().parse().ok()?;
    Some(zoned(&instant(micros.checked_mul(1_000)?, 0)?))
}

/// Seconds since midnight → `HH:MM:SS[.fff]`.
pub fn time_of_day(s: &str) -> Option<String> {
    let n = nanos(s)?;
    if !(0..86_400 * 1_000_000_000).contains(&n) {
        return None;
    }
    Some(local(&instant(n, 0)?).split_once('T')?.1.to_owned())
}

/// `"<epoch seconds> <offset>"` where the offset in minutes is `offset − 1440`.
pub fn timestamp_tz(s: &str) -> Option<String> {
    let (epoch, encoded) = s.trim().split_once(' ')?;
    let minutes = encoded.parse::<i64>().ok()? - 1440;
    if minutes.abs() >= 24 * 60 {
        return None;
    }
    Some(zoned(&instant(nanos(epoch)?, minutes)?))
}
