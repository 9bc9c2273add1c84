//! The gateway's live events, as the dashboard's `GET /webhooks/events` streams them.
//!
//! [`Hub`] numbers every event (`id`, increasing per process), keeps the newest
//! [`BUFFER`] for clients that reconnect with `Last-Event-ID`, and fans events out to
//! subscribers without ever waiting for one: a subscriber that falls more than [`QUEUE`]
//! events behind is told to `reset` (reload its lists) and continues from there.
//! [`EventedJobStore`] wraps any [`jobstore::JobStore`] and publishes a `job` event after
//! every call that changes a job (progress at most twice a second per job), so workers and
//! handlers publish without knowing it. `delivery` events come from the webhook handler
//! through [`Hub::publish_delivery`]; `repo` events from whoever follows
//! [`Hub::ended_repos`].
//!
//! ```
//! use events::{Hub, Kind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let hub = Hub::new();
//! hub.publish(Kind::Job, &serde_json::json!({"id": "1", "state": "queued"}));
//! let mut late = hub.subscribe(Some(0)); // resumes after id 0: replays event 1
//! assert_eq!(late.backlog()[0].id, 1);
//! hub.publish_delivery(&serde_json::json!({"id": "d1"}));
//! let event = late.next().await.unwrap();
//! assert_eq!(event.to_sse(), "id: 2\nevent: delivery\ndata: {\"id\":\"d1\"}\n\n");
//! # }
//! ```

#![deny(missing_docs)]

mod hub;
mod store;

pub use hub::{BUFFER, Event, Hub, Kind, QUEUE, Subscription};
pub use store::EventedJobStore;
