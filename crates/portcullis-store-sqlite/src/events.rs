use async_trait::async_trait;
use portcullis_domain::{ClientId, Event, EventId, Timestamp, UserId};
use portcullis_store::{
    EventQuery, EventStore, Result, StoreError,
    decode::{self, EventColumns},
    events::{self, EventCondition},
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

use crate::{
    SqliteStore,
    clients::{micros, timestamp},
    error::db_error,
};

const EVENT_COLUMNS: &str = "id, occurred_at, kind, client_id, user_id, actor, method, path, status, \
                             latency_micros, source_ip, user_agent, request_body, response_body, details";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    occurred_at: i64,
    kind: String,
    client_id: Option<String>,
    user_id: Option<String>,
    actor: Option<String>,
    method: Option<String>,
    path: Option<String>,
    status: Option<i64>,
    latency_micros: Option<i64>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    request_body: Option<String>,
    response_body: Option<String>,
    details: Option<String>,
}

impl EventRow {
    fn into_event(self) -> Result<Event> {
        let id = self
            .id
            .parse::<EventId>()
            .map_err(|_| StoreError::Corrupt("events.id is not a UUID".to_owned()))?;
        let invalid = |column| decode::invalid_event_column(id, column);
        let client_id =
            self.client_id.map(|c| c.parse::<ClientId>()).transpose().map_err(|_| invalid("client_id"))?;
        let user_id =
            self.user_id.map(|u| u.parse::<UserId>()).transpose().map_err(|_| invalid("user_id"))?;
        decode::event(EventColumns {
            id,
            occurred_at: timestamp(self.occurred_at).ok_or_else(|| invalid("occurred_at"))?,
            kind: self.kind,
            client_id,
            user_id,
            actor: self.actor,
            method: self.method,
            path: self.path,
            status: self.status,
            latency_micros: self.latency_micros,
            source_ip: self.source_ip,
            user_agent: self.user_agent,
            request_body: self.request_body,
            response_body: self.response_body,
            details: self.details,
        })
    }
}

/// Inserts `events` inside the caller's transaction: a change and its
/// events commit together.
pub(crate) async fn insert_in(conn: &mut SqliteConnection, events: &[Event]) -> Result<()> {
    let mut rest = events;
    for size in events::insert_chunks(events.len()) {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let mut sql = QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
        sql.push_values(chunk, |mut row, e| {
            row.push_bind(e.id.to_string())
                .push_bind(micros(e.occurred_at))
                .push_bind(e.kind.as_str())
                .push_bind(e.client_id.map(|c| c.to_string()))
                .push_bind(e.user_id.map(|u| u.to_string()))
                .push_bind(e.actor.as_deref())
                .push_bind(e.method.as_deref())
                .push_bind(e.path.as_deref())
                .push_bind(e.status.map(i64::from))
                .push_bind(e.latency_micros)
                .push_bind(e.source_ip.as_deref())
                .push_bind(e.user_agent.as_deref())
                .push_bind(e.request_body.as_deref())
                .push_bind(e.response_body.as_deref())
                .push_bind(e.details.as_deref());
        });
        sql.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

/// ` AND <condition>` in SQLite's types: ids as TEXT, instants as INTEGER
/// microseconds, statuses as INTEGER.
fn push_condition(sql: &mut QueryBuilder<'_, Sqlite>, condition: &EventCondition<'_>) {
    match *condition {
        EventCondition::Before(after) => {
            sql.push(" AND (occurred_at, id) < (")
                .push_bind(micros(after.occurred_at))
                .push(", ")
                .push_bind(after.id.to_string())
                .push(")");
        }
        EventCondition::Client(id) => {
            sql.push(" AND client_id = ").push_bind(id.to_string());
        }
        EventCondition::User(id) => {
            sql.push(" AND user_id = ").push_bind(id.to_string());
        }
        EventCondition::Kind(kind) => {
            sql.push(" AND kind = ").push_bind(kind.to_owned());
        }
        EventCondition::StatusClass(class) => {
            sql.push(" AND status / 100 = ").push_bind(i64::from(class));
        }
        EventCondition::StatusBetween { min, max } => {
            sql.push(" AND status BETWEEN ")
                .push_bind(i64::from(min))
                .push(" AND ")
                .push_bind(i64::from(max));
        }
        EventCondition::Since(at) => {
            sql.push(" AND occurred_at >= ").push_bind(micros(at));
        }
        EventCondition::Until(at) => {
            sql.push(" AND occurred_at < ").push_bind(micros(at));
        }
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_events(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_event(&self, id: EventId) -> Result<Option<Event>> {
        let row: Option<EventRow> =
            sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?"))
                .bind(id.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(EventRow::into_event).transpose()
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let list = events::list(query);
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
        for condition in &list.conditions {
            push_condition(&mut sql, condition);
        }
        sql.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").push_bind(list.limit);
        let rows: Vec<EventRow> =
            sql.build_query_as().fetch_all(&mut *self.conn().await?).await.map_err(db_error)?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn purge_events(&self, before: Timestamp, limit: u32) -> Result<u64> {
        // Bounded, so that one batch never holds the write lock for long;
        // oldest first, along the occurred_at index.
        let done = sqlx::query(
            // By the primary key: the table is kept in (occurred_at, id) order.
            "DELETE FROM events WHERE (occurred_at, id) IN \
             (SELECT occurred_at, id FROM events WHERE occurred_at < ? ORDER BY occurred_at, id LIMIT ?)",
        )
        .bind(micros(before))
        .bind(i64::from(limit))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
