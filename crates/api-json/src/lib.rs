//! The JSON shapes of the gateway's HTTP API (docs/API.md), built from the library crates'
//! own types: jobs and job counts ([`JobJson`], [`CountsJson`]), delivery log entries
//! ([`DeliveryJson`]), search hits ([`HitJson`]) and a repo's settings ([`repo_json`]);
//! `/search`'s query parameters ([`search_query`]); and the line `index --json` prints
//! ([`local_run_json`]). The library crates carry no serialization of their own; what the API
//! shows is decided here, once, for the HTTP handlers, the MCP tools and the CLI's `--json`
//! output alike.
//!
//! Fields are declared in alphabetical order where the answers have always had it
//! (serde_json's map keeps its keys sorted), so a struct serialized directly and one passed
//! through a `Value` give the same bytes.
//!
//! ```
//! let counts = jobstore::StateCounts { queued: 2, ..Default::default() };
//! let text = serde_json::to_string(&api_json::CountsJson::from(&counts)).unwrap();
//! assert_eq!(
//!     text,
//!     r#"{"cancelled":0,"failed":0,"queued":2,"running":0,"succeeded":0,"superseded":0}"#
//! );
//! ```

#![deny(missing_docs)]

mod deliveries;
mod hits;
mod jobs;
mod repos;
mod runs;
mod search_params;

pub use deliveries::{DeliveryJson, DeliveryPageJson};
pub use hits::{ChunkJson, HitJson, MatchJson, hits_json};
pub use jobs::{CountsJson, JobJson, ProgressJson, job_json};
pub use repos::{discovered_repo_json, org_json, repo_json};
pub use runs::local_run_json;
pub use search_params::search_query;
