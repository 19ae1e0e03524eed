//! Sales figures, kept where analytics can read them in a few requests: per event (sharded
//! items in the event's partition) and per customer and event (in the customer's partition).
//! Only the transactions that confirm an order and end a refund successfully move them, in the
//! same commit, so they count each order and each refund exactly once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};

use super::keys::{self, GSI2, GSI2PK, PK, SK};
use super::{Item, Store, StoreError, n, s};
use crate::domain::analytics::{Figures, Sales};
use crate::domain::event::Category;
use crate::domain::ids::{EventId, TenantId};
use crate::domain::reservation::Order;

/// One customer's figures for one event, in one currency.
#[derive(Debug, Clone)]
pub struct CustomerEventSales {
    pub event_id: EventId,
    /// The event's category when the customer's first order of it was confirmed.
    pub category: Option<String>,
    pub sales: Sales,
}

/// BatchGetItem calls in flight for one read.
const BATCH_GETS_AT_ONCE: usize = 4;

impl Store {
    /// The writes that count a confirmed order, for the confirm transaction.
    pub(super) fn count_sale(
        &self,
        tenant: TenantId,
        order: &Order,
        category: Option<Category>,
    ) -> [TransactWriteItem; 2] {
        let tickets: u64 = order.items.iter().map(|line| u64::from(line.quantity())).sum();
        let currency = &order.currency;
        let shard = keys::event_sales_sk(keys::event_sales_shard(order.id));
        let per_event = self
            .update_at(keys::event_pk(tenant, order.event_id), shard)
            .update_expression("ADD #orders :one, #tickets :tickets, #gross :total")
            .expression_attribute_names("#orders", format!("orders#{currency}"))
            .expression_attribute_names("#tickets", format!("tickets#{currency}"))
            .expression_attribute_names("#gross", format!("gross#{currency}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":tickets", n(tickets))
            .expression_attribute_values(":total", n(order.totals.total));
        let mut per_customer = self
            .update_at(keys::customer_pk(tenant, &order.customer_id), keys::customer_sales_sk(order.event_id, currency))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":tickets", n(tickets))
            .expression_attribute_values(":total", n(order.totals.total))
            .expression_attribute_values(":event", s(order.event_id.to_string()))
            .expression_attribute_values(":currency", s(currency));
        let mut set = "SET event_id = :event, currency = :currency".to_owned();
        if let Some(category) =
            category.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| v.as_str().map(str::to_owned))
        {
            set.push_str(", category = if_not_exists(category, :category)");
            per_customer = per_customer.expression_attribute_values(":category", s(category));
        }
        let per_customer =
            per_customer.update_expression(format!("{set} ADD orders :one, tickets :tickets, total_spent :total"));
        [per_event, per_customer].map(|update| {
            TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
        })
    }

    /// The writes that count a refund the provider confirmed, for the transaction that ends it.
    pub(super) fn count_refund(&self, tenant: TenantId, order: &Order, amount: u64) -> [TransactWriteItem; 2] {
        let currency = &order.currency;
        let shard = keys::event_sales_sk(keys::event_sales_shard(order.id));
        let per_event = self
            .update_at(keys::event_pk(tenant, order.event_id), shard)
            .update_expression("ADD #refunded :amount")
            .expression_attribute_names("#refunded", format!("refunded#{currency}"))
            .expression_attribute_values(":amount", n(amount));
        let per_customer = self
            .update_at(keys::customer_pk(tenant, &order.customer_id), keys::customer_sales_sk(order.event_id, currency))
            .update_expression("SET event_id = :event, currency = :currency ADD refunded_amount :amount")
            .expression_attribute_values(":event", s(order.event_id.to_string()))
            .expression_attribute_values(":currency", s(currency))
            .expression_attribute_values(":amount", n(amount));
        [per_event, per_customer].map(|update| {
            TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
        })
    }

    /// Each event's sales figures (events without a sale are absent): one BatchGetItem per 12
    /// events, a few at a time.
    pub async fn event_sales(
        &self,
        tenant: TenantId,
        events: &[EventId],
    ) -> Result<HashMap<EventId, Sales>, StoreError> {
        let keys: Vec<Item> = events
            .iter()
            .flat_map(|event| {
                (0..keys::EVENT_SALES_SHARDS).map(move |shard| {
                    HashMap::from([
                        (PK.to_owned(), s(keys::event_pk(tenant, *event))),
                        (SK.to_owned(), s(keys::event_sales_sk(shard))),
                    ])
                })
            })
            .collect();
        let by_pk: HashMap<String, EventId> =
            events.iter().map(|event| (keys::event_pk(tenant, *event), *event)).collect();
        let chunks: Vec<Vec<Item>> = keys.chunks(super::BATCH_GET_KEYS).map(<[Item]>::to_vec).collect();
        let batches: Vec<Vec<Item>> = futures_util::stream::iter(chunks)
            .map(|chunk| self.batch_get(chunk, false))
            .buffer_unordered(BATCH_GETS_AT_ONCE)
            .try_collect()
            .await?;
        let mut sales: HashMap<EventId, Sales> = HashMap::new();
        for item in batches.iter().flatten() {
            if let Some(event) = item.get(PK).and_then(|v| v.as_s().ok()).and_then(|pk| by_pk.get(pk)) {
                sales.entry(*event).or_default().add(&event_figures(item));
            }
        }
        Ok(sales)
    }

    /// Every event one customer bought for, with its figures: one query of their partition.
    pub async fn customer_sales(
        &self,
        tenant: TenantId,
        customer: &str,
    ) -> Result<Vec<CustomerEventSales>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::customer_pk(tenant, customer)))
            .expression_attribute_values(":prefix", s(keys::CUSTOMER_SALES_PREFIX));
        let mut found = Vec::new();
        for item in self.query_all(query).await? {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let number =
                |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
            let (Some(event_id), Some(currency)) = (text("event_id").and_then(|e| e.parse().ok()), text("currency"))
            else {
                tracing::error!("a customer sales item names no event or currency; skipped");
                continue;
            };
            let figures = Figures {
                orders: number("orders"),
                tickets: number("tickets"),
                gross: number("total_spent"),
                refunded: number("refunded_amount"),
            };
            found.push(CustomerEventSales {
                event_id,
                category: text("category"),
                sales: Sales::of(&currency, figures),
            });
        }
        Ok(found)
    }

    /// When a customer's first and latest orders were placed (their orders index, one item from
    /// each end); `None` if they have none.
    pub async fn customer_order_span(
        &self,
        tenant: TenantId,
        customer: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let end = |oldest_first: bool| async move {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression(format!("{GSI2PK} = :pk"))
                .expression_attribute_values(":pk", s(keys::customer_orders_pk(tenant, customer)))
                .scan_index_forward(oldest_first)
                .limit(1)
                .send()
                .await
                .map_err(super::classify)?;
            let created = output
                .items
                .unwrap_or_default()
                .first()
                .and_then(|item| item.get("created_at"))
                .and_then(|v| v.as_s().ok())
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&Utc));
            Ok::<_, StoreError>(created)
        };
        let (first, last) = futures_util::try_join!(end(true), end(false))?;
        Ok(first.zip(last))
    }
}

/// One event-sales shard's figures: attributes `orders#USD`, `tickets#USD`, `gross#USD`,
/// `refunded#USD`, one set per currency sold in.
fn event_figures(item: &Item) -> Sales {
    let mut sales = Sales::default();
    for (name, value) in item {
        let Some((figure, currency)) = name.split_once('#') else { continue };
        let Some(amount) = value.as_n().ok().and_then(|v| v.parse::<u64>().ok()) else { continue };
        let mut figures = Figures::default();
        match figure {
            "orders" => figures.orders = amount,
            "tickets" => figures.tickets = amount,
            "gross" => figures.gross = amount,
            "refunded" => figures.refunded = amount,
            _ => continue,
        }
        sales.add(&Sales::of(currency, figures));
    }
    sales
}
