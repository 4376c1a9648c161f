//! PostgREST subset under `/rest/v1`: table reads, message and conversation inserts,
//! read-state updates, RPCs (`conversations_with_unread`, `unread_total`,
//! `unacked_urgent_total`, `mark_conversation_read`, `mark_conversation_unread`,
//! `acknowledge_message`, `search_messages`).

pub mod caps;
pub mod nul;
pub mod query;
pub mod rpc;
pub mod search;
pub mod select;
pub mod write;

use std::future::Future;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::jwt::Principal;
use crate::body::JsonBody;
use crate::db::ReadBounds;
use crate::error::{Error, Result};
use crate::schema::filter::{normalise, Filter, Op, Operand};
use crate::schema::tables::{self, ColType, Table, READ_STATE};
use crate::AppState;
use query::{parse_query, ReadQuery};
use select::unknown_table;

/// Routes mounted at `/rest/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/rpc/{function}", post(rpc_call))
        .route("/{table}", get(read).post(insert).patch(update))
        .fallback(|| async { unknown_table("") })
        .layer(middleware::from_fn_with_state(
            state,
            crate::auth::require_api_key,
        ))
}

/// How a read `who` asked for is bounded: the configured statement timeout, wait for a
/// connection and reads at once per user.
fn read_bounds(state: &AppState, who: &Principal) -> ReadBounds {
    let limits = &state.config().limits;
    ReadBounds {
        user: who.user_id.clone(),
        per_user: limits.reads_per_user,
        wait: Duration::from_millis(limits.read_wait_ms),
        timeout: Duration::from_millis(limits.read_timeout_ms),
    }
}

fn table_or_404(name: &str) -> Result<&'static Table> {
    tables::table(name).ok_or_else(|| unknown_table(name))
}

/// What a write (`POST` insert, `PATCH` update) reads from its request, extracted in this
/// order so a request with several faults gets the same error as before: the table named in
/// the path, the raw query string, the headers (`Prefer`), the caller, the JSON body.
struct WriteRequest {
    table: String,
    query: Option<String>,
    headers: HeaderMap,
    who: Principal,
    body: Value,
}

impl FromRequest<AppState> for WriteRequest {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(table) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let query = parts.uri.query().map(str::to_string);
        let headers = parts.headers.clone();
        let who = Principal::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let JsonBody(body) = JsonBody::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(WriteRequest {
            table,
            query,
            headers,
            who,
            body,
        })
    }
}

impl WriteRequest {
    /// The parsed query of this write, which must target `writable`, the one table the
    /// method writes: any other exposed table is refused as Postgres refuses a missing grant.
    fn query_for(&self, writable: &'static Table) -> Result<ReadQuery> {
        let table = table_or_404(&self.table)?;
        if table.name != writable.name {
            return Err(permission_denied(table.name));
        }
        parse_query(self.query.as_deref().unwrap_or(""))
    }
}

/// A string field of a JSON row.
fn field<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(Value::as_str)
}

fn permission_denied(table: &str) -> Error {
    Error::api(
        StatusCode::FORBIDDEN,
        "42501",
        format!("permission denied for table {table}"),
    )
}

fn wants_single(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.pgrst.object+json"))
}

fn prefers(headers: &HeaderMap, what: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == what))
}

/// Shapes rows as PostgREST does: an array with `Content-Range`, or one object on request.
fn rows_response(
    status: StatusCode,
    rows: Vec<Value>,
    offset: u64,
    single: bool,
) -> Result<Response> {
    if single {
        if rows.len() != 1 {
            return Err(Error::api(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
            )
            .with_details(format!("The result contains {} rows", rows.len())));
        }
        let row = rows.into_iter().next().unwrap_or(Value::Null);
        return Ok((status, Json(row)).into_response());
    }
    let range = if rows.is_empty() {
        "*/*".to_string()
    } else {
        format!("{}-{}/*", offset, offset + rows.len() as u64 - 1)
    };
    let mut response = (status, Json(Value::Array(rows))).into_response();
    if let Ok(v) = HeaderValue::from_str(&range) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// Answers a write as PostgREST does: the bare status `minimal` (the default), or the written
/// rows with `representation` when `Prefer: return=representation` asks; only then is `rows`
/// awaited.
async fn written(
    headers: &HeaderMap,
    minimal: StatusCode,
    representation: StatusCode,
    rows: impl Future<Output = Result<Vec<Value>>>,
) -> Result<Response> {
    if !prefers(headers, "return=representation") {
        return Ok(minimal.into_response());
    }
    rows_response(representation, rows.await?, 0, wants_single(headers))
}

async fn read(
    State(state): State<AppState>,
    Path(table_name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    who: Principal,
) -> Result<Response> {
    let table = table_or_404(&table_name)?;
    let query = parse_query(raw.as_deref().unwrap_or(""))?;
    let offset = query.offset.unwrap_or(0);
    let max_bytes = state.config().limits.max_response_bytes;
    let rows = state
        .db()
        .read_bounded(&read_bounds(&state, &who), move |conn| {
            select::run(conn, table, &query, &who, None, max_bytes)
        })
        .await?;
    rows_response(StatusCode::OK, rows, offset, wants_single(&headers))
}

async fn insert(State(state): State<AppState>, write: WriteRequest) -> Result<Response> {
    let table = write::NewRows::target(&write.table);
    let query = write.query_for(table)?;
    let WriteRequest {
        headers, who, body, ..
    } = write;
    let items = match &body {
        Value::Array(list) if !list.is_empty() => list.clone(),
        Value::Array(_) => return Err(Error::bad_body("empty array: nothing to insert")),
        single => vec![single.clone()],
    };
    let new_rows = write::NewRows::parse(table, &items, &who)?;
    let representation = prefers(&headers, "return=representation");
    let read_query = ReadQuery {
        select: query.select,
        ..ReadQuery::default()
    };
    let max_bytes = state.config().limits.max_response_bytes;
    // The representation is read inside the write transaction, as PostgREST's one statement
    // does: read afterwards through the user's bounded reads, it could answer 504 `PGRST003`
    // or 57014 for a message already committed and broadcast, and the app's resend would
    // store it twice. A failure here rolls the insert back instead.
    let rows = state
        .db()
        .write(move |tx, changes| {
            let ids = new_rows.insert(tx, &who, changes)?;
            if !representation {
                return Ok(Vec::new());
            }
            let filter = Filter {
                column: "id".into(),
                negated: false,
                op: Op::In,
                operand: Operand::List(ids.clone()),
            };
            let just_written = select::filters_sql(table, "t0", &[filter])?;
            let mut rows =
                select::run(tx, table, &read_query, &who, Some(just_written), max_bytes)?;
            // Rows come back in index order; answer in the order they were sent.
            rows.sort_by_key(|row| {
                field(row, "id")
                    .and_then(|id| ids.iter().position(|o| o == id))
                    .unwrap_or(usize::MAX)
            });
            Ok(rows)
        })
        .await?;
    written(&headers, StatusCode::CREATED, StatusCode::CREATED, async {
        Ok(rows)
    })
    .await
}

async fn update(State(state): State<AppState>, write: WriteRequest) -> Result<Response> {
    let query = write.query_for(&READ_STATE)?;
    let WriteRequest {
        headers, who, body, ..
    } = write;
    let object = body
        .as_object()
        .ok_or_else(|| Error::bad_body("PATCH body must be a JSON object"))?;
    let mut at = None;
    for (key, value) in object {
        match key.as_str() {
            "last_read_at" => {
                nul::reject_nul(value)?;
                if value.is_null() {
                    return Err(Error::api(
                        StatusCode::BAD_REQUEST,
                        "23502",
                        "null value in column \"last_read_at\" of relation \"read_state\" violates not-null constraint",
                    ));
                }
                let text = value
                    .as_str()
                    .ok_or_else(|| Error::bad_body("last_read_at must be a timestamp string"))?;
                at = Some(crate::clock::parse_micros(text).ok_or_else(|| {
                    normalise(ColType::Timestamp, text)
                        .err()
                        .unwrap_or_else(|| Error::bad_body("bad timestamp"))
                })?);
            }
            "user_id" | "conversation_id" => return Err(permission_denied(READ_STATE.name)),
            other => {
                return Err(Error::api(
                    StatusCode::BAD_REQUEST,
                    "PGRST204",
                    format!(
                        "Could not find the '{other}' column of 'read_state' in the schema cache"
                    ),
                ))
            }
        }
    }
    let Some(at) = at else {
        return Err(Error::bad_body("nothing to update: send last_read_at"));
    };
    let who2 = who.clone();
    let max_bytes = state.config().limits.max_response_bytes;
    let updated = state
        .db()
        .write(move |tx, changes| {
            // Which of my markers match the filters: the same RLS + filters as a read.
            let targets = select::run(
                tx,
                &READ_STATE,
                &ReadQuery {
                    filters: query.filters,
                    logic: query.logic,
                    ..ReadQuery::default()
                },
                &who2,
                None,
                max_bytes,
            )?;
            let mut rows = Vec::new();
            for row in targets {
                if let Some(conv) = field(&row, "conversation_id") {
                    if let Some(r) = write::set_read_marker(tx, &who2, conv, Some(at), changes)? {
                        rows.push(r);
                    }
                }
            }
            Ok(rows)
        })
        .await?;
    let rows = std::future::ready(Ok(updated));
    written(&headers, StatusCode::NO_CONTENT, StatusCode::OK, rows).await
}

/// The one uuid argument `name` of RPC `function`, in its stored form.
///
/// # Errors
/// 400 `PGRST202` naming the expected body when the argument is missing or not a string;
/// 400 `22P02` when it is not a uuid.
fn uuid_arg(body: &Value, function: &str, name: &str) -> Result<String> {
    let raw = body.get(name).and_then(Value::as_str).ok_or_else(|| {
        Error::api(
            StatusCode::BAD_REQUEST,
            "PGRST202",
            format!("{function} needs {{\"{name}\": \"<uuid>\"}}"),
        )
    })?;
    normalise(ColType::Uuid, raw)
}

/// The RPC functions and their argument names, as PostgREST finds a function: by name and
/// by the set of argument names the body carries.
const RPC_ARGS: &[(&str, &[&str])] = &[
    (
        "conversations_with_unread",
        &["page_size", "before", "conversation_id"],
    ),
    ("unread_total", &[]),
    ("unacked_urgent_total", &[]),
    ("mark_conversation_read", &["conversation_id"]),
    ("acknowledge_message", &["message_id"]),
    ("search_messages", &["query", "max"]),
    (
        "mark_conversation_unread",
        &["conversation_id", "message_id"],
    ),
];

/// Checks an RPC call's body before it runs, in PostgREST's order: the function must exist
/// and take every argument the body names (so no caller slips in a `user_id` the function
/// takes from the token), then no string may hold U+0000 ([`nul::reject_nul`]). A missing
/// argument is left to the function, which names what it needs.
///
/// # Errors
/// 404 `PGRST202` for an unknown function or argument; 400 `22P05` for U+0000.
fn check_rpc_body(function: &str, body: &Value) -> Result<()> {
    let not_found = |signature: String| {
        Error::api(
            StatusCode::NOT_FOUND,
            "PGRST202",
            // The body may name thousands of arguments: the echo is bounded.
            format!(
                "Could not find the function public.{} in the schema cache",
                crate::error::bounded(&signature)
            ),
        )
    };
    let Some((_, args)) = RPC_ARGS.iter().find(|(name, _)| *name == function) else {
        return Err(not_found(function.to_string()));
    };
    if let Some(object) = body.as_object() {
        if object.keys().any(|k| !args.contains(&k.as_str())) {
            let names: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(not_found(format!("{function}({})", names.join(", ")))
                .with_hint(format!("{function} takes ({})", args.join(", "))));
        }
    }
    nul::reject_nul(body)
}

async fn rpc_call(
    State(state): State<AppState>,
    Path(function): Path<String>,
    who: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    check_rpc_body(&function, &body)?;
    let bounds = read_bounds(&state, &who);
    match function.as_str() {
        "conversations_with_unread" => {
            let page = rpc::ListPage::parse(&body)?;
            let rows = state
                .db()
                .read_bounded(&bounds, move |conn| {
                    rpc::conversations_with_unread(conn, &who, &page)
                })
                .await?;
            Ok(Json(rows).into_response())
        }
        "unread_total" => {
            let total = state
                .db()
                .read_bounded(&bounds, move |conn| rpc::unread_total(conn, &who))
                .await?;
            Ok(Json(total).into_response())
        }
        "unacked_urgent_total" => {
            let total = state
                .db()
                .read_bounded(&bounds, move |conn| rpc::unacked_urgent_total(conn, &who))
                .await?;
            Ok(Json(total).into_response())
        }
        "mark_conversation_read" => {
            let conv = uuid_arg(&body, "mark_conversation_read", "conversation_id")?;
            let marked = state
                .db()
                .write(move |tx, changes| write::set_read_marker(tx, &who, &conv, None, changes))
                .await?;
            match marked {
                Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
                None => Err(Error::api(
                    StatusCode::NOT_FOUND,
                    "P0002",
                    "conversation not found",
                )),
            }
        }
        "mark_conversation_unread" => {
            let conv = uuid_arg(&body, "mark_conversation_unread", "conversation_id")?;
            let message = uuid_arg(&body, "mark_conversation_unread", "message_id")?;
            state
                .db()
                .write(move |tx, changes| {
                    write::mark_conversation_unread(tx, &who, &conv, &message, changes)
                })
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "acknowledge_message" => {
            let message = uuid_arg(&body, "acknowledge_message", "message_id")?;
            let row = state
                .db()
                .write(move |tx, changes| write::acknowledge_message(tx, &who, &message, changes))
                .await?;
            Ok(Json(row).into_response())
        }
        "search_messages" => {
            let args = search::parse_args(&body)?;
            let rows = state
                .db()
                .read_bounded(&bounds, move |conn| {
                    search::search_messages(conn, &who, &args)
                })
                .await?;
            Ok(Json(rows).into_response())
        }
        other => Err(Error::api(
            StatusCode::NOT_FOUND,
            "PGRST202",
            format!("Could not find the function public.{other} in the schema cache"),
        )),
    }
}
