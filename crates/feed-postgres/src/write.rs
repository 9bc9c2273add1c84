//! The feed's writing transactions: a run's commit, a ref's deletion and retention.
//!
//! Every write first locks the one counter row (`FOR UPDATE`) and holds it to commit, so
//! writes from all replicas commit one after another in cursor order: when a reader sees
//! cursor N committed, every entry below N committed before it (see the crate docs).

use feed::plan::{self, CommitPlan};
use feed::{ChunkRecord, Entry, RefRecord, Retention, RunContext};
use indexer::RefKey;
use tokio_postgres::Transaction;

use crate::error::{PgFeedError, damaged, signed, unsigned};
use crate::schema::Names;

/// Locks the counter and returns the next cursor to hand out.
async fn lock_counter(tx: &Transaction<'_>, names: &Names) -> Result<u64, PgFeedError> {
    let next: i64 = tx
        .query_one(
            &format!(
                "SELECT next FROM {}.cursor_counter WHERE id = 1 FOR UPDATE",
                names.quoted
            ),
            &[],
        )
        .await?
        .get(0);
    unsigned(next, "cursor counter")
}

/// The stored record of `key`, if any.
pub(crate) async fn ref_record(
    client: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
) -> Result<Option<RefRecord>, PgFeedError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT record FROM {}.refs WHERE repo = $1 AND git_ref = $2",
                names.quoted
            ),
            &[&key.repo, &key.git_ref],
        )
        .await?;
    row.map(|row| serde_json::from_str(row.get(0)).map_err(damaged("ref record")))
        .transpose()
}

/// Inserts `entries` of `key` in one statement.
async fn insert_entries(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    entries: &[Entry],
) -> Result<(), PgFeedError> {
    let mut cursors = Vec::with_capacity(entries.len());
    let mut times = Vec::with_capacity(entries.len());
    let mut commits = Vec::with_capacity(entries.len());
    let mut last_parts = Vec::with_capacity(entries.len());
    let mut bodies = Vec::with_capacity(entries.len());
    for entry in entries {
        let cursor: u64 = entry
            .cursor
            .parse()
            .map_err(|_| PgFeedError::OutOfRange("cursor"))?;
        cursors.push(signed(cursor, "cursor")?);
        times.push(signed(entry.time_ms, "entry time")?);
        commits.push(entry.commit.clone());
        last_parts.push(entry.last_part);
        bodies.push(serde_json::to_string(entry).expect("entries serialize"));
    }
    tx.execute(
        &format!(
            "INSERT INTO {}.entries (cursor, repo, git_ref, time_ms, commit_id, last_part, body)
             SELECT c, $1, $2, t, m, l, b
             FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::boolean[], $7::text[])
                 AS e(c, t, m, l, b)",
            names.quoted
        ),
        &[
            &key.repo,
            &key.git_ref,
            &cursors,
            &times,
            &commits,
            &last_parts,
            &bodies,
        ],
    )
    .await?;
    Ok(())
}

/// Stores the new chunks of each changed path of `key` (an empty list removes the path).
async fn store_files(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    files: &[(String, Vec<ChunkRecord>)],
) -> Result<(), PgFeedError> {
    let s = &names.quoted;
    let (gone, kept): (Vec<_>, Vec<_>) = files.iter().partition(|(_, chunks)| chunks.is_empty());
    let gone: Vec<&str> = gone.iter().map(|(path, _)| path.as_str()).collect();
    if !gone.is_empty() {
        tx.execute(
            &format!("DELETE FROM {s}.files WHERE repo = $1 AND git_ref = $2 AND path = ANY($3)"),
            &[&key.repo, &key.git_ref, &gone],
        )
        .await?;
    }
    if !kept.is_empty() {
        let paths: Vec<&str> = kept.iter().map(|(path, _)| path.as_str()).collect();
        let chunks: Vec<String> = kept
            .iter()
            .map(|(_, chunks)| serde_json::to_string(chunks).expect("chunks serialize"))
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO {s}.files (repo, git_ref, path, chunks)
                 SELECT $1, $2, p, c FROM unnest($3::text[], $4::text[]) AS f(p, c)
                 ON CONFLICT (repo, git_ref, path) DO UPDATE SET chunks = excluded.chunks"
            ),
            &[&key.repo, &key.git_ref, &paths, &chunks],
        )
        .await?;
    }
    Ok(())
}

/// The stored chunks of `paths` of `key` (absent paths are missing from the map).
async fn old_files(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    paths: &[&str],
) -> Result<std::collections::HashMap<String, Vec<ChunkRecord>>, PgFeedError> {
    let rows = tx
        .query(
            &format!(
                "SELECT path, chunks FROM {}.files WHERE repo = $1 AND git_ref = $2 AND path = ANY($3)",
                names.quoted
            ),
            &[&key.repo, &key.git_ref, &paths],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let chunks = serde_json::from_str(row.get(1)).map_err(damaged("file's chunks"))?;
            Ok((row.get(0), chunks))
        })
        .collect()
}

/// Writes `record` for `key` and moves the counter to `next`.
async fn finish(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    record: &RefRecord,
    next: u64,
) -> Result<(), PgFeedError> {
    let s = &names.quoted;
    tx.execute(
        &format!(
            "INSERT INTO {s}.refs (repo, git_ref, record) VALUES ($1, $2, $3)
             ON CONFLICT (repo, git_ref) DO UPDATE SET record = excluded.record"
        ),
        &[
            &key.repo,
            &key.git_ref,
            &serde_json::to_string(record).expect("records serialize"),
        ],
    )
    .await?;
    tx.execute(
        &format!("UPDATE {s}.cursor_counter SET next = $1 WHERE id = 1"),
        &[&signed(next, "cursor counter")?],
    )
    .await?;
    Ok(())
}

/// Commits a staged run in one transaction: its entries, the ref's changed files, its
/// record, the counter and retention. Returns the last cursor written, or `None` when the
/// feed already held the run.
pub(crate) async fn commit_run(
    tx: &Transaction<'_>,
    names: &Names,
    retention: &Retention,
    key: &RefKey,
    staged: plan::StagedRun,
    run: &RunContext,
) -> Result<Option<u64>, PgFeedError> {
    let first = lock_counter(tx, names).await?;
    let record = ref_record(tx, names, key).await?.unwrap_or_default();
    let paths: Vec<&str> = staged.files.keys().map(String::as_str).collect();
    let mut old = old_files(tx, names, key, &paths).await?;
    let planned = plan::plan_commit(key, staged, run, record, first, |path| {
        Ok::<_, PgFeedError>(old.remove(path).unwrap_or_default())
    })?;
    let Some(CommitPlan {
        entries,
        files,
        mut record,
    }) = planned
    else {
        return Ok(None);
    };
    store_files(tx, names, key, &files).await?;
    insert_entries(tx, names, key, &entries).await?;
    let last = record.last_cursor;
    prune(tx, names, retention, key, &mut record).await?;
    finish(tx, names, key, &record, last + 1).await?;
    Ok(Some(last))
}

/// Deletes a ref in one transaction: one `ref_deleted` entry, its files cleared. Returns the
/// entry's cursor, or `None` for a ref the feed never saw or already saw deleted.
pub(crate) async fn delete_ref(
    tx: &Transaction<'_>,
    names: &Names,
    retention: &Retention,
    key: &RefKey,
    run: &RunContext,
) -> Result<Option<u64>, PgFeedError> {
    let cursor = lock_counter(tx, names).await?;
    let Some(record) = ref_record(tx, names, key).await? else {
        return Ok(None);
    };
    if record.deleted {
        return Ok(None);
    }
    let (entry, mut record) = plan::plan_deletion(key, &record, run, cursor);
    tx.execute(
        &format!(
            "DELETE FROM {}.files WHERE repo = $1 AND git_ref = $2",
            names.quoted
        ),
        &[&key.repo, &key.git_ref],
    )
    .await?;
    insert_entries(tx, names, key, std::slice::from_ref(&entry)).await?;
    prune(tx, names, retention, key, &mut record).await?;
    finish(tx, names, key, &record, cursor + 1).await?;
    Ok(Some(cursor))
}

/// Drops the ref's oldest entries beyond the retention, updating `record` (not stored).
///
/// The same rule as the sled feed: from the oldest, drop while the ref keeps more than
/// `max_entries_per_ref` or the entry is older than `max_age`; stop at the first entry that
/// is neither.
pub(crate) async fn prune(
    tx: &Transaction<'_>,
    names: &Names,
    retention: &Retention,
    key: &RefKey,
    record: &mut RefRecord,
) -> Result<bool, PgFeedError> {
    let s = &names.quoted;
    let mut through = record.pruned_through;
    if let Some(max) = retention.max_entries_per_ref {
        if record.entries > max {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT cursor FROM {s}.entries WHERE repo = $1 AND git_ref = $2
                         ORDER BY cursor OFFSET $3 LIMIT 1"
                    ),
                    &[
                        &key.repo,
                        &key.git_ref,
                        &signed(record.entries - max - 1, "entry count")?,
                    ],
                )
                .await?;
            if let Some(row) = row {
                through = through.max(unsigned(row.get(0), "cursor")?);
            }
        }
    }
    if let Some(age) = retention.max_age {
        let cutoff = plan::now_ms().saturating_sub(age.as_millis() as u64);
        let row = tx
            .query_one(
                &format!(
                    "SELECT max(cursor) FROM {s}.entries
                     WHERE repo = $1 AND git_ref = $2 AND cursor < coalesce(
                         (SELECT min(cursor) FROM {s}.entries
                          WHERE repo = $1 AND git_ref = $2 AND cursor > $3 AND time_ms >= $4),
                         9223372036854775807)"
                ),
                &[
                    &key.repo,
                    &key.git_ref,
                    &signed(through, "cursor")?,
                    &signed(cutoff, "time")?,
                ],
            )
            .await?;
        if let Some(cursor) = row.get::<_, Option<i64>>(0) {
            through = through.max(unsigned(cursor, "cursor")?);
        }
    }
    if through == record.pruned_through {
        return Ok(false);
    }
    let dropped = tx
        .execute(
            &format!("DELETE FROM {s}.entries WHERE repo = $1 AND git_ref = $2 AND cursor <= $3"),
            &[&key.repo, &key.git_ref, &signed(through, "cursor")?],
        )
        .await?;
    record.entries = record.entries.saturating_sub(dropped);
    record.pruned_through = through;
    Ok(true)
}

/// Applies retention to `key` on its own, in the caller's transaction, holding the counter
/// lock so it never interleaves with a commit of the ref.
pub(crate) async fn prune_ref(
    tx: &Transaction<'_>,
    names: &Names,
    retention: &Retention,
    key: &RefKey,
) -> Result<(), PgFeedError> {
    lock_counter(tx, names).await?;
    let Some(mut record) = ref_record(tx, names, key).await? else {
        return Ok(());
    };
    if prune(tx, names, retention, key, &mut record).await? {
        tx.execute(
            &format!(
                "UPDATE {}.refs SET record = $3 WHERE repo = $1 AND git_ref = $2",
                names.quoted
            ),
            &[
                &key.repo,
                &key.git_ref,
                &serde_json::to_string(&record).expect("records serialize"),
            ],
        )
        .await?;
    }
    Ok(())
}
