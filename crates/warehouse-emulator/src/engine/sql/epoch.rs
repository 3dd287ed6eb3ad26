//! The engine's date and timestamp text (Databricks' form) as counts since the epoch, which
//! Snowflake and BigQuery send instead. Pure.

/// `2024-02-29` → days since 1970-01-01.
pub fn days(s: &str) -> Option<i64> {
    let (y, rest) = s.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.get(..2)?.parse().ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `2016-01-01T00:01:22.5Z` → (1451606482, 500000000): seconds since the epoch and nanoseconds.
pub fn epoch_nanos(s: &str) -> Option<(i64, u32)> {
    let day = days(s.get(..10)?)?;
    let time = s.get(11..19)?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let secs = hms.next()?? * 3600 + hms.next()?? * 60 + hms.next()??;
    let frac: String = s
        .get(19..)
        .unwrap_or("")
        .trim_start_matches('.')
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    let nanos = format!("{frac:0<9}").parse().ok()?;
    Some((day * 86_400 + secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_count_from_the_epoch() {
        assert_eq!(days("2020-01-01"), Some(18_262));
        assert_eq!(days("1969-12-31"), Some(-1));
        assert_eq!(
            epoch_nanos("2016-01-01T00:01:22.000Z"),
            Some((1_451_606_482, 0))
        );
        assert_eq!(
            epoch_nanos("2020-01-01T00:00:00.5Z"),
            Some((1_577_836_800, 500_000_000))
        );
        assert_eq!(epoch_nanos("nope"), None);
    }
}
