//! From Databricks SQL to SQLite: parse, check it is a query, resolve every table name
//! against the catalog and the user's grants, and print the rewritten statement.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, Visit, Visitor, visit_relations_mut,
};
use sqlparser::dialect::DatabricksDialect;
use sqlparser::parser::Parser;

use super::SqlError;
use super::catalog::{Table, tables};

/// A statement ready for SQLite, with the tables it reads.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sql: String,
    pub tables: Vec<String>,
}

/// Whether `pattern` (`catalog.schema.table`, `*` for any part) covers `full_name`.
pub fn grant_matches(pattern: &str, full_name: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let n: Vec<&str> = full_name.split('.').collect();
    p.len() == n.len()
        && p.iter()
            .zip(&n)
            .all(|(a, b)| *a == "*" || a.eq_ignore_ascii_case(b))
}

/// Collects the names CTEs introduce, which are not catalog tables.
struct CteNames(HashSet<String>);

impl Visitor for CteNames {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

fn parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.to_lowercase()),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

/// Plans `sql` for a user holding `grants`, with the request's default catalog and schema.
pub fn plan(sql: &str, catalog: &str, schema: &str, grants: &[String]) -> Result<Plan, SqlError> {
    plan_with(&DatabricksDialect {}, sql, catalog, schema, grants, &|p| {
        Some(p)
    })
}

/// [`plan`] in another vendor's dialect, whose table names `names` turns into the engine's
/// (`None`: no such table) — BigQuery's `project.dataset.table` in one quoted identifier,
/// with projects that stand for catalogs.
pub fn plan_with(
    dialect: &dyn sqlparser::dialect::Dialect,
    sql: &str,
    catalog: &str,
    schema: &str,
    grants: &[String],
    names: &dyn Fn(Vec<String>) -> Option<Vec<String>>,
) -> Result<Plan, SqlError> {
    let mut statements =
        Parser::parse_sql(dialect, sql).map_err(|e| syntax_error(&e.to_string()))?;
    if statements.len() != 1 {
        return Err(SqlError::new(
            "PARSE_SYNTAX_ERROR",
            "Exactly one statement is expected.",
            "42601",
        ));
    }
    let Some(mut statement) = statements.pop() else {
        return Err(SqlError::new(
            "PARSE_SYNTAX_ERROR",
            "Syntax error at or near end of input.",
            "42601",
        ));
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(SqlError::new(
            "UNSUPPORTED_FEATURE",
            "The emulated warehouse runs queries (SELECT, WITH, VALUES) only.",
            "0A000",
        ));
    }
    let mut ctes = CteNames(HashSet::new());
    let _ = statement.visit(&mut ctes);
    let known = tables();
    let mut read = Vec::new();
    let mut failure = None;
    let _ = visit_relations_mut(&mut statement, |name| {
        let Some(written) = parts(name) else {
            failure = Some(SqlError::new(
                "PARSE_SYNTAX_ERROR",
                "Unsupported table reference.",
                "42601",
            ));
            return ControlFlow::Break(());
        };
        let Some(p) = names(written.clone()) else {
            failure = Some(not_found(&written.join(".")));
            return ControlFlow::Break(());
        };
        let full = match p.as_slice() {
            [t] if ctes.0.contains(t) => return ControlFlow::Continue(()),
            [t] => [catalog.to_owned(), schema.to_owned(), t.clone()],
            [s, t] => [catalog.to_owned(), s.clone(), t.clone()],
            [c, s, t] => [c.clone(), s.clone(), t.clone()],
            _ => {
                failure = Some(not_found(&p.join(".")));
                return ControlFlow::Break(());
            }
        };
        let full_name = full.join(".");
        let Some(table) = known.iter().find(|t| t.full_name() == full_name) else {
            failure = Some(not_found(&p.join(".")));
            return ControlFlow::Break(());
        };
        if !grants.iter().any(|g| grant_matches(g, &full_name)) {
            failure = Some(SqlError::new(
                "INSUFFICIENT_PERMISSIONS",
                format!(
                    "Insufficient privileges: User does not have SELECT on Table '{full_name}'."
                ),
                "42501",
            ));
            return ControlFlow::Break(());
        }
        *name = sqlite_name(table);
        read.push(full_name);
        ControlFlow::Continue(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Plan {
        sql: statement.to_string(),
        tables: read,
    })
}

fn sqlite_name(t: &Table) -> ObjectName {
    let (db, name) = t.sqlite_name();
    ObjectName::from(vec![
        Ident::with_quote('"', db),
        Ident::with_quote('"', name),
    ])
}

fn not_found(name: &str) -> SqlError {
    SqlError::new(
        "TABLE_OR_VIEW_NOT_FOUND",
        format!(
            "The table or view `{name}` cannot be found. Verify the spelling and correctness of the schema and catalog."
        ),
        "42P01",
    )
}

/// Databricks' form of a parse error: `[PARSE_SYNTAX_ERROR] Syntax error at or near 'x'.`
fn syntax_error(parser_message: &str) -> SqlError {
    let near = parser_message
        .split("found: ")
        .nth(1)
        .map(|rest| {
            rest.split(" at Line")
                .next()
                .unwrap_or(rest)
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "end of input".into());
    let near = if near == "EOF" {
        "end of input".to_owned()
    } else {
        format!("'{near}'")
    };
    SqlError::new(
        "PARSE_SYNTAX_ERROR",
        format!("Syntax error at or near {near}."),
        "42601",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &["*.*.*"];

    fn grants(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn three_two_and_one_part_names_resolve() {
        let p = plan(
            "SELECT count(*) FROM samples.nyctaxi.trips",
            "main",
            "default",
            &grants(ALL),
        )
        .unwrap();
        assert!(
            p.sql.contains("\"cat_samples\".\"nyctaxi__trips\""),
            "{}",
            p.sql
        );
        let p = plan(
            "SELECT * FROM tpch.region",
            "samples",
            "default",
            &grants(ALL),
        )
        .unwrap();
        assert_eq!(p.tables, ["samples.tpch.region"]);
        let p = plan(
            "SELECT * FROM `trips` t JOIN samples.tpch.nation n ON 1=1",
            "samples",
            "nyctaxi",
            &grants(ALL),
        )
        .unwrap();
        assert_eq!(p.tables, ["samples.nyctaxi.trips", "samples.tpch.nation"]);
    }

    #[test]
    fn ctes_are_not_tables() {
        let p = plan(
            "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
            "main",
            "default",
            &grants(&[]),
        )
        .unwrap();
        assert!(p.tables.is_empty());
    }

    #[test]
    fn grants_are_checked_per_table() {
        let bob = grants(&["samples.nyctaxi.*"]);
        assert!(
            plan(
                "SELECT * FROM samples.nyctaxi.trips",
                "main",
                "default",
                &bob
            )
            .is_ok()
        );
        let e = plan("SELECT * FROM samples.tpch.region", "main", "default", &bob).unwrap_err();
        assert!(
            e.message.starts_with("[INSUFFICIENT_PERMISSIONS]"),
            "{}",
            e.message
        );
        assert_eq!(e.sql_state, "42501");
    }

    #[test]
    fn errors_read_like_databricks() {
        let e = plan("SELEC 1", "main", "default", &grants(ALL)).unwrap_err();
        assert!(
            e.message
                .starts_with("[PARSE_SYNTAX_ERROR] Syntax error at or near"),
            "{}",
            e.message
        );
        assert_eq!(e.sql_state, "42601");
        let e = plan(
            "SELECT * FROM samples.nyctaxi.nope",
            "main",
            "default",
            &grants(ALL),
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]"),
            "{}",
            e.message
        );
        let e = plan(
            "DROP TABLE samples.nyctaxi.trips",
            "main",
            "default",
            &grants(ALL),
        )
        .unwrap_err();
        assert!(e.message.starts_with("[UNSUPPORTED_FEATURE]"));
    }

    #[test]
    fn named_markers_survive_the_rewrite() {
        let p = plan(
            "SELECT * FROM samples.nyctaxi.trips WHERE pickup_zip = :zip",
            "main",
            "default",
            &grants(ALL),
        )
        .unwrap();
        assert!(p.sql.contains(":zip"), "{}", p.sql);
    }

    #[test]
    fn grant_patterns() {
        assert!(grant_matches("samples.*.*", "samples.tpch.region"));
        assert!(grant_matches(
            "SAMPLES.nyctaxi.trips",
            "samples.nyctaxi.trips"
        ));
        assert!(!grant_matches("samples.nyctaxi.*", "samples.tpch.region"));
        assert!(!grant_matches("samples.*", "samples.tpch.region"));
    }
}
