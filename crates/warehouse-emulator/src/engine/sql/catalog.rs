//! The workspace's Unity Catalog: catalogs, schemas and tables with Databricks column
//! types, and the deterministic sample data behind them.

use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    /// Databricks `type_text`, also the SQLite declared type (so results keep it).
    pub type_text: &'static str,
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub catalog: &'static str,
    pub schema: &'static str,
    pub name: &'static str,
    pub comment: &'static str,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
    /// Where the table lives in SQLite: attached database `cat_<catalog>` (SQLite reserves
    /// `main`), table `<schema>__<table>`.
    pub fn sqlite_name(&self) -> (String, String) {
        (
            attached_name(self.catalog),
            format!("{}__{}", self.schema, self.name),
        )
    }
}

/// The SQLite database a catalog is attached as.
pub fn attached_name(catalog: &str) -> String {
    format!("cat_{catalog}")
}

const fn col(name: &'static str, type_text: &'static str) -> Column {
    Column {
        name,
        type_text,
        nullable: true,
    }
}

/// Every table of the emulated workspace.
pub fn tables() -> Vec<Table> {
    vec![
        Table {
            catalog: "samples",
            schema: "nyctaxi",
            name: "trips",
            comment: "New York City taxi trips (generated, deterministic)",
            columns: vec![
                col("tpep_pickup_datetime", "timestamp"),
                col("tpep_dropoff_datetime", "timestamp"),
                col("trip_distance", "double"),
                col("fare_amount", "double"),
                col("pickup_zip", "int"),
                col("dropoff_zip", "int"),
                col("pickup_longitude", "double"),
                col("pickup_latitude", "double"),
                col("dropoff_longitude", "double"),
                col("dropoff_latitude", "double"),
            ],
        },
        Table {
            catalog: "samples",
            schema: "tpch",
            name: "region",
            comment: "TPC-H regions",
            columns: vec![
                col("r_regionkey", "bigint"),
                col("r_name", "string"),
                col("r_comment", "string"),
            ],
        },
        Table {
            catalog: "samples",
            schema: "tpch",
            name: "nation",
            comment: "TPC-H nations",
            columns: vec![
                col("n_nationkey", "bigint"),
                col("n_name", "string"),
                col("n_regionkey", "bigint"),
                col("n_comment", "string"),
            ],
        },
        Table {
            catalog: "samples",
            schema: "tpch",
            name: "customer",
            comment: "TPC-H customers",
            columns: vec![
                col("c_custkey", "bigint"),
                col("c_name", "string"),
                col("c_nationkey", "bigint"),
                col("c_acctbal", "decimal(18,2)"),
                col("c_mktsegment", "string"),
            ],
        },
        Table {
            catalog: "samples",
            schema: "tpch",
            name: "orders",
            comment: "TPC-H orders",
            columns: vec![
                col("o_orderkey", "bigint"),
                col("o_custkey", "bigint"),
                col("o_orderstatus", "string"),
                col("o_totalprice", "decimal(18,2)"),
                col("o_orderdate", "date"),
                col("o_orderpriority", "string"),
            ],
        },
        Table {
            catalog: "main",
            schema: "finance",
            name: "revenue",
            comment: "Monthly revenue (restricted)",
            columns: vec![
                col("month", "date"),
                col("region", "string"),
                col("revenue", "decimal(18,2)"),
                col("is_forecast", "boolean"),
            ],
        },
    ]
}

/// A deterministic generator (SplitMix64), so every start yields the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Databricks' JSON_ARRAY form of a timestamp.
fn timestamp(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub fn date_string(epoch_days: i64) -> String {
    let (y, m, d) = civil_from_days(epoch_days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const ZIPS: [(i64, f64, f64); 12] = [
    (10001, -73.9967, 40.7506),
    (10003, -73.9890, 40.7317),
    (10011, -74.0007, 40.7420),
    (10013, -74.0049, 40.7209),
    (10016, -73.9781, 40.7453),
    (10019, -73.9856, 40.7654),
    (10022, -73.9675, 40.7584),
    (10036, -73.9903, 40.7603),
    (10065, -73.9636, 40.7651),
    (11201, -73.9903, 40.6949),
    (11211, -73.9531, 40.7127),
    (11371, -73.8740, 40.7769),
];

/// Creates every table in `conn` (catalogs attached as databases) and fills it.
pub fn populate(conn: &mut Connection, nyctaxi_rows: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for t in tables() {
        let (db, name) = t.sqlite_name();
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("\"{}\" {}", c.name, c.type_text.to_uppercase()))
            .collect();
        tx.execute_batch(&format!(
            "CREATE TABLE \"{db}\".\"{name}\" ({})",
            cols.join(", ")
        ))?;
    }
    let mut rng = Rng(0x5EED_1A4E_6A7E);
    {
        let mut ins = tx.prepare(
            "INSERT INTO cat_samples.nyctaxi__trips VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let start = 1_451_606_400; // 2016-01-01T00:00:00Z
        for _ in 0..nyctaxi_rows {
            let pickup = start + rng.below(60 * 86_400) as i64;
            let distance = round2(0.3 + rng.unit().powi(2) * 18.0);
            let minutes = (distance * (2.5 + rng.unit() * 3.0)).max(1.0);
            let dropoff = pickup + (minutes * 60.0) as i64;
            let fare = round2(2.5 + distance * 2.5 + minutes * 0.35);
            let (pz, plon, plat) = ZIPS[rng.below(ZIPS.len() as u64) as usize];
            let (dz, dlon, dlat) = ZIPS[rng.below(ZIPS.len() as u64) as usize];
            let jitter = |r: &mut Rng| (r.unit() - 0.5) * 0.01;
            ins.execute(params![
                timestamp(pickup),
                timestamp(dropoff),
                distance,
                fare,
                pz,
                dz,
                plon + jitter(&mut rng),
                plat + jitter(&mut rng),
                dlon + jitter(&mut rng),
                dlat + jitter(&mut rng),
            ])?;
        }
    }
    let regions = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"];
    for (i, r) in regions.iter().enumerate() {
        tx.execute(
            "INSERT INTO cat_samples.tpch__region VALUES (?1, ?2, ?3)",
            params![i as i64, r, format!("region {r}")],
        )?;
    }
    let nations = [
        ("ALGERIA", 0),
        ("ARGENTINA", 1),
        ("BRAZIL", 1),
        ("CANADA", 1),
        ("EGYPT", 4),
        ("ETHIOPIA", 0),
        ("FRANCE", 3),
        ("GERMANY", 3),
        ("INDIA", 2),
        ("INDONESIA", 2),
        ("IRAN", 4),
        ("IRAQ", 4),
        ("JAPAN", 2),
        ("JORDAN", 4),
        ("KENYA", 0),
        ("MOROCCO", 0),
        ("MOZAMBIQUE", 0),
        ("PERU", 1),
        ("CHINA", 2),
        ("ROMANIA", 3),
        ("SAUDI ARABIA", 4),
        ("VIETNAM", 2),
        ("RUSSIA", 3),
        ("UNITED KINGDOM", 3),
        ("UNITED STATES", 1),
    ];
    for (i, (n, r)) in nations.iter().enumerate() {
        tx.execute(
            "INSERT INTO cat_samples.tpch__nation VALUES (?1, ?2, ?3, ?4)",
            params![i as i64, n, r, format!("nation {n}")],
        )?;
    }
    let segments = [
        "AUTOMOBILE",
        "BUILDING",
        "FURNITURE",
        "HOUSEHOLD",
        "MACHINERY",
    ];
    for c in 1..=150i64 {
        tx.execute(
            "INSERT INTO cat_samples.tpch__customer VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                c,
                format!("Customer#{c:09}"),
                rng.below(25) as i64,
                round2(rng.unit() * 10_000.0 - 1_000.0),
                segments[rng.below(5) as usize]
            ],
        )?;
    }
    let priorities = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
    for o in 1..=1500i64 {
        tx.execute(
            "INSERT INTO cat_samples.tpch__orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                o,
                1 + rng.below(150) as i64,
                ["O", "F", "P"][rng.below(3) as usize],
                round2(1_000.0 + rng.unit() * 400_000.0),
                date_string(8_035 + rng.below(2_400) as i64),
                priorities[rng.below(5) as usize],
            ],
        )?;
    }
    for (i, region) in ["EMEA", "AMER", "APAC"].iter().enumerate() {
        for m in 0..12i64 {
            let month = date_string(19_723 + m * 30);
            tx.execute(
                "INSERT INTO cat_main.finance__revenue VALUES (?1, ?2, ?3, ?4)",
                params![
                    month,
                    region,
                    round2(100_000.0 + (i as f64 + 1.0) * 12_345.0 + m as f64 * 1_000.0),
                    m >= 9
                ],
            )?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_451_606_400 + 3_661), "2016-01-01T01:01:01.000Z");
        assert_eq!(date_string(19_723), "2024-01-01");
    }

    #[test]
    fn the_generator_is_deterministic() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        assert_eq!(
            (0..5).map(|_| a.next()).collect::<Vec<_>>(),
            (0..5).map(|_| b.next()).collect::<Vec<_>>()
        );
    }
}
