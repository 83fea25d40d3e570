//! Collects `deckcast` vendor events from obs-websocket in the background.
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use futures_util::StreamExt;
use obws::events::Event;
use serde_json::Value;

/// One vendor event.
#[derive(Debug, Clone)]
pub struct VendorEvent {
    /// `TargetStateChanged`, `TargetHealth`, ...
    pub kind: String,
    /// Event data.
    pub data: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A background collector; stops when dropped.
#[derive(Debug)]
pub struct Events {
    seen: Arc<Mutex<Vec<VendorEvent>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Events {
    /// Starts collecting events of vendor `deckcast` from `client`.
    pub fn collect(client: &obws::Client) -> Result<Events> {
        let mut stream = Box::pin(client.events()?);
        let seen: Arc<Mutex<Vec<VendorEvent>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Some(ev) = stream.next().await {
                if let Event::VendorEvent {
                    vendor_name,
                    event_type,
                    event_data,
                } = ev
                    && vendor_name == deckcast_protocol::VENDOR_NAME
                {
                    sink.lock().unwrap().push(VendorEvent {
                        kind: event_type,
                        data: event_data,
                        at: Instant::now(),
                    });
                }
            }
        });
        Ok(Events { seen, task })
    }

    /// Everything collected so far.
    pub fn all(&self) -> Vec<VendorEvent> {
        self.seen.lock().unwrap().clone()
    }

    /// `TargetStateChanged` states of target `id`, in order.
    pub fn states(&self, id: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|e| e.kind == "TargetStateChanged" && e.data["id"] == id)
            .map(|e| e.data["state"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// `TargetStateChanged` events of target `id` with their arrival times.
    pub fn state_changes(&self, id: &str) -> Vec<(String, Instant)> {
        self.all()
            .into_iter()
            .filter(|e| e.kind == "TargetStateChanged" && e.data["id"] == id)
            .map(|e| {
                (
                    e.data["state"].as_str().unwrap_or_default().to_owned(),
                    e.at,
                )
            })
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}
