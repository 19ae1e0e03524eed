//! Buying: a confirm is verified with the payment provider before anything is sold, one
//! payment buys one reservation, and no order commits after the event's cancel has.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::cancellation::{cancel, configure_fake, fake_refunds, finished, with_consumers};
use crate::harness::{Tenant, id, isolated_stack, stack};
use crate::inventory::{capacity, event_on_sale, reserve};

#[tokio::test]
async fn only_a_payment_of_the_right_amount_currency_and_reservation_confirms() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("General", 2500, 50, json!({}))]).await;
    let buyer = tenant.user("customer", "payer");
    let hold = reserve(&buyer, &event, &[(&types[0], 2)]).await.body["reservation"].clone();
    let other = reserve(&tenant.user("customer", "other"), &event, &[(&types[0], 2)]).await.body["reservation"].clone();
    assert_eq!(hold["total"], 5000);
    let wrong_amount = buyer.pay(4999, "USD", Some(id(&hold))).await;
    let wrong_currency = buyer.pay(5000, "EUR", Some(id(&hold))).await;
    let for_another = buyer.pay(5000, "USD", Some(id(&other))).await;
    for (payment, why) in [
        ("pi_never_paid", "knows no payment"),
        (wrong_amount.as_str(), "is for 4999"),
        (wrong_currency.as_str(), "is in EUR"),
        (for_another.as_str(), "another reservation"),
    ] {
        let reply = buyer.confirm(&hold, payment).await;
        reply.assert_problem(402, "PAYMENT_NOT_VERIFIED");
        assert!(reply.body["detail"].as_str().unwrap().contains(why), "{}", reply.text);
    }
    assert_eq!(capacity(&organizer, &event).await["sold"], 0, "nothing sold");
    let still = buyer.get(&format!("/api/v1/reservations/{}", id(&hold))).await;
    assert_eq!(still.body["reservation"]["status"], "HELD", "the hold stays until it expires");
    // Lower-case currency at the provider is the same currency.
    let good = buyer.pay(5000, "usd", None).await;
    let bought = buyer.confirm(&hold, &good).await;
    assert_eq!(bought.status, 201, "{}", bought.text);
    assert_eq!(bought.body["order"]["payment_reference"], good.as_str());
    // The same payment cannot buy a second reservation of the same total.
    tenant.user("customer", "other").confirm(&other, &good).await.assert_problem(409, "PAYMENT_ALREADY_USED");
    assert_eq!(capacity(&organizer, &event).await["sold"], 2);
}

#[tokio::test]
async fn a_provider_that_is_down_sells_nothing() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let buyer = tenant.customer();
    let hold = reserve(&buyer, &event, &[(&types[0], 1)]).await.body["reservation"].clone();
    let payment = buyer.pay(1000, "USD", Some(id(&hold))).await;
    configure_fake(&stack, json!({ "failure_rate": 1.0 })).await;
    buyer.confirm(&hold, &payment).await.assert_problem(503, "SERVICE_UNAVAILABLE");
    assert_eq!(capacity(&organizer, &event).await["sold"], 0);
    configure_fake(&stack, json!({})).await;
    assert_eq!(buyer.confirm(&hold, &payment).await.status, 201, "a retry succeeds once the provider is back");
}

#[tokio::test]
async fn fifty_confirms_racing_a_cancel_are_each_refunded_or_refused() {
    let _turn = crate::harness::heavy_test().await;
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 100, &[("General", 1500, 100, json!({}))]).await;
    let mut ready = Vec::new();
    for n in 0..50 {
        let buyer = tenant.user("customer", &format!("racer-{n}"));
        let hold = reserve(&buyer, &event, &[(&types[0], 1)]).await.body["reservation"].clone();
        let payment = buyer.pay(1500, "USD", Some(id(&hold))).await;
        ready.push((buyer, hold, payment));
    }
    let start = Arc::new(tokio::sync::Barrier::new(51));
    // Confirms go out 10 ms apart and the cancel lands among them, so some buyers are early and
    // some late.
    let confirms: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(n, (buyer, hold, payment))| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                tokio::time::sleep(std::time::Duration::from_millis(10 * n as u64)).await;
                let reply = buyer.confirm(&hold, &payment).await;
                (reply.status, reply.code().to_owned(), payment)
            })
        })
        .collect();
    let admin = tenant.admin();
    let canceller = {
        let (admin, event, start) = (admin.clone(), event.clone(), Arc::clone(&start));
        tokio::spawn(async move {
            start.wait().await;
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            cancel(&admin, &event, json!({ "reason": "Race" })).await
        })
    };
    let (mut bought, mut refused) = (HashSet::new(), 0);
    for confirm in confirms {
        let (status, code, payment) = confirm.await.unwrap();
        match status {
            201 => assert!(bought.insert(payment)),
            409 => {
                assert_eq!(code, "INVALID_EVENT_STATE");
                refused += 1;
            }
            other => panic!("unexpected {other} {code}"),
        }
    }
    println!("racing the cancel: {} confirmed, {refused} refused", bought.len());
    assert_eq!(canceller.await.unwrap().status, 202);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    assert_eq!(
        cancellation["orders_total"].as_u64(),
        Some(bought.len() as u64),
        "every order the buyers were told about"
    );
    let refunded: HashSet<String> = fake_refunds(&stack)
        .await
        .iter()
        .inspect(|r| assert_eq!(r["amount"], 1500, "{r}"))
        .map(|r| r["payment_intent"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refunded, bought, "every order that got 201 is refunded, once");
    let listed = admin.get(&format!("/api/v1/events/{}/orders?limit=100", id(&event))).await.body["orders"].clone();
    assert_eq!(listed.as_array().unwrap().len(), bought.len(), "no order committed after the cancel");
    assert_eq!(capacity(&organizer, &event).await["sold"].as_u64(), Some(bought.len() as u64));
}

#[tokio::test]
async fn a_retried_commit_with_its_request_token_is_not_judged_twice() {
    use shared::domain::reservation::Order;
    use shared::store::inventory::ConfirmOutcome;
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let hold: Value = reserve(&tenant.customer(), &event, &[(&types[0], 3)]).await.body["reservation"].clone();
    let deps = stack().deps(&stack().table, None);
    let hold = deps.store.get_reservation(tenant.id, id(&hold).parse().unwrap()).await.unwrap().unwrap();
    let now = chrono::Utc::now();
    let order =
        Order::from_hold(shared::domain::ids::OrderId::generate(), &hold, format!("pi_token_{}", Uuid::now_v7()), now);
    // The same transaction sent twice, as the SDK does when a commit's answer is lost.
    assert_eq!(deps.store.confirm_hold(tenant.id, &hold, &order, None, now).await.unwrap(), ConfirmOutcome::Confirmed);
    assert_eq!(deps.store.confirm_hold(tenant.id, &hold, &order, None, now).await.unwrap(), ConfirmOutcome::Confirmed);
    let counts = capacity(&organizer, &event).await;
    assert_eq!((counts["sold"].as_u64(), counts["reserved"].as_u64()), (Some(3), Some(0)), "sold once");
    let event_id: shared::domain::ids::EventId = id(&event).parse().unwrap();
    let sales = deps.store.event_sales(tenant.id, &[event_id]).await.unwrap()[&event_id].clone();
    let usd = sales.0["USD"];
    assert_eq!((usd.orders, usd.tickets, usd.gross), (1, 3, order.totals.total), "counted once in the figures too");
    // A different order for the same hold is a different request: its conditions are judged.
    let another =
        Order::from_hold(shared::domain::ids::OrderId::generate(), &hold, format!("pi_token_{}", Uuid::now_v7()), now);
    assert_eq!(
        deps.store.confirm_hold(tenant.id, &hold, &another, None, now).await.unwrap(),
        ConfirmOutcome::HoldChanged
    );
}
