//! Shared helpers for the criterion benches in this folder (`cargo bench -p gateway-benches`).
//!
//! The benches themselves are declared as `[[bench]]` targets in `benches/Cargo.toml`; each
//! one measures a single crate of the workspace, with a peer measured in the same run where
//! there is one (raw HMAC beside verification, a plain sled loop beside the job store).
