use crate::ExecuteCommitted;
use async_trait::async_trait;
use portcullis_domain::{ClientId, Event, EventId, Timestamp, UserId};
use portcullis_store::{
    EventQuery, EventStore, Result,
    decode::{self, EventColumns},
    events::{self, EventCondition},
};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{PgStore, error::db_error};

// Events: no trigger and no `self.changed()` (see 0004): they are not
// something the change notifications cover.

const EVENT_COLUMNS: &str = "id, occurred_at, kind, client_id, user_id, actor, method, path, status, \
                             latency_micros, source_ip, user_agent, request_body, response_body, details";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    occurred_at: Timestamp,
    kind: String,
    client_id: Option<Uuid>,
    user_id: Option<Uuid>,
    actor: Option<String>,
    method: Option<String>,
    path: Option<String>,
    status: Option<i32>,
    latency_micros: Option<i64>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    request_body: Option<String>,
    response_body: Option<String>,
    details: Option<String>,
}

impl EventRow {
    fn into_event(self) -> Result<Event> {
        decode::event(EventColumns {
            id: EventId::from_uuid(self.id),
            occurred_at: self.occurred_at,
            kind: self.kind,
            client_id: self.client_id.map(ClientId::from_uuid),
            user_id: self.user_id.map(UserId::from_uuid),
            actor: self.actor,
            method: self.method,
            path: self.path,
            status: self.status.map(i64::from),
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
pub(crate) async fn insert_in(conn: &mut PgConnection, events: &[Event]) -> Result<()> {
    let mut rest = events;
    for size in events::insert_chunks(events.len()) {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let mut sql = QueryBuilder::<Postgres>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
        sql.push_values(chunk, |mut row, e| {
            row.push_bind(e.id.as_uuid())
                .push_bind(e.occurred_at)
                .push_bind(e.kind.as_str())
                .push_bind(e.client_id.map(|c| c.as_uuid()))
                .push_bind(e.user_id.map(|u| u.as_uuid()))
                .push_bind(e.actor.as_deref())
                .push_bind(e.method.as_deref())
                .push_bind(e.path.as_deref())
                .push_bind(e.status.map(i32::from))
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

/// ` AND <condition>` in PostgreSQL's types: `uuid`, `timestamptz`, and
/// `integer` statuses (so that the status indexes match the parameter's type).
fn push_condition(sql: &mut QueryBuilder<'_, Postgres>, condition: &EventCondition<'_>) {
    match *condition {
        EventCondition::Before(after) => {
            sql.push(" AND (occurred_at, id) < (")
                .push_bind(after.occurred_at)
                .push(", ")
                .push_bind(after.id.as_uuid())
                .push(")");
        }
        EventCondition::Client(id) => {
            sql.push(" AND client_id = ").push_bind(id.as_uuid());
        }
        EventCondition::User(id) => {
            sql.push(" AND user_id = ").push_bind(id.as_uuid());
        }
        EventCondition::Kind(kind) => {
            sql.push(" AND kind = ").push_bind(kind.to_owned());
        }
        EventCondition::StatusClass(class) => {
            sql.push(" AND status / 100 = ").push_bind(i32::from(class));
        }
        EventCondition::StatusBetween { min, max } => {
            sql.push(" AND status BETWEEN ")
                .push_bind(i32::from(min))
                .push(" AND ")
                .push_bind(i32::from(max));
        }
        EventCondition::Since(at) => {
            sql.push(" AND occurred_at >= ").push_bind(at);
        }
        EventCondition::Until(at) => {
            sql.push(" AND occurred_at < ").push_bind(at);
        }
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn insert_events(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        insert_in(&mut tx, events).await?;
        self.commit(tx).await
    }

    async fn get_event(&self, id: EventId) -> Result<Option<Event>> {
        let row: Option<EventRow> =
            sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(EventRow::into_event).transpose()
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let list = events::list(query);
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
        for condition in &list.conditions {
            push_condition(&mut sql, condition);
        }
        sql.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").push_bind(list.limit);
        let rows: Vec<EventRow> =
            sql.build_query_as().fetch_all(&mut *self.conn().await?).await.map_err(db_error)?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn purge_events(&self, before: Timestamp, limit: u32) -> Result<u64> {
        // Bounded batches, oldest first; SKIP LOCKED, so that instances
        // purging at once take different rows instead of queueing behind
        // each other (and a row is only ever counted by the one that
        // deleted it).
        let done = sqlx::query(
            "DELETE FROM events WHERE id IN \
             (SELECT id FROM events WHERE occurred_at < $1 ORDER BY occurred_at \
              LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute_committed(self)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
