//! The `SHOW` commands pickers use — `SHOW WAREHOUSES`, `SHOW DATABASES`,
//! `SHOW SCHEMAS IN DATABASE d`, `SHOW COLUMNS IN SCHEMA d.s` — answered from the engine's
//! catalog, limited to what the user's grants reach (names upper case, as Snowflake shows
//! unquoted identifiers). Pure, apart from reading the catalog.

use crate::databricks::warehouses::{Warehouse, WhState};
use crate::engine::sql::catalog::tables;
use crate::engine::sql::plan::grant_matches;
use crate::engine::sql::{ResultColumn, ResultSet, SqlError};

use super::sql_api::warehouse_name;

fn text_columns(names: &[&str]) -> Vec<ResultColumn> {
    names
        .iter()
        .map(|n| ResultColumn {
            name: (*n).to_owned(),
            type_name: "STRING".into(),
            type_text: "string".into(),
        })
        .collect()
}

fn result(names: &[&str], rows: Vec<Vec<String>>) -> ResultSet {
    ResultSet {
        columns: text_columns(names),
        rows: rows
            .into_iter()
            .map(|r| r.into_iter().map(Some).collect())
            .collect(),
        bytes: 0,
        truncated: false,
    }
}

fn readable(grants: &[String]) -> Vec<(String, String, crate::engine::sql::catalog::Table)> {
    tables()
        .into_iter()
        .filter(|t| grants.iter().any(|g| grant_matches(g, &t.full_name())))
        .map(|t| (t.catalog.to_uppercase(), t.schema.to_uppercase(), t))
        .collect()
}

fn not_found(what: &str) -> SqlError {
    SqlError::new(
        "TABLE_OR_VIEW_NOT_FOUND",
        format!("{what} does not exist or not authorized."),
        "02000",
    )
}

/// The answer to a `SHOW` statement, or `None` when `sql` is not one of these.
pub fn answer(
    sql: &str,
    grants: &[String],
    warehouses: &[Warehouse],
) -> Option<Result<ResultSet, SqlError>> {
    // Quoted identifiers keep their case; the catalog's names are all upper case here.
    let words: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(|w| w.replace('"', "").to_uppercase())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut seen: Vec<String> = Vec::new();
    let mut once = |v: String| {
        let new = !seen.contains(&v);
        if new {
            seen.push(v);
        }
        new
    };
    Some(match words.as_slice() {
        ["SHOW", "WAREHOUSES"] => {
            let rows = warehouses
                .iter()
                .map(|w| {
                    let state = if w.state == WhState::Running {
                        "STARTED"
                    } else {
                        "SUSPENDED"
                    };
                    vec![
                        warehouse_name(&w.name),
                        state.to_owned(),
                        "X-Small".to_owned(),
                    ]
                })
                .collect();
            Ok(result(&["name", "state", "size"], rows))
        }
        ["SHOW", "DATABASES"] => {
            let rows = readable(grants)
                .into_iter()
                .filter(|(d, _, _)| once(d.clone()))
                .map(|(d, _, _)| vec![d, "STANDARD".into()])
                .collect();
            Ok(result(&["name", "kind"], rows))
        }
        ["SHOW", "SCHEMAS", "IN", "DATABASE", db] => {
            let rows: Vec<Vec<String>> = readable(grants)
                .into_iter()
                .filter(|(d, s, _)| d == db && once(s.clone()))
                .map(|(d, s, _)| vec![s, d])
                .collect();
            if rows.is_empty() {
                return Some(Err(not_found(&format!("Database '{db}'"))));
            }
            Ok(result(&["name", "database_name"], rows))
        }
        ["SHOW", "COLUMNS", "IN", "SCHEMA", path] => {
            let Some((db, schema)) = path.split_once('.') else {
                return Some(Err(not_found(&format!("Schema '{path}'"))));
            };
            let mut rows = Vec::new();
            for (d, s, t) in readable(grants) {
                if d != db || s != schema {
                    continue;
                }
                for c in &t.columns {
                    let data_type = crate::engine::sql::type_name(c.type_text);
                    rows.push(vec![
                        t.name.to_uppercase(),
                        c.name.to_uppercase(),
                        data_type.into(),
                    ]);
                }
            }
            if rows.is_empty() {
                return Some(Err(not_found(&format!("Schema '{path}'"))));
            }
            Ok(result(&["table_name", "column_name", "data_type"], rows))
        }
        ["SHOW", ..] => Err(SqlError::new(
            "PARSE_SYNTAX_ERROR",
            "syntax error: this SHOW command is not emulated",
            "42000",
        )),
        _ => return None,
    })
}
