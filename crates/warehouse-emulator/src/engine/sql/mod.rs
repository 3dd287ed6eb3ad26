//! The SQL engine behind the Statement Execution API: Databricks SQL parsed with
//! `sqlparser`, names and grants resolved against the emulated Unity Catalog, executed on
//! SQLite (catalogs are attached in-memory databases).

pub mod catalog;
pub mod epoch;
mod functions;
pub mod plan;

pub use plan::{Plan, plan};

use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, InterruptHandle, OpenFlags};
use serde::Serialize;

/// A statement failure, as Databricks reports it in `status.error` and `status.sql_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlError {
    pub error_code: String,
    pub message: String,
    pub sql_state: String,
}

impl SqlError {
    pub fn new(class: &str, message: impl std::fmt::Display, sql_state: &str) -> SqlError {
        SqlError {
            error_code: "BAD_REQUEST".into(),
            message: format!("[{class}] {message} SQLSTATE: {sql_state}"),
            sql_state: sql_state.into(),
        }
    }
}

/// A result column with its Databricks type.
#[derive(Debug, Clone, Serialize)]
pub struct ResultColumn {
    pub name: String,
    pub type_name: String,
    pub type_text: String,
}

/// Rows as Databricks sends them: every value a string or null.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Option<String>>>,
    pub bytes: usize,
    pub truncated: bool,
}

/// A typed statement parameter (`{name, value, type}`).
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
    pub type_name: String,
}

pub struct Engine {
    uris: Vec<(String, String)>,
    /// Keeps the shared in-memory databases alive.
    _keeper: std::sync::Mutex<Connection>,
}

static ENGINES: AtomicU64 = AtomicU64::new(0);

impl Engine {
    /// Builds the catalogs in memory and fills them with the sample data.
    pub fn new(nyctaxi_rows: usize) -> rusqlite::Result<Engine> {
        let n = ENGINES.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let uris: Vec<(String, String)> = ["samples", "main"]
            .iter()
            .map(|c| {
                (
                    catalog::attached_name(c),
                    format!("file:emu_{pid}_{n}_{c}?mode=memory&cache=shared"),
                )
            })
            .collect();
        let mut keeper = Self::open_with(&uris)?;
        catalog::populate(&mut keeper, nyctaxi_rows)?;
        Ok(Engine {
            uris,
            _keeper: std::sync::Mutex::new(keeper),
        })
    }

    fn open_with(uris: &[(String, String)]) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            ":memory:",
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        for (name, uri) in uris {
            conn.execute_batch(&format!("ATTACH DATABASE '{uri}' AS \"{name}\""))?;
        }
        functions::register(&conn)?;
        Ok(conn)
    }

    /// A connection for one statement, and the handle that interrupts it (cancel).
    /// A connection for one statement run by `user` (what `current_user()` answers), with
    /// other session values a front-end defines (`current_role()` → `ANALYST`, …).
    pub fn connect_with(
        &self,
        user: &str,
        session: &[(&str, &str)],
    ) -> Result<(Connection, InterruptHandle), SqlError> {
        let (conn, handle) = self.connect(user)?;
        for (name, value) in session {
            functions::session_value(&conn, name, value)
                .map_err(|e| SqlError::new("INTERNAL_ERROR", e, "XX000"))?;
        }
        Ok((conn, handle))
    }

    /// A connection for one statement run by `user` (what `current_user()` answers).
    pub fn connect(&self, user: &str) -> Result<(Connection, InterruptHandle), SqlError> {
        let conn =
            Self::open_with(&self.uris).map_err(|e| SqlError::new("INTERNAL_ERROR", e, "XX000"))?;
        functions::current_user(&conn, user)
            .map_err(|e| SqlError::new("INTERNAL_ERROR", e, "XX000"))?;
        let handle = conn.get_interrupt_handle();
        Ok((conn, handle))
    }
}

/// Runs a planned statement. `row_limit` truncates; `byte_limit` fails beyond it.
pub fn execute(
    conn: &Connection,
    plan: &Plan,
    params: &[Param],
    row_limit: Option<usize>,
    byte_limit: usize,
) -> Result<ResultSet, SqlError> {
    let mut stmt = conn.prepare(&plan.sql).map_err(|e| sqlite_error(&e))?;
    for i in 1..=stmt.parameter_count() {
        let Some(marker) = stmt.parameter_name(i).map(str::to_owned) else {
            return Err(SqlError::new(
                "UNBOUND_SQL_PARAMETER",
                "Positional parameters are not supported; use :name.",
                "42P02",
            ));
        };
        let name = marker.trim_start_matches([':', '@', '$']);
        let p = params.iter().find(|p| p.name == name).ok_or_else(|| {
            SqlError::new("UNBOUND_SQL_PARAMETER", format!("Found the unbound parameter: {name}. Please fix `args` and provide a mapping of the parameter to a SQL literal."), "42P02")
        })?;
        bind(&mut stmt, i, p)?;
    }
    let columns: Vec<(String, Option<String>)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.decl_type().map(str::to_lowercase)))
        .collect();
    let mut out = ResultSet::default();
    let mut inferred: Vec<Option<&'static str>> = vec![None; columns.len()];
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(|e| sqlite_error(&e))? {
        if row_limit.is_some_and(|l| out.rows.len() >= l) {
            out.truncated = true;
            break;
        }
        let mut values = Vec::with_capacity(columns.len());
        for (i, (_, decl)) in columns.iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| sqlite_error(&e))?;
            if inferred[i].is_none() {
                inferred[i] = match v {
                    ValueRef::Integer(_) => Some("bigint"),
                    ValueRef::Real(_) => Some("double"),
                    ValueRef::Text(_) | ValueRef::Blob(_) => Some("string"),
                    ValueRef::Null => None,
                };
            }
            let s = render(v, decl.as_deref());
            out.bytes += s.as_ref().map_or(4, |s| s.len() + 2);
            values.push(s);
        }
        if out.bytes > byte_limit {
            return Err(SqlError::new(
                "INLINE_RESULT_TOO_LARGE",
                format!(
                    "The result exceeds the inline limit of {byte_limit} bytes. Use disposition EXTERNAL_LINKS or a row_limit."
                ),
                "54000",
            ));
        }
        out.rows.push(values);
    }
    out.columns = columns
        .into_iter()
        .zip(inferred)
        .map(|((name, decl), guess)| {
            let type_text = decl.unwrap_or_else(|| guess.unwrap_or("string").to_owned());
            ResultColumn {
                type_name: type_name(&type_text).to_owned(),
                type_text,
                name,
            }
        })
        .collect();
    Ok(out)
}

fn bind(stmt: &mut rusqlite::Statement<'_>, i: usize, p: &Param) -> Result<(), SqlError> {
    let bad = || {
        SqlError::new(
            "INVALID_PARAMETER_VALUE",
            format!(
                "The value of parameter {} cannot be cast to {}.",
                p.name, p.type_name
            ),
            "22018",
        )
    };
    let Some(v) = p.value.as_deref() else {
        return stmt
            .raw_bind_parameter(i, rusqlite::types::Null)
            .map_err(|e| sqlite_error(&e));
    };
    let base = p
        .type_name
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .to_uppercase();
    let r = match base.as_str() {
        "INT" | "INTEGER" | "BIGINT" | "LONG" | "SMALLINT" | "SHORT" | "TINYINT" | "BYTE" => {
            stmt.raw_bind_parameter(i, v.trim().parse::<i64>().map_err(|_| bad())?)
        }
        "DOUBLE" | "FLOAT" | "DECIMAL" => {
            stmt.raw_bind_parameter(i, v.trim().parse::<f64>().map_err(|_| bad())?)
        }
        "BOOLEAN" => match v.trim().to_lowercase().as_str() {
            "true" => stmt.raw_bind_parameter(i, 1),
            "false" => stmt.raw_bind_parameter(i, 0),
            _ => return Err(bad()),
        },
        "STRING" | "DATE" | "TIMESTAMP" | "TIMESTAMP_NTZ" | "" => stmt.raw_bind_parameter(i, v),
        _ => {
            return Err(SqlError::new(
                "INVALID_PARAMETER_VALUE",
                format!("Unsupported parameter type {}.", p.type_name),
                "22023",
            ));
        }
    };
    r.map_err(|e| sqlite_error(&e))
}

/// A value in Databricks' JSON_ARRAY form.
fn render(v: ValueRef<'_>, decl: Option<&str>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) if decl == Some("boolean") => Some((i != 0).to_string()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) if decl.is_some_and(|d| d.starts_with("decimal")) => {
            Some(format!("{f:.2}"))
        }
        ValueRef::Real(f) => Some(format!("{f:?}")),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

/// Databricks `type_name` for a `type_text`.
pub fn type_name(type_text: &str) -> &'static str {
    let base = type_text.split('(').next().unwrap_or("").trim();
    match base {
        "int" | "integer" => "INT",
        "bigint" | "long" => "LONG",
        "smallint" | "short" => "SHORT",
        "tinyint" | "byte" => "BYTE",
        "double" => "DOUBLE",
        "float" | "real" => "FLOAT",
        "decimal" | "numeric" => "DECIMAL",
        "boolean" => "BOOLEAN",
        "date" => "DATE",
        "timestamp" | "timestamp_ntz" => "TIMESTAMP",
        "binary" => "BINARY",
        _ => "STRING",
    }
}

fn sqlite_error(e: &rusqlite::Error) -> SqlError {
    let text = e.to_string();
    if matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
    {
        return SqlError {
            error_code: "CANCELLED".into(),
            message: "The statement was cancelled.".into(),
            sql_state: "57014".into(),
        };
    }
    if let Some(col) = text.strip_prefix("no such column: ") {
        return SqlError::new(
            "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
            format!(
                "A column, variable, or function parameter with name `{col}` cannot be resolved."
            ),
            "42703",
        );
    }
    if let Some(f) = text.strip_prefix("no such function: ") {
        return SqlError::new(
            "UNRESOLVED_ROUTINE",
            format!(
                "Cannot resolve routine `{}` on search path [`system`.`builtin`].",
                f.to_lowercase()
            ),
            "42883",
        );
    }
    if text.contains("syntax error") {
        return SqlError::new(
            "PARSE_SYNTAX_ERROR",
            format!("Syntax error: {text}."),
            "42601",
        );
    }
    SqlError::new("INTERNAL_ERROR", text, "XX000")
}
