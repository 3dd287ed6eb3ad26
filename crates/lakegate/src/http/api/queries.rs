//! `POST /api/v1/connections/{id}/queries`, `GET /api/v1/queries/{id}`, cancel and history.
//! Thin: negotiate the format, call `queries::service`, shape or stream the answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use serde::Deserialize;

use super::query_views::{
    Cancelled, DryRun, History, HistoryQuery, Pending, history_page, results, results_or_estimate,
};
use crate::auth::{Access, Scope};
use crate::clock::rfc3339;
use crate::http::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::queries::arrow::{self, Splice};
use crate::queries::output::{self, CsvCells, Format, JsonDocument};
use crate::queries::service::{self, Parts, ResultSet, Running};
use crate::queries::{JSON_MAX_ROWS, QueryError, QueryRequest, validate};
use crate::warehouse::{Rows, WarehouseError};
use futures_util::stream::BoxStream;
use std::sync::{Arc, Mutex};

/// How long one request waits for a statement before answering 202 with the query id
/// (below the server's 60 s request timeout).
const WAIT_BUDGET: Duration = Duration::from_secs(50);

pub fn register(reg: &mut Registry) {
    let run = Access::User(Some(Scope::QueriesRun));
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/queries",
        Kind::Api,
        run,
        "Run SQL as me: JSON, or NDJSON / CSV / Arrow IPC streamed (Accept); wait=false answers 202 with a query id",
        run_query,
    );
    reg.body::<crate::queries::QueryRequest>();
    reg.query::<FormatParam>();
    results_or_estimate(reg);
    reg.add(
        M::Get,
        "/api/v1/queries",
        Kind::Api,
        run,
        "My queries, newest first (statement, connection, duration, rows, outcome), by connection and outcome, in pages",
        history,
    );
    reg.query::<HistoryQuery>();
    reg.answers::<History>(200);
    reg.add(
        M::Get,
        "/api/v1/queries/{id}",
        Kind::Api,
        run,
        "State of my query; its result (Accept or ?format=json|ndjson|csv|arrow) once it succeeded",
        show,
    );
    reg.query::<FormatParam>();
    results(reg);
    reg.add(
        M::Post,
        "/api/v1/queries/{id}/cancel",
        Kind::Api,
        run,
        "Cancel my query on Databricks",
        cancel,
    );
    reg.answers::<Cancelled>(200);
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FormatParam {
    /// Instead of `Accept`.
    #[schemars(extend("enum" = ["json", "ndjson", "csv", "arrow", null]))]
    format: Option<String>,
    /// CSV only: neutralise cells a spreadsheet would run as formulas.
    #[serde(default)]
    spreadsheet_safe: bool,
}

impl FormatParam {
    fn cells(&self) -> CsvCells {
        if self.spreadsheet_safe {
            CsvCells::SpreadsheetSafe
        } else {
            CsvCells::Verbatim
        }
    }
}

fn negotiate(headers: &HeaderMap, explicit: Option<&str>) -> ApiResult<Format> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    Format::negotiate(accept, explicit).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "results come as application/json, application/x-ndjson, text/csv or application/vnd.apache.arrow.stream",
        )
    })
}

async fn run_query(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    ApiQuery(f): ApiQuery<FormatParam>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<QueryRequest>,
) -> ApiResult<Response> {
    let format = negotiate(&headers, f.format.as_deref())?;
    let mut spec = validate(body, format.streaming())?;
    spec.arrow = format == Format::Arrow;
    let queries = &state.services.queries;
    if spec.dry_run {
        if format.streaming() {
            return Err(ApiError::bad_request("a dry run answers JSON only"));
        }
        let bytes_processed = queries.estimate(&p, &id, &spec).await?;
        return Ok(ApiJson(DryRun {
            dry_run: true,
            bytes_processed,
        })
        .into_response());
    }
    let mut running = queries.submit(&p, &actor, &id, &spec).await?;
    if spec.wait {
        queries.wait(&mut running, WAIT_BUDGET).await?;
    }
    answer(&state, running, format, f.cells()).await
}

async fn show(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(f): ApiQuery<FormatParam>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let format = negotiate(&headers, f.format.as_deref())?;
    let running = state.services.queries.resume(&p, &id).await?;
    answer(&state, running, format, f.cells()).await
}

async fn cancel(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let state = state.services.queries.cancel(&p, &id).await?;
    Ok(ApiJson(Cancelled {
        query_id: id,
        state,
    })
    .into_response())
}

/// A query still running: 202 and where to look next.
fn pending(state: &AppState, r: &Running) -> Response {
    let q = &r.query;
    let body = Pending {
        query_id: q.id.clone(),
        statement_id: q.statement_id.clone(),
        state: q.state,
        submitted_at: rfc3339(q.submitted_at),
        elapsed_seconds: state.now() - q.submitted_at,
        poll: format!("/api/v1/queries/{}", q.id),
        ran_as: r.ran_as.clone(),
    };
    let mut resp = (StatusCode::ACCEPTED, ApiJson(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/queries/{}", q.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn answer(
    state: &AppState,
    r: Running,
    format: Format,
    cells: CsvCells,
) -> ApiResult<Response> {
    if !r.state().terminal() {
        return Ok(pending(state, &r));
    }
    let (set, parts) = service::results(r)?;
    // The warehouse was asked for one kind of result at submission; a follow-up cannot
    // change it.
    match (format, parts) {
        (Format::Arrow, Parts::Arrow(parts)) => Ok(arrow_answer(set, parts)),
        (Format::Arrow, Parts::Rows(_)) => Err(QueryError::NotAcceptable(
            "this query was submitted for rows, not Arrow: run it again with Accept: application/vnd.apache.arrow.stream".into(),
        ))?,
        (_, Parts::Arrow(_)) => Err(QueryError::NotAcceptable(
            "this query was submitted for Arrow: fetch it with Accept: application/vnd.apache.arrow.stream".into(),
        ))?,
        (Format::Json, Parts::Rows(rows)) => json_answer(set, rows).await,
        (_, Parts::Rows(rows)) => Ok(stream_answer(set, rows, format, cells)),
    }
}

/// The warehouse's Arrow IPC streams spliced into one (`queries::arrow`): no value is
/// decoded, each message leaves as the slice it arrived in.
fn arrow_answer(
    set: ResultSet,
    parts: BoxStream<'static, Result<Vec<Bytes>, QueryError>>,
) -> Response {
    let splice = Arc::new(Mutex::new(Splice::default()));
    let (joined, ending) = (splice.clone(), splice);
    let columns = set.columns.clone();
    let messages = parts
        .map(move |part| {
            let mut s = joined.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::new();
            for stream in part? {
                out.extend(s.part(stream).map_err(|_| WarehouseError::Malformed)?);
            }
            Ok::<_, QueryError>(stream::iter(out.into_iter().map(Ok)))
        })
        .try_flatten();
    // A result without parts still answers its schema; every answer ends with one marker.
    let end = stream::once(async move {
        let started = ending.lock().map(|s| s.started()).unwrap_or(true);
        Ok(if started {
            Splice::end()
        } else {
            arrow::empty(&columns)
        })
    });
    streamed(set, Format::Arrow, messages.chain(end))
}

/// The whole result as one JSON document, written as parts arrive. It never holds more
/// than `JSON_MAX_ROWS` rows, also for a query that was submitted for streaming and is
/// fetched as JSON later: beyond that it says `truncated` and stops fetching. The first part
/// is awaited before answering, so a failure there is still an error answer; a failure
/// later cuts the response short, as in a stream.
async fn json_answer(
    set: ResultSet,
    mut chunks: BoxStream<'static, Result<Rows, QueryError>>,
) -> ApiResult<Response> {
    let first = chunks.next().await.transpose()?;
    let mut doc = JsonDocument::new(&set, JSON_MAX_ROWS as usize);
    let mut head = JsonDocument::head(&set.query_id, &set.statement_id, &set.columns);
    // A result already in hand (one part: every small answer) leaves as one body with its
    // length, not as a chunked stream of three pieces: fewer writes on the hot path.
    let second = match chunks.next().now_or_never() {
        Some(None) => {
            if let Some(rows) = &first {
                head.extend(doc.rows(rows));
            }
            head.extend(doc.tail());
            return Ok(json_response(Body::from(head)));
        }
        Some(Some(part)) => Some(part),
        None => None,
    };
    let parts = stream::iter(first.map(Ok).into_iter().chain(second)).chain(chunks);
    let body = stream::once(async move { Ok(Bytes::from(head)) }).chain(stream::unfold(
        (parts, Some(doc)),
        |(mut parts, doc)| async move {
            let mut doc = doc?;
            let next = if doc.full() { None } else { parts.next().await };
            match next {
                Some(Ok(rows)) => Some((Ok(Bytes::from(doc.rows(&rows))), (parts, Some(doc)))),
                Some(Err(e)) => Some((Err(e), (parts, None))),
                None => Some((Ok(Bytes::from(doc.tail())), (parts, None))),
            }
        },
    ));
    Ok(json_response(Body::from_stream(body.map_err(
        |e: QueryError| {
            tracing::warn!(error = %e, "JSON answer ended early");
            std::io::Error::other(e.to_string())
        },
    ))))
}

fn json_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(Format::Json.content_type()),
    );
    resp
}

/// Rows leave as chunks arrive. An error after the first byte can only end the stream: the
/// response is then cut short (no final chunk), which HTTP clients report as an error.
fn stream_answer(
    set: ResultSet,
    chunks: BoxStream<'static, Result<Rows, QueryError>>,
    format: Format,
    cells: CsvCells,
) -> Response {
    let keys = output::ndjson_keys(&output::unique_names(&set.columns));
    let kinds = output::kinds(&set.columns);
    let header =
        (format == Format::Csv).then(|| Ok(Bytes::from(output::csv_header(&set.columns, cells))));
    let rows = chunks.map_ok(move |rows| {
        Bytes::from(match format {
            Format::Ndjson => output::ndjson(&keys, &kinds, &rows),
            _ => output::csv(&rows, cells),
        })
    });
    let query_id = set.query_id.clone();
    let mut resp = streamed(set, format, stream::iter(header).chain(rows));
    if format == Format::Csv {
        let disposition = format!("attachment; filename=\"query-{query_id}.csv\"");
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    resp
}

/// A streamed answer with the query's metadata in headers.
fn streamed<S>(set: ResultSet, format: Format, body: S) -> Response
where
    S: futures_util::Stream<Item = Result<Bytes, QueryError>> + Send + 'static,
{
    let query_id = set.query_id.clone();
    let body = body.map_err(move |e: QueryError| {
        tracing::warn!(query_id = %query_id, error = %e, "result stream ended early");
        std::io::Error::other(e.to_string())
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let meta = [
        ("lakegate-query-id", set.query_id.clone()),
        ("lakegate-statement-id", set.statement_id),
        ("lakegate-row-count", set.total_rows.to_string()),
        ("lakegate-truncated", set.truncated.to_string()),
        // Which credential ran it (ids and a flag: identity names stay in JSON answers).
        (
            "lakegate-ran-as-connection",
            set.ran_as.connection_id.clone(),
        ),
        ("lakegate-fallback", set.ran_as.fallback.to_string()),
    ];
    for (name, value) in meta {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

async fn history(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Response> {
    let filter = q.to_filter()?;
    let rows = state.services.queries.history(&p, &filter).await?;
    Ok(ApiJson(history_page(rows, &filter)).into_response())
}
