//! The feed's reads. A page is read in one `REPEATABLE READ` transaction, so the newest
//! cursor, the ref's record and the files or entries it serves are one consistent picture.

use feed::plan::{self, ReadFrom};
use feed::{ChunkRecord, Cursor, Entry, FeedError, Page, RefRecord};
use indexer::RefKey;
use tokio_postgres::Transaction;

use crate::error::{PgFeedError, damaged, signed};
use crate::schema::Names;
use crate::write::ref_record;

/// Why a read failed: the feed's own verdict on the cursor, or the database.
#[derive(Debug)]
pub(crate) enum ReadError {
    Feed(FeedError),
    Db(PgFeedError),
}

impl<E: Into<PgFeedError>> From<E> for ReadError {
    fn from(error: E) -> Self {
        ReadError::Db(error.into())
    }
}

/// A page of `key`'s feed after `cursor`, at most `limit` entries (at least one).
pub(crate) async fn page(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    cursor: &Cursor,
    limit: usize,
) -> Result<Page, ReadError> {
    let limit = limit.max(1);
    let newest = crate::listener::newest_in(tx, names).await?;
    let record = ref_record(tx, names, key).await?.unwrap_or_default();
    match plan::read_from(cursor, newest, &record).map_err(ReadError::Feed)? {
        ReadFrom::Snapshot { base, after } => {
            Ok(snapshot(tx, names, key, &record, base, &after, limit).await?)
        }
        ReadFrom::Live(since) => Ok(live(tx, names, key, since, limit).await?),
    }
}

async fn snapshot(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    record: &RefRecord,
    base: u64,
    after: &str,
    limit: usize,
) -> Result<Page, PgFeedError> {
    let rows = tx
        .query(
            &format!(
                "SELECT path, chunks FROM {}.files WHERE repo = $1 AND git_ref = $2 AND path > $3
                 ORDER BY path LIMIT $4",
                names.quoted
            ),
            &[
                &key.repo,
                &key.git_ref,
                &after,
                &signed(limit as u64 + 1, "limit")?,
            ],
        )
        .await?;
    let more = rows.len() > limit;
    let mut entries = Vec::with_capacity(limit);
    for row in rows.iter().take(limit) {
        let chunks: Vec<ChunkRecord> =
            serde_json::from_str(row.get(1)).map_err(damaged("file's chunks"))?;
        entries.push(plan::snapshot_entry(key, record, base, row.get(0), chunks));
    }
    Ok(plan::snapshot_page(entries, base, more))
}

async fn live(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    since: u64,
    limit: usize,
) -> Result<Page, PgFeedError> {
    let rows = tx
        .query(
            &format!(
                "SELECT body FROM {}.entries WHERE repo = $1 AND git_ref = $2 AND cursor > $3
                 ORDER BY cursor LIMIT $4",
                names.quoted
            ),
            &[
                &key.repo,
                &key.git_ref,
                &signed(since, "cursor")?,
                &signed(limit as u64, "limit")?,
            ],
        )
        .await?;
    let entries = rows
        .iter()
        .map(|row| serde_json::from_str::<Entry>(row.get(0)).map_err(damaged("entry")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plan::live_page(entries, since))
}

/// The cursor of the last part of the newest retained entry of `key` that indexed `commit`.
pub(crate) async fn cursor_after_commit(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    commit: &str,
) -> Result<Option<String>, PgFeedError> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT cursor FROM {}.entries
                 WHERE repo = $1 AND git_ref = $2 AND last_part AND commit_id = $3
                 ORDER BY cursor DESC LIMIT 1",
                names.quoted
            ),
            &[&key.repo, &key.git_ref, &commit],
        )
        .await?;
    Ok(row.map(|row| row.get::<_, i64>(0).to_string()))
}

/// Every ref with its record, in (repo, ref) byte order.
pub(crate) async fn refs(
    tx: &Transaction<'_>,
    names: &Names,
) -> Result<Vec<(RefKey, RefRecord)>, PgFeedError> {
    let rows = tx
        .query(
            &format!(
                "SELECT repo, git_ref, record FROM {}.refs ORDER BY repo, git_ref",
                names.quoted
            ),
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let record = serde_json::from_str(row.get(2)).map_err(damaged("ref record"))?;
            Ok((
                RefKey::new(row.get::<_, String>(0), row.get::<_, String>(1)),
                record,
            ))
        })
        .collect()
}

/// The current chunks of `path` of `key`.
pub(crate) async fn file_chunks(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    path: &str,
) -> Result<Vec<ChunkRecord>, PgFeedError> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT chunks FROM {}.files WHERE repo = $1 AND git_ref = $2 AND path = $3",
                names.quoted
            ),
            &[&key.repo, &key.git_ref, &path],
        )
        .await?;
    row.map_or(Ok(Vec::new()), |row| {
        serde_json::from_str(row.get(0)).map_err(damaged("file's chunks"))
    })
}

/// Paths of `key` starting with `prefix`, in byte order, at most `limit`.
pub(crate) async fn paths(
    tx: &Transaction<'_>,
    names: &Names,
    key: &RefKey,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>, PgFeedError> {
    let rows = tx
        .query(
            &format!(
                "SELECT path FROM {}.files
                 WHERE repo = $1 AND git_ref = $2 AND path >= $3 AND starts_with(path, $3)
                 ORDER BY path LIMIT $4",
                names.quoted
            ),
            &[
                &key.repo,
                &key.git_ref,
                &prefix,
                &signed(limit as u64, "limit")?,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
