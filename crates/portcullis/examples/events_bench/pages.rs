//! The listings `GET /api/v1/events` and `GET /api/v1/clients/{id}/events`
//! serve, and `GET /api/v1/events/{id}`, through the service layer. Each
//! page is checked (newest first, filters honoured) so that a fast wrong
//! answer cannot pass for a fast one.

use anyhow::ensure;
use chrono::TimeDelta;
use portcullis_domain::Event;
use portcullis_service::{Service, events::ListEvents};

use crate::{
    measure::{Budget, Report, Samples, Stats},
    seed::{Population, RARE_KIND},
};

/// The API's default page size.
const PAGE: u32 = 50;
/// Pages walked (untimed) before the deep pages are timed.
const DEEP: usize = 200;

pub async fn measure(
    service: &Service,
    pop: &Population,
    budget: &Budget,
    report: &mut Report,
) -> anyhow::Result<()> {
    let all = ListEvents { limit: Some(PAGE), ..Default::default() };
    let stats = repeat(service, budget, |_| all.clone(), |_| true).await?;
    report.latency("first_page", "first page, all events", &stats)?;

    let stats = deep_pages(service, budget).await?;
    report.latency("deep_page", &format!("page {}+ of all events (by cursor)", DEEP + 1), &stats)?;

    let hot = ListEvents { client_id: Some(pop.hot), ..all.clone() };
    let stats = repeat(service, budget, |_| hot.clone(), |e| e.client_id == Some(pop.hot)).await?;
    report.latency("hot_client", "first page, the hot client", &stats)?;

    let stats = repeat(
        service,
        budget,
        |i| ListEvents { client_id: Some(pop.cold[i % pop.cold.len()]), ..all.clone() },
        |e| e.client_id.is_some_and(|c| pop.cold.contains(&c)),
    )
    .await?;
    report.latency("cold_client", "first page, a cold client", &stats)?;

    let rare = ListEvents { kind: Some(RARE_KIND.to_owned()), ..all.clone() };
    let stats = repeat(service, budget, |_| rare.clone(), |e| e.kind == RARE_KIND).await?;
    report.latency("rare_kind", &format!("first page, kind={RARE_KIND}"), &stats)?;

    let errors = ListEvents { status_class: Some(5), ..all.clone() };
    let is_5xx = |e: &Event| e.status.is_some_and(|s| (500..600).contains(&s));
    let stats = repeat(service, budget, |_| errors.clone(), is_5xx).await?;
    report.latency("status_5xx", "first page, status=5xx", &stats)?;

    // A class nothing answered with (as 5xx is on a healthy week): no row
    // ends the search early.
    let redirects = ListEvents { status_class: Some(3), ..all.clone() };
    let stats = repeat_none(service, budget, redirects).await?;
    report.latency("status_3xx", "first page, status=3xx (none stored)", &stats)?;

    let hot_errors = ListEvents { client_id: Some(pop.hot), ..errors.clone() };
    let stats =
        repeat(service, budget, |_| hot_errors.clone(), |e| is_5xx(e) && e.client_id == Some(pop.hot))
            .await?;
    report.latency("hot_client_5xx", "first page, the hot client, status=5xx", &stats)?;

    let (since, until) = (pop.start + TimeDelta::days(3), pop.start + TimeDelta::days(4));
    let range = ListEvents { since: Some(since), until: Some(until), ..all.clone() };
    let in_range = |e: &Event| e.occurred_at >= since && e.occurred_at < until;
    let stats = repeat(service, budget, |_| range.clone(), in_range).await?;
    report.latency("time_range", "first page, since/until: day 4 of 7", &stats)?;

    let mut samples = Samples::new();
    while budget.more(&samples) {
        let id = pop.sample[samples.len() % pop.sample.len()];
        let event = samples.time(service.get_event(&portcullis_service::Caller::cli(), id)).await?;
        ensure!(event.id == id, "get_event({id}) answered another event");
    }
    report.latency("get_event", "one event by id (with its bodies)", &samples.stats())?;
    Ok(())
}

/// Times `list(i)` for the i-th repetition, checking every item with `ok`.
async fn repeat(
    service: &Service,
    budget: &Budget,
    list: impl Fn(usize) -> ListEvents,
    ok: impl Fn(&Event) -> bool,
) -> anyhow::Result<Stats> {
    let mut samples = Samples::new();
    while budget.more(&samples) {
        let request = list(samples.len());
        let page =
            samples.time(service.list_events(&portcullis_service::Caller::cli(), request.clone())).await?;
        check(&page.items, &request, &ok)?;
    }
    Ok(samples.stats())
}

/// Times a query that no stored event matches.
async fn repeat_none(service: &Service, budget: &Budget, request: ListEvents) -> anyhow::Result<Stats> {
    let mut samples = Samples::new();
    while budget.more(&samples) {
        let page =
            samples.time(service.list_events(&portcullis_service::Caller::cli(), request.clone())).await?;
        ensure!(page.items.is_empty(), "events found for {request:?}");
    }
    Ok(samples.stats())
}

/// Walks [`DEEP`] pages, then times the pages after them, one after another.
async fn deep_pages(service: &Service, budget: &Budget) -> anyhow::Result<Stats> {
    let mut request = ListEvents { limit: Some(PAGE), ..Default::default() };
    for _ in 0..DEEP {
        request.cursor =
            service.list_events(&portcullis_service::Caller::cli(), request.clone()).await?.next_cursor;
        ensure!(request.cursor.is_some(), "fewer than {DEEP} pages of events");
    }
    let mut samples = Samples::new();
    while budget.more(&samples) {
        let page =
            samples.time(service.list_events(&portcullis_service::Caller::cli(), request.clone())).await?;
        check(&page.items, &request, &|_| true)?;
        request.cursor = page.next_cursor;
        ensure!(request.cursor.is_some(), "ran out of pages");
    }
    Ok(samples.stats())
}

fn check(items: &[Event], request: &ListEvents, ok: &impl Fn(&Event) -> bool) -> anyhow::Result<()> {
    ensure!(!items.is_empty(), "an empty page for {request:?}");
    ensure!(items.len() <= PAGE as usize, "a page longer than asked for");
    ensure!(
        items.windows(2).all(|w| (w[0].occurred_at, w[0].id) > (w[1].occurred_at, w[1].id)),
        "a page out of order for {request:?}"
    );
    ensure!(items.iter().all(ok), "an event the filter should have left out, for {request:?}");
    Ok(())
}
