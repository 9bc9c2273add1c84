//! [`PgDeliveryLog`]: the delivery log in the job store's schema (`delivery_log`, and
//! `delivery_bodies` for kept bodies, dropped with their entry by a foreign key).

use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Pool};
use jobstore::{
    DeliveryEntry, DeliveryFilter, DeliveryLog, DeliveryOutcome, DeliveryPage, DeliveryRecord,
    DeliveryRetention, Error, KeptBody, LogId, LogPageQuery, NewDelivery, Pruned, Verification,
};
use tokio_postgres::Row;

use crate::error::PgError;
use crate::names::Names;

const COLUMNS: &str = "id, received_at, provider, event, repo, delivery_id, verification, \
     status, outcome, reason, job_id, header_names, header_values, body_bytes, body_kept, \
     redelivery_of";

/// A [`DeliveryLog`] in a PostgreSQL schema, shared by every replica on it. Made by
/// [`PgJobStore::delivery_log`](crate::PgJobStore::delivery_log).
#[derive(Debug, Clone)]
pub struct PgDeliveryLog {
    pool: Pool,
    names: Names,
    retention: DeliveryRetention,
}

impl PgDeliveryLog {
    pub(crate) fn new(pool: Pool, names: Names, retention: DeliveryRetention) -> Self {
        PgDeliveryLog {
            pool,
            names,
            retention,
        }
    }

    fn entry(&self, row: &Row, now: SystemTime) -> Result<DeliveryEntry, PgError> {
        let id: i64 = row.get(0);
        let names: Vec<String> = row.get(11);
        let values: Vec<String> = row.get(12);
        let record = DeliveryRecord {
            received_at: row.get(1),
            provider: row.get(2),
            event: row.get(3),
            repo: row.get(4),
            delivery_id: row.get(5),
            verification: decode(&Verification::ALL, row.get(6)),
            status: u16::try_from(row.get::<_, i32>(7)).unwrap_or_default(),
            outcome: decode(&DeliveryOutcome::ALL, row.get(8)),
            reason: row.get(9),
            job_id: row.get(10),
            headers: names.into_iter().zip(values).collect(),
            body_bytes: u64::try_from(row.get::<_, i64>(13)).unwrap_or_default(),
            redelivery_of: row
                .get::<_, Option<i64>>(15)
                .and_then(|n| u64::try_from(n).ok())
                .map(LogId),
        };
        let stored: bool = row.get(14);
        Ok(DeliveryEntry {
            id: LogId(u64::try_from(id).unwrap_or_default()),
            body_kept: stored && self.retention.body_fresh(record.received_at, now),
            record,
        })
    }

    /// Deletes entries older than the newest `keep` (their bodies go by the foreign key).
    async fn keep_newest(&self, client: &impl GenericClient) -> Result<u64, PgError> {
        let s = &self.names.quoted;
        let keep = i64::try_from(self.retention.keep.max(1)).unwrap_or(i64::MAX);
        Ok(client
            .execute(
                &format!(
                    "DELETE FROM {s}.delivery_log WHERE id <= (
                         SELECT id FROM {s}.delivery_log ORDER BY id DESC OFFSET $1 LIMIT 1)"
                ),
                &[&keep],
            )
            .await?)
    }
}

fn code<T: PartialEq>(all: &[T], value: T) -> i16 {
    all.iter().position(|v| *v == value).unwrap_or(0) as i16
}

fn decode<T: Copy>(all: &[T], code: i16) -> T {
    all[usize::try_from(code).unwrap_or(0).min(all.len() - 1)]
}

fn row_id(id: LogId) -> Option<i64> {
    i64::try_from(id.0).ok()
}

#[async_trait::async_trait]
impl DeliveryLog for PgDeliveryLog {
    async fn record(&self, delivery: NewDelivery) -> Result<DeliveryEntry, Error> {
        const ACTION: &str = "recording a delivery";
        let s = &self.names.quoted;
        let NewDelivery { record, kept } = delivery;
        let written = async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let (names, values): (Vec<&str>, Vec<&str>) = record
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .unzip();
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO {s}.delivery_log (received_at, provider, event, repo,
                             delivery_id, verification, status, outcome, reason, job_id,
                             header_names, header_values, body_bytes, body_kept, redelivery_of)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                         RETURNING {COLUMNS}"
                    ),
                    &[
                        &record.received_at,
                        &record.provider,
                        &record.event,
                        &record.repo,
                        &record.delivery_id,
                        &code(&Verification::ALL, record.verification),
                        &i32::from(record.status),
                        &code(&DeliveryOutcome::ALL, record.outcome),
                        &record.reason,
                        &record.job_id,
                        &names,
                        &values,
                        &i64::try_from(record.body_bytes).unwrap_or(i64::MAX),
                        &kept.is_some(),
                        &record.redelivery_of.and_then(row_id),
                    ],
                )
                .await?;
            let id: i64 = row.get(0);
            if let Some(kept) = &kept {
                let (names, values): (Vec<&str>, Vec<&[u8]>) = kept
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice()))
                    .unzip();
                tx.execute(
                    &format!(
                        "INSERT INTO {s}.delivery_bodies (id, path_repo, header_names,
                             header_values, body) VALUES ($1, $2, $3, $4, $5)"
                    ),
                    &[&id, &kept.path_repo, &names, &values, &kept.body],
                )
                .await?;
            }
            self.keep_newest(&tx).await?;
            tx.commit().await?;
            self.entry(&row, SystemTime::now())
        };
        written.await.map_err(|e: PgError| e.during(ACTION))
    }

    async fn list(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, Error> {
        const ACTION: &str = "listing deliveries";
        let query = LogPageQuery::new(limit, cursor)?;
        let before = query.before.map(|id| row_id(id).unwrap_or(i64::MAX));
        let outcome = filter.outcome.map(|o| code(&DeliveryOutcome::ALL, o));
        let fetch = i64::try_from(query.limit).unwrap_or(i64::MAX - 1) + 1;
        let s = &self.names.quoted;
        let read = async {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM {s}.delivery_log
                         WHERE ($1::text IS NULL OR provider = $1)
                           AND ($2::text IS NULL OR repo = $2)
                           AND ($3::text IS NULL OR job_id = $3)
                           AND ($4::smallint IS NULL OR outcome = $4)
                           AND ($5::bigint IS NULL OR id < $5)
                         ORDER BY id DESC LIMIT $6"
                    ),
                    &[
                        &filter.provider,
                        &filter.repo,
                        &filter.job,
                        &outcome,
                        &before,
                        &fetch,
                    ],
                )
                .await?;
            let now = SystemTime::now();
            rows.iter()
                .map(|row| self.entry(row, now))
                .collect::<Result<Vec<_>, _>>()
        };
        let entries = read.await.map_err(|e: PgError| e.during(ACTION))?;
        Ok(query.page(entries))
    }

    async fn get(&self, id: LogId) -> Result<Option<DeliveryEntry>, Error> {
        let Some(n) = row_id(id) else {
            return Ok(None);
        };
        let s = &self.names.quoted;
        let read = async {
            let client = self.pool.get().await?;
            let row = client
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM {s}.delivery_log WHERE id = $1"),
                    &[&n],
                )
                .await?;
            row.map(|row| self.entry(&row, SystemTime::now()))
                .transpose()
        };
        read.await
            .map_err(|e: PgError| e.during("reading a delivery"))
    }

    async fn body(&self, id: LogId) -> Result<Option<KeptBody>, Error> {
        let Some(n) = row_id(id) else {
            return Ok(None);
        };
        let s = &self.names.quoted;
        let read = async {
            let client = self.pool.get().await?;
            Ok::<_, PgError>(
                client
                    .query_opt(
                        &format!(
                            "SELECT l.received_at, b.path_repo, b.header_names, b.header_values,
                                    b.body
                             FROM {s}.delivery_bodies b JOIN {s}.delivery_log l USING (id)
                             WHERE id = $1"
                        ),
                        &[&n],
                    )
                    .await?,
            )
        };
        let row = read
            .await
            .map_err(|e| e.during("reading a delivery body"))?;
        let now = SystemTime::now();
        Ok(row
            .filter(|row| self.retention.body_fresh(row.get(0), now))
            .map(|row| {
                let names: Vec<String> = row.get(2);
                let values: Vec<Vec<u8>> = row.get(3);
                KeptBody {
                    path_repo: row.get(1),
                    headers: names.into_iter().zip(values).collect(),
                    body: row.get(4),
                }
            }))
    }

    async fn prune(&self) -> Result<Pruned, Error> {
        let s = &self.names.quoted;
        let cutoff = self.retention.body_cutoff(SystemTime::now());
        let pruned = async {
            let client = self.pool.get().await?;
            let entries = self.keep_newest(&client).await?;
            let bodies = client
                .execute(
                    &format!(
                        "DELETE FROM {s}.delivery_bodies WHERE id IN (
                             SELECT id FROM {s}.delivery_log WHERE received_at <= $1)"
                    ),
                    &[&cutoff],
                )
                .await?;
            Ok::<_, PgError>(Pruned { entries, bodies })
        };
        pruned
            .await
            .map_err(|e| e.during("pruning the delivery log"))
    }
}
