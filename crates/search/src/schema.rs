//! The tantivy schema: one document per chunk.

use tantivy::TantivyDocument;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};

use crate::grams::GRAM_TOKENIZER;
use crate::tokenizer::CODE_TOKENIZER;

/// Separates the parts of composite keys; it cannot occur in repo names, refs or paths
/// that git produces.
pub(crate) const KEY_SEPARATOR: char = '\u{0}';

/// The fields of the schema, resolved once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// Repository name, exact (filter).
    pub repo: Field,
    /// Full ref name, exact (filter).
    pub git_ref: Field,
    /// `repo \0 ref`: what `drop_ref` deletes by.
    pub ref_key: Field,
    /// `repo \0 ref \0 path`: what replacing or deleting a file deletes by.
    pub file_key: Field,
    /// Commit the file was indexed at (stored only).
    pub commit: Field,
    /// Path, exact (prefix and glob filters walk its term dictionary).
    pub path: Field,
    /// Path tokenized as code, for the path boost.
    pub path_text: Field,
    /// Chunk text, tokenized as code, stored for snippets.
    pub text: Field,
    /// Declared names, tokenized as code, for the declaration boost.
    pub symbols: Field,
    /// First line (stored).
    pub start_line: Field,
    /// Last line (stored).
    pub end_line: Field,
    /// Chunk text as its case-folded trigrams (doc ids only), the candidates of literal and
    /// regex queries. The sink writes the chunk text here as it does to `text`.
    pub grams: Field,
    /// Content hash of the chunk (stored only: nothing looks chunks up by id, and indexing
    /// one unique term per chunk made the term dictionary the largest cost of indexing).
    pub chunk_id: Field,
}

/// Builds the schema and resolves its fields.
pub(crate) fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let code = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        repo: b.add_text_field("repo", STRING | STORED),
        git_ref: b.add_text_field("ref", STRING | STORED),
        ref_key: b.add_text_field("ref_key", STRING),
        file_key: b.add_text_field("file_key", STRING),
        commit: b.add_text_field("commit", STORED),
        path: b.add_text_field("path", STRING | STORED),
        path_text: b.add_text_field("path_text", code(false)),
        text: b.add_text_field("text", code(true)),
        symbols: b.add_text_field("symbols", code(false)),
        start_line: b.add_u64_field("start_line", NumericOptions::default().set_stored()),
        end_line: b.add_u64_field("end_line", NumericOptions::default().set_stored()),
        chunk_id: b.add_text_field("chunk_id", STORED),
        grams: b.add_text_field(
            "grams",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(GRAM_TOKENIZER)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
    };
    (b.build(), fields)
}

/// `repo \0 ref`.
pub(crate) fn ref_key(repo: &str, git_ref: &str) -> String {
    format!("{repo}{KEY_SEPARATOR}{git_ref}")
}

/// `repo \0 ref \0 path`.
pub(crate) fn file_key(repo: &str, git_ref: &str, path: &str) -> String {
    format!("{repo}{KEY_SEPARATOR}{git_ref}{KEY_SEPARATOR}{path}")
}

/// The text stored in `field` of a document read back from the index ("" if absent).
pub(crate) fn stored_text(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A line number stored in `field` of a document read back from the index (0 if absent).
pub(crate) fn stored_line(doc: &TantivyDocument, field: Field) -> u32 {
    let n = doc
        .get_first(field)
        .and_then(|v| v.as_u64())
        .unwrap_or_default();
    u32::try_from(n).unwrap_or(u32::MAX)
}
