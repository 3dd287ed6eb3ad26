//! The admins' health view, computed without I/O: refresh outcomes bucketed into the last
//! 24 hours and 7 days, and bar geometry for server-rendered SVG charts (one chart per
//! outcome, labelled, each bar titled with its count: readable without colour).

use crate::store::OutcomeCount;

/// One bar of a chart: where it stands and what it says on hover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub title: String,
}

/// One outcome over a period: its buckets' counts, oldest first, and their bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub outcome: String,
    pub total: i64,
    pub counts: Vec<i64>,
    pub bars: Vec<Bar>,
}

pub const CHART_HEIGHT: u32 = 48;
pub const BAR_WIDTH: u32 = 10;
pub const BAR_GAP: u32 = 2;

/// The outcomes in the order they are shown.
const OUTCOMES: [&str; 5] = [
    "success",
    "transient",
    "reauth",
    "client_rejected",
    "fenced",
];

/// Counts per outcome in `buckets` buckets of `width` seconds ending with the one holding
/// `now`; `label(i)` names bucket `i` (oldest first) in the bars' titles.
pub fn series(
    counts: &[OutcomeCount],
    now: i64,
    width: i64,
    buckets: usize,
    label: impl Fn(i64) -> String,
) -> Vec<Series> {
    let last = now - now.rem_euclid(width);
    let first = last - width * (buckets as i64 - 1);
    let mut out = vec![];
    for outcome in OUTCOMES {
        let mut per = vec![0i64; buckets];
        for c in counts
            .iter()
            .filter(|c| c.outcome == outcome && c.hour >= first)
        {
            let i = ((c.hour - first) / width) as usize;
            if i < buckets {
                per[i] += c.count;
            }
        }
        let total: i64 = per.iter().sum();
        let most = per.iter().copied().max().unwrap_or(0).max(1);
        let bars = per
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                // A bucket with any refresh shows at least a sliver.
                let height = if n == 0 {
                    0
                } else {
                    ((n * i64::from(CHART_HEIGHT)) / most).max(2) as u32
                };
                Bar {
                    x: i as u32 * (BAR_WIDTH + BAR_GAP),
                    y: CHART_HEIGHT - height,
                    height,
                    title: format!("{}: {n} {outcome}", label(first + width * i as i64)),
                }
            })
            .collect();
        out.push(Series {
            outcome: outcome.to_owned(),
            total,
            counts: per,
            bars,
        });
    }
    out
}

/// A chart's width for `buckets` bars.
pub fn chart_width(buckets: usize) -> u32 {
    buckets as u32 * (BAR_WIDTH + BAR_GAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hour: i64, outcome: &str, count: i64) -> OutcomeCount {
        OutcomeCount {
            hour,
            outcome: outcome.into(),
            count,
        }
    }

    #[test]
    fn outcomes_fall_into_their_buckets_and_old_ones_drop_out() {
        let now = 100 * 3600 + 1800;
        let counts = [
            count(100 * 3600, "success", 3),
            count(99 * 3600, "success", 1),
            count(99 * 3600, "reauth", 2),
            count(70 * 3600, "success", 9), // more than 24 hours ago
        ];
        let day = series(&counts, now, 3600, 24, |h| h.to_string());
        let success = &day[0];
        assert_eq!(success.outcome, "success");
        assert_eq!(success.total, 4);
        assert_eq!(success.counts[23], 3);
        assert_eq!(success.counts[22], 1);
        assert_eq!(
            success.bars[23].height, CHART_HEIGHT,
            "the largest bar fills the chart"
        );
        assert_eq!(success.bars[0].height, 0);
        assert!(success.bars[23].title.ends_with(": 3 success"));
        assert_eq!(day[2].total, 2, "reauth");
        let week = series(&counts, now, 86_400, 7, |d| d.to_string());
        assert_eq!(week[0].total, 13, "the week keeps the older one");
    }
}
