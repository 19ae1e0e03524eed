//! Analytics: a venue's events, a customer's purchases, and the sales report (JSON or CSV).
//! Every figure comes from the sales counted in the transactions that confirm orders and apply
//! refunds (`store::analytics`), so a read is a query and a few item reads, never a scan. Money is
//! in minor units beside its currency, one total per currency.

use std::collections::{BTreeMap, BTreeSet};

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::Caller;
use super::events::start_range;
use crate::domain::analytics::{Sales, sell_through_percent};
use crate::domain::event::Event;
use crate::domain::fields;
use crate::domain::ids::{EventId, VenueId};
use crate::error::{ApiError, field_code};
use crate::http::{Query, json_response, path_id, path_text};
use crate::store::EventFilter;

/// A venue's analytics cover at most this many events (one response, well under Lambda's
/// 6 MB); a wider range is refused with a hint to narrow `from`/`to`.
pub const MAX_VENUE_EVENTS: usize = 1_000;

pub async fn venue(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let venue_id: VenueId = path_id(req, "venue_id")?;
    let query = Query::parse(req, &["from", "to"])?;
    let mut problems = fields::Problems::default();
    let (from, to) = start_range(&query, &mut problems);
    problems.finish()?;
    in_order(from, to)?;
    caller.deps.store.get_venue(caller.tenant(), venue_id).await?.ok_or(ApiError::NotFound)?;
    let filter = EventFilter { venue_id: Some(venue_id), from, to, ..EventFilter::default() };
    let mut events = Vec::new();
    let mut start = None;
    loop {
        let page = caller.deps.store.event_page(caller.tenant(), &filter, crate::http::MAX_PAGE_SIZE, start).await?;
        events.extend(page.items);
        if events.len() > MAX_VENUE_EVENTS {
            // Well-formed, but asks for more than one answer may carry: a rule, not malformed input.
            return Err(ApiError::rule(
                "from",
                format!("more than {MAX_VENUE_EVENTS} events start in this range; narrow from and to"),
            ));
        }
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    let sales = sales_of(caller, &events).await?;
    let mut total = Sales::default();
    let mut capacity = 0u64;
    let by_event: Vec<Value> = events
        .iter()
        .map(|event| {
            let figures = &sales[&event.id];
            total.add(figures);
            capacity += u64::from(event.capacity);
            Value::Object(event_row(event, figures))
        })
        .collect();
    let mut body = Map::new();
    body.insert("venue_id".into(), venue_id.to_string().into());
    body.insert("from".into(), json!(from));
    body.insert("to".into(), json!(to));
    body.insert("events".into(), events.len().into());
    body.insert("capacity".into(), capacity.into());
    body.insert("tickets_sold".into(), total.tickets().into());
    body.extend(total.revenue_fields());
    body.insert("sell_through_percent".into(), json!(sell_through_percent(total.tickets(), capacity)));
    body.insert("by_event".into(), by_event.into());
    Ok(json_response(StatusCode::OK, &body))
}

pub async fn customer(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let customer = path_text(req, "customer_id")?;
    if !caller.principal.is_staff() && customer != caller.principal.user_id {
        return Err(ApiError::Forbidden);
    }
    let store = &caller.deps.store;
    let (per_event, span) = futures_util::try_join!(
        store.customer_sales(caller.tenant(), &customer),
        store.customer_order_span(caller.tenant(), &customer),
    )?;
    let mut total = Sales::default();
    let mut events = BTreeSet::new();
    // Events without a category are listed under `null`.
    let mut by_category: BTreeMap<Option<String>, (Sales, BTreeSet<EventId>)> = BTreeMap::new();
    for bought in &per_event {
        total.add(&bought.sales);
        let (sales, category_events) = by_category.entry(bought.category.clone()).or_default();
        sales.add(&bought.sales);
        // An item only a refund made (an order from before figures were kept) is no purchase here.
        if bought.sales.orders() > 0 {
            events.insert(bought.event_id);
            category_events.insert(bought.event_id);
        }
    }
    let by_category: Vec<Value> = by_category
        .into_iter()
        .map(|(category, (sales, category_events))| {
            let mut row = Map::new();
            row.insert("category".into(), json!(category));
            row.insert("orders".into(), sales.orders().into());
            row.insert("tickets".into(), sales.tickets().into());
            row.insert("events".into(), category_events.len().into());
            row.extend(sales.spending_fields());
            Value::Object(row)
        })
        .collect();
    let mut body = Map::new();
    body.insert("customer_id".into(), customer.into());
    body.insert("orders".into(), total.orders().into());
    body.insert("tickets".into(), total.tickets().into());
    body.extend(total.spending_fields());
    body.insert("events".into(), events.len().into());
    body.insert("first_order_at".into(), json!(span.map(|(first, _)| first)));
    body.insert("last_order_at".into(), json!(span.map(|(_, last)| last)));
    body.insert("by_category".into(), by_category.into());
    Ok(json_response(StatusCode::OK, &body))
}

/// One row per event starting in the range (at most `limit`, default 20, up to 100, with
/// `next_cursor` to go on); in CSV, one line per event and currency, the cursor in `X-Next-Cursor`.
pub async fn sales_report(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let query = Query::parse(req, &["from", "to", "venue_id", "format", "limit", "cursor"])?;
    let mut problems = fields::Problems::default();
    let (from, to) = start_range(&query, &mut problems);
    let venue_id = query.get("venue_id").and_then(|raw| problems.take(fields::id("venue_id", raw)));
    let csv = match query.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            problems.push("format", field_code::INVALID_VALUE, "format must be json or csv");
            false
        }
    };
    problems.finish()?;
    in_order(from, to)?;
    let limit = query.limit()?;
    let filter = EventFilter { venue_id, from, to, ..EventFilter::default() };
    let scope = format!("{}|sales-report|{venue_id:?}|{from:?}|{to:?}", caller.tenant());
    let start = caller.resume_from(&scope, &query)?;
    let page = caller.deps.store.event_page(caller.tenant(), &filter, limit, start).await?;
    let next_cursor = caller.next_cursor(&scope, page.next.as_ref())?;
    let sales = sales_of(caller, &page.items).await?;
    let rows: Vec<Map<String, Value>> = page.items.iter().map(|event| event_row(event, &sales[&event.id])).collect();
    if !csv {
        let rows: Vec<Value> = rows.into_iter().map(Value::Object).collect();
        return Ok(json_response(StatusCode::OK, &json!({ "rows": rows, "next_cursor": next_cursor })));
    }
    let lines = page.items.iter().flat_map(|event| csv_lines(event, &sales[&event.id])).collect::<Vec<_>>();
    let mut response = Response::new(Body::Text(render_csv(&lines)?));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"sales-report.csv\""));
    if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert("x-next-cursor", cursor);
    }
    Ok(response)
}

/// A range that ends before it starts is well-formed but asks for nothing: a 422.
fn in_order(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), ApiError> {
    match from.zip(to) {
        Some((from, to)) if from > to => Err(ApiError::rule("to", "to must not be before from")),
        _ => Ok(()),
    }
}

/// Each event's sales, zero for events that sold nothing.
async fn sales_of(caller: Caller<'_>, events: &[Event]) -> Result<BTreeMap<EventId, Sales>, ApiError> {
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    let mut found = caller.deps.store.event_sales(caller.tenant(), &ids).await?;
    Ok(ids.into_iter().map(|id| (id, found.remove(&id).unwrap_or_default())).collect())
}

/// An event's row: who it is and its figures (money as [`Sales::revenue_fields`] says).
fn event_row(event: &Event, sales: &Sales) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("event_id".into(), event.id.to_string().into());
    row.insert("name".into(), event.name.clone().into());
    row.insert("venue_id".into(), event.venue_id.to_string().into());
    row.insert("starts_at".into(), json!(event.starts_at));
    row.insert("status".into(), event.status.as_str().into());
    row.insert("capacity".into(), event.capacity.into());
    row.insert("tickets_sold".into(), sales.tickets().into());
    row.extend(sales.revenue_fields());
    row
}

pub const CSV_HEADER: [&str; 10] = [
    "event_id",
    "name",
    "venue_id",
    "starts_at",
    "status",
    "tickets_sold",
    "gross_revenue",
    "refunded_amount",
    "net_revenue",
    "currency",
];

/// An event's CSV lines: one per currency it sold in (one with zeros and no currency if none).
fn csv_lines(event: &Event, sales: &Sales) -> Vec<[String; 10]> {
    let line = |tickets: u64, gross: u64, refunded: u64, net: i128, currency: &str| {
        [
            event.id.to_string(),
            spreadsheet_safe(&event.name),
            event.venue_id.to_string(),
            event.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event.status.as_str().to_owned(),
            tickets.to_string(),
            gross.to_string(),
            refunded.to_string(),
            net.to_string(),
            currency.to_owned(),
        ]
    };
    if sales.0.is_empty() {
        return vec![line(0, 0, 0, 0, "")];
    }
    sales.0.iter().map(|(currency, f)| line(f.tickets, f.gross, f.refunded, f.net(), currency)).collect()
}

fn render_csv(lines: &[[String; 10]]) -> Result<String, ApiError> {
    let failed = |e: &dyn std::fmt::Display| ApiError::internal(format!("the report cannot be written as CSV: {e}"));
    // RFC 4180 ends records with CRLF.
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(CSV_HEADER).map_err(|e| failed(&e))?;
    for line in lines {
        writer.write_record(line).map_err(|e| failed(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| failed(&e))?;
    String::from_utf8(bytes).map_err(|e| failed(&e))
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return that some read before one) starts with `'` instead, so it shows as text.
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_run_as_formulas_read_as_text() {
        for formula in ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"), "{formula:?}");
        }
        assert_eq!(spreadsheet_safe("Jazz = joy"), "Jazz = joy");
        assert_eq!(spreadsheet_safe(""), "");
    }

    #[test]
    fn csv_quotes_what_rfc_4180_says() {
        let line = |name: &str| {
            let mut cells: [String; 10] = Default::default();
            cells[1] = name.to_owned();
            cells
        };
        let text = render_csv(&[line("A, \"quoted\"\nname")]).unwrap();
        let expected = format!("{}\r\n,\"A, \"\"quoted\"\"\nname\",,,,,,,,\r\n", CSV_HEADER.join(","));
        assert_eq!(text, expected);
    }
}
