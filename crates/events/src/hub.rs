//! The hub: numbering, the replay buffer, and fan-out to subscribers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

/// How many of the newest events are kept for clients that reconnect.
pub const BUFFER: usize = 1024;

/// How far a subscriber may fall behind before it is reset.
pub const QUEUE: usize = 256;

/// How many ended jobs may wait for their `repo` event before the oldest are dropped.
const ENDED_QUEUE: usize = 1024;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A job changed: its JSON as `GET /webhooks/jobs/{id}` answers.
    Job,
    /// A webhook delivery was recorded: its delivery log entry.
    Delivery,
    /// A job of a repo ended: the repo's entry of `GET /repos`.
    Repo,
    /// The client missed events: it should reload its lists.
    Reset,
}

impl Kind {
    /// The SSE `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Delivery => "delivery",
            Kind::Repo => "repo",
            Kind::Reset => "reset",
        }
    }
}

/// One numbered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increasing per process, from 1.
    pub id: u64,
    /// What it is about.
    pub kind: Kind,
    /// One line of JSON.
    pub data: Arc<str>,
}

impl Event {
    /// The event as Server-Sent Events text: `id`, `event`, `data` and a blank line.
    pub fn to_sse(&self) -> String {
        format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.id,
            self.kind.as_str(),
            self.data
        )
    }

    /// A `reset` that carries `id`, so a client that reconnects after it resumes from there.
    fn reset(id: u64) -> Arc<Event> {
        Arc::new(Event {
            id,
            kind: Kind::Reset,
            data: Arc::from("{}"),
        })
    }
}

#[derive(Debug)]
struct Recent {
    /// The id the next event gets.
    next_id: u64,
    events: VecDeque<Arc<Event>>,
}

/// Numbers events, keeps the newest [`BUFFER`] and sends each to every subscriber.
#[derive(Debug)]
pub struct Hub {
    recent: Mutex<Recent>,
    sender: broadcast::Sender<Arc<Event>>,
    ended: mpsc::Sender<String>,
    ended_rx: Mutex<Option<mpsc::Receiver<String>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// A hub with no event yet; the first gets id 1.
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(QUEUE);
        let (ended, ended_rx) = mpsc::channel(ENDED_QUEUE);
        Hub {
            recent: Mutex::new(Recent {
                next_id: 1,
                events: VecDeque::with_capacity(BUFFER),
            }),
            sender,
            ended,
            ended_rx: Mutex::new(Some(ended_rx)),
        }
    }

    /// Publishes `data` as an event of `kind`; returns its id. Never waits for a subscriber.
    pub fn publish<T: Serialize + ?Sized>(&self, kind: Kind, data: &T) -> u64 {
        let data = match serde_json::to_string(data) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(%error, kind = kind.as_str(), "event not serializable; dropped");
                return 0;
            }
        };
        let mut recent = self.lock();
        let event = Arc::new(Event {
            id: recent.next_id,
            kind,
            data: Arc::from(data),
        });
        recent.next_id += 1;
        if recent.events.len() == BUFFER {
            recent.events.pop_front();
        }
        recent.events.push_back(event.clone());
        // Sent under the lock, so a subscription sees each event either in its backlog or
        // live, never both and never neither. No subscriber is not an error.
        let _ = self.sender.send(event.clone());
        event.id
    }

    /// Publishes a `delivery` event: one delivery log entry.
    pub fn publish_delivery<T: Serialize + ?Sized>(&self, entry: &T) -> u64 {
        self.publish(Kind::Delivery, entry)
    }

    /// The id of the newest event (0 before the first).
    pub fn newest_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// How many subscriptions are open.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// A subscription to every event after `last_id` (`None`: only events from now on). The
    /// buffered events after `last_id` come first, from [`Subscription::backlog`]; a
    /// `last_id` older than the buffer, or newer than any event of this process, gives a
    /// `reset` there instead.
    pub fn subscribe(&self, last_id: Option<u64>) -> Subscription {
        let recent = self.lock();
        let receiver = self.sender.subscribe();
        let newest = recent.next_id - 1;
        let oldest_kept = recent.events.front().map_or(recent.next_id, |e| e.id);
        let backlog = match last_id {
            None => Vec::new(),
            Some(last) if last > newest || last.saturating_add(1) < oldest_kept => {
                vec![Event::reset(newest)]
            }
            Some(last) => recent
                .events
                .iter()
                .filter(|e| e.id > last)
                .cloned()
                .collect(),
        };
        Subscription {
            backlog,
            receiver,
            pending: None,
        }
    }

    /// Records that a job of `repo` ended, for [`Hub::ended_repos`]'s follower; dropped if
    /// the follower is that far behind.
    pub fn job_ended(&self, repo: &str) {
        if self.ended.try_send(repo.to_string()).is_err() {
            tracing::debug!(repo, "repo event dropped: the follower is behind");
        }
    }

    /// The repos whose jobs ended, in order: whoever builds `repo` events follows this.
    /// `None` after the first call.
    pub fn ended_repos(&self) -> Option<mpsc::Receiver<String>> {
        self.ended_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One client's view of the hub.
#[derive(Debug)]
pub struct Subscription {
    backlog: Vec<Arc<Event>>,
    receiver: broadcast::Receiver<Arc<Event>>,
    pending: Option<Arc<Event>>,
}

impl Subscription {
    /// What to send first: the replayed events, or a `reset`. Empty after the first call.
    pub fn backlog(&mut self) -> Vec<Arc<Event>> {
        std::mem::take(&mut self.backlog)
    }

    /// The next live event; `None` once the hub is gone. A subscriber that fell more than
    /// [`QUEUE`] events behind gets a `reset` (with the id before the next event it gets),
    /// then continues.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        if let Some(event) = self.pending.take() {
            return Some(event);
        }
        let mut lagged = false;
        loop {
            match self.receiver.recv().await {
                Ok(event) if lagged => {
                    let reset = Event::reset(event.id - 1);
                    self.pending = Some(event);
                    return Some(reset);
                }
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(_)) => lagged = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.id).collect()
    }

    #[tokio::test]
    async fn resume_replays_only_later_events() {
        let hub = Hub::new();
        for n in 0..5 {
            hub.publish(Kind::Job, &json!({ "n": n }));
        }
        assert_eq!(ids(&hub.subscribe(Some(3)).backlog()), [4, 5]);
        assert_eq!(ids(&hub.subscribe(Some(5)).backlog()), Vec::<u64>::new());
        assert!(hub.subscribe(None).backlog().is_empty());
        let mut live = hub.subscribe(Some(5));
        hub.publish(Kind::Repo, &json!({}));
        let event = live.next().await.unwrap();
        assert_eq!((event.id, event.kind), (6, Kind::Repo));
    }

    #[tokio::test]
    async fn a_too_old_or_foreign_id_resets() {
        let hub = Hub::new();
        for _ in 0..BUFFER + 10 {
            hub.publish(Kind::Job, &json!({}));
        }
        let newest = hub.newest_id();
        let backlog = hub.subscribe(Some(3)).backlog();
        assert_eq!(backlog.len(), 1);
        assert_eq!((backlog[0].kind, backlog[0].id), (Kind::Reset, newest));
        assert_eq!(&*backlog[0].data, "{}");
        let oldest_kept = newest - BUFFER as u64 + 1;
        assert_eq!(hub.subscribe(Some(oldest_kept - 1)).backlog().len(), BUFFER);
        let ahead = hub.subscribe(Some(newest + 100)).backlog();
        assert_eq!(ahead[0].kind, Kind::Reset, "an id from another process");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_reset_and_continues() {
        let hub = Hub::new();
        let mut slow = hub.subscribe(None);
        for _ in 0..QUEUE + 5 {
            hub.publish(Kind::Job, &json!({}));
        }
        let reset = slow.next().await.unwrap();
        assert_eq!(reset.kind, Kind::Reset);
        let next = slow.next().await.unwrap();
        assert_eq!(next.kind, Kind::Job);
        assert_eq!(next.id, reset.id + 1);
    }

    #[test]
    fn ended_repos_are_taken_once() {
        let hub = Hub::new();
        hub.job_ended("demo");
        let mut rx = hub.ended_repos().unwrap();
        assert_eq!(rx.try_recv().unwrap(), "demo");
        assert!(hub.ended_repos().is_none());
    }
}
