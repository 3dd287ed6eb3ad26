//! The few Databricks functions the demo and tests use, as SQLite functions.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// `hour`, `year`, `month`, `day`, `to_date`, `nvl`, `date_trunc` over ISO-8601 text.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, start, len) in [
        ("hour", 11usize, 2usize),
        ("year", 0, 4),
        ("month", 5, 2),
        ("day", 8, 2),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            let s: Option<String> = ctx.get(0)?;
            Ok(s.and_then(|s| {
                s.get(start..start + len)
                    .and_then(|p| p.parse::<i64>().ok())
            }))
        })?;
    }
    conn.create_scalar_function("to_date", 1, flags, |ctx| {
        let s: Option<String> = ctx.get(0)?;
        Ok(s.and_then(|s| s.get(0..10).map(str::to_owned)))
    })?;
    conn.create_scalar_function("nvl", 2, flags, |ctx| {
        let a: rusqlite::types::Value = ctx.get(0)?;
        Ok(if a == rusqlite::types::Value::Null {
            ctx.get::<rusqlite::types::Value>(1)?
        } else {
            a
        })
    })?;
    conn.create_scalar_function("date_trunc", 2, flags, |ctx| {
        let unit: String = ctx.get(0)?;
        let s: Option<String> = ctx.get(1)?;
        Ok(s.map(|s| {
            let keep = match unit.to_uppercase().as_str() {
                "YEAR" => 4,
                "MONTH" => 7,
                "DAY" => 10,
                "HOUR" => 13,
                "MINUTE" => 16,
                _ => 19,
            };
            let template = "0000-01-01T00:00:00.000Z";
            let head = s.get(0..keep).unwrap_or(&s);
            format!("{head}{}", template.get(keep..).unwrap_or(""))
        }))
    })?;
    Ok(())
}

/// `current_user()`: the email of the user running the statement.
pub fn current_user(conn: &Connection, email: &str) -> rusqlite::Result<()> {
    let email = email.to_owned();
    conn.create_scalar_function("current_user", 0, FunctionFlags::SQLITE_UTF8, move |_| {
        Ok(email.clone())
    })
}

/// A niladic function answering one value for the whole session (`current_role()`, …).
pub fn session_value(conn: &Connection, name: &str, value: &str) -> rusqlite::Result<()> {
    let value = value.to_owned();
    conn.create_scalar_function(name, 0, FunctionFlags::SQLITE_UTF8, move |_| {
        Ok(value.clone())
    })
}
